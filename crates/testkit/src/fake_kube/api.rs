//! HTTP handling of the fake API: discovery, CRUD, merge and JSON patches, scale and
//! server-side tables.
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::store::Resource;
use super::table::table;
use super::Shared;

fn reply(status: u16, body: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    reply(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code}),
    )
}

fn resources(group: &str) -> Value {
    let r = |name: &str, kind: &str, namespaced: bool, verbs: &[&str], short: &[&str]| {
        json!({"name": name, "singularName": kind.to_ascii_lowercase(), "namespaced": namespaced, "kind": kind,
               "verbs": verbs, "shortNames": short})
    };
    let all = [
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];
    if group == "apps" {
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1", "resources": [
            r("deployments", "Deployment", true, &all, &["deploy"]),
            r("replicasets", "ReplicaSet", true, &all, &["rs"]),
            {"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling",
             "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}]})
    } else {
        json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
            r("namespaces", "Namespace", false, &all, &["ns"]),
            r("pods", "Pod", true, &all, &["po"]),
            r("services", "Service", true, &all, &["svc"]),
            r("events", "Event", true, &["get", "list", "watch"], &["ev"]),
            r("secrets", "Secret", true, &all, &[])]})
    }
}

/// Just enough OpenAPI v3 for kubectl to see that the server validates fields itself
/// (`fieldValidation` on each kind's PATCH), so it skips client-side schema validation.
fn openapi_v3(group: &str) -> Value {
    let kinds: &[(&str, &str)] = if group == "apps" {
        &[("deployments", "Deployment"), ("replicasets", "ReplicaSet")]
    } else {
        &[
            ("namespaces", "Namespace"),
            ("pods", "Pod"),
            ("services", "Service"),
        ]
    };
    let prefix = if group.is_empty() {
        "/api/v1".to_owned()
    } else {
        format!("/apis/{group}/v1")
    };
    let mut paths = serde_json::Map::new();
    for (plural, kind) in kinds {
        let path = if *plural == "namespaces" {
            format!("{prefix}/namespaces/{{name}}")
        } else {
            format!("{prefix}/namespaces/{{namespace}}/{plural}/{{name}}")
        };
        let op = json!({"x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": kind},
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}}});
        paths.insert(path, json!({"patch": op.clone(), "post": op}));
    }
    json!({"openapi": "3.0.0", "info": {"title": "fake", "version": "v1"}, "paths": paths, "components": {"schemas": {}}})
}

fn query_param(uri: &Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether an object matches `fieldSelector=metadata.name=X` and `labelSelector=k=v,...`.
fn selected(obj: &Value, uri: &Uri) -> bool {
    if let Some(fs) = query_param(uri, "fieldSelector") {
        for clause in fs.split(',').filter(|c| !c.is_empty()) {
            if let Some(want) = clause.strip_prefix("metadata.name=") {
                if obj.pointer("/metadata/name").and_then(Value::as_str)
                    != Some(want.trim_start_matches('='))
                {
                    return false;
                }
            }
        }
    }
    if let Some(ls) = query_param(uri, "labelSelector") {
        for clause in ls.split(',').filter(|c| !c.is_empty()) {
            let (k, v) = clause.split_once('=').unwrap_or((clause, ""));
            let v = v.trim_start_matches('=');
            let have = obj
                .pointer(&format!("/metadata/labels/{k}"))
                .and_then(Value::as_str);
            if have != Some(v) {
                return false;
            }
        }
    }
    true
}

/// `application/json-patch+json` (RFC 6902), as `kubectl rollout undo` and `patch --type=json`
/// send; every other patch type is applied as a merge patch.
fn is_json_patch(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json-patch+json"))
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

/// `GET .../pods/NAME/log`: the pod's log as text; with `follow=true` and a log that stays
/// open, the text and then an open stream, as a running pod's.
fn pod_log(shared: &Shared, ns: &str, name: &str, uri: &Uri) -> Response {
    let exists = match shared.store.lock() {
        Ok(s) => s.get(Resource::Pods, ns, name).is_some(),
        Err(p) => p.into_inner().get(Resource::Pods, ns, name).is_some(),
    };
    if !exists {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    }
    let log = shared.log(ns, name).unwrap_or_default();
    let follow = query_param(uri, "follow").is_some_and(|f| f == "true");
    if follow && log.stay_open {
        use futures::StreamExt;
        let text = axum::body::Bytes::from(log.text);
        let body = futures::stream::once(async move { Ok::<_, std::io::Error>(text) })
            .chain(futures::stream::pending());
        return (
            StatusCode::OK,
            [("content-type", "text/plain")],
            axum::body::Body::from_stream(body),
        )
            .into_response();
    }
    (StatusCode::OK, [("content-type", "text/plain")], log.text).into_response()
}

/// Answers one request.
pub async fn handle(
    shared: axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path: Vec<&str> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (method.as_str(), path.as_slice()) {
        ("GET", ["version"]) => {
            return reply(
                200,
                json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake", "platform": "linux/amd64"}),
            )
        }
        ("GET", ["api"]) => {
            return reply(
                200,
                json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            )
        }
        ("GET", ["apis"]) => {
            return reply(
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
             "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}),
            )
        }
        ("GET", ["openapi", "v3"]) => {
            return reply(
                200,
                json!({"paths": {
            "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=fake1"},
            "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=fake1"}}}),
            )
        }
        ("GET", ["openapi", "v3", "api", "v1"]) => return reply(200, openapi_v3("")),
        ("GET", ["openapi", "v3", "apis", "apps", "v1"]) => return reply(200, openapi_v3("apps")),
        ("GET", ["api", "v1"]) => return reply(200, resources("")),
        ("GET", ["apis", "apps", "v1"]) => return reply(200, resources("apps")),
        _ => {}
    }
    let (group, rest) = match path.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", "apps", "v1", rest @ ..] => ("apps", rest),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    };
    // (resource, namespace, name, subresource)
    let (plural, ns, name, sub) = match rest {
        ["namespaces", ns, plural, name, sub] => (*plural, Some(*ns), Some(*name), Some(*sub)),
        ["namespaces", ns, plural, name] => (*plural, Some(*ns), Some(*name), None),
        ["namespaces", ns, plural] => (*plural, Some(*ns), None, None),
        ["namespaces", name] => ("namespaces", None, Some(*name), None),
        [plural] => (*plural, None, None, None),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    };
    let Some(resource) = Resource::from_path(group, plural) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let watch = method == Method::GET
        && name.is_none()
        && query_param(&uri, "watch").is_some_and(|w| w == "true" || w == "1");
    if sub == Some("portforward") {
        // The stream upgrade is never answered: kubectl port-forward keeps waiting, like a
        // forward with no traffic, until it is stopped.
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        return status(404, "NotFound", "port-forward is not supported");
    }
    if sub == Some("log") && resource == Resource::Pods && method == Method::GET {
        return pod_log(&shared, ns.unwrap_or("default"), name.unwrap_or(""), &uri);
    }
    if watch {
        // No events ever happen: the watch stays open a moment (so `kubectl wait` and
        // `rollout status` don't spin), then ends empty.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        return (StatusCode::OK, [("content-type", "application/json")], "").into_response();
    }
    let mut guard = match shared.store.lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    // `dryRun=All` (kubectl diff, --dry-run=server): computed on a copy, nothing is kept.
    let dry_run = query_param(&uri, "dryRun").is_some_and(|d| d == "All");
    let mut copy = dry_run.then(|| guard.clone());
    let store = match copy.as_mut() {
        Some(c) => c,
        None => &mut *guard,
    };
    if method != Method::GET && !dry_run {
        store.mutations.push(format!("{method} {}", uri.path()));
    }
    let ns_key = if resource.namespaced() {
        ns.unwrap_or("")
    } else {
        ""
    };
    let parsed: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let not_found = |n: &str| {
        status(
            404,
            "NotFound",
            &format!("{} \"{n}\" not found", resource.plural()),
        )
    };
    match (method.as_str(), name, sub) {
        ("GET", None, None) => {
            let items: Vec<Value> = store
                .list(resource, ns)
                .into_iter()
                .filter(|o| selected(o, &uri))
                .collect();
            if wants_table(&headers) {
                return reply(200, table(resource, &items, &store.resource_version()));
            }
            reply(
                200,
                json!({"kind": format!("{}List", resource.kind()), "apiVersion": resource.api_version(),
                "metadata": {"resourceVersion": store.resource_version()}, "items": items}),
            )
        }
        ("GET", Some(n), None) => match store.get(resource, ns_key, n) {
            Some(o) if wants_table(&headers) => {
                reply(200, table(resource, &[o], &store.resource_version()))
            }
            Some(o) => reply(200, o),
            None => not_found(n),
        },
        ("POST", None, None) => match parsed {
            None => status(400, "BadRequest", "the request body is not JSON"),
            Some(obj) => match store.create(resource, ns.unwrap_or(""), obj) {
                Ok(o) => reply(201, o),
                Err((code, reason, msg)) => status(code, reason, &msg),
            },
        },
        ("DELETE", Some(n), None) => match store.delete(resource, ns_key, n) {
            Some(o) => reply(200, o),
            None => not_found(n),
        },
        ("PATCH", Some(n), None) if is_json_patch(&headers) => match parsed {
            None => status(400, "BadRequest", "the request body is not JSON"),
            Some(ops) => match store.json_patch(resource, ns_key, n, &ops) {
                Ok(Some(o)) => reply(200, o),
                Ok(None) => not_found(n),
                Err((code, reason, msg)) => status(code, reason, &msg),
            },
        },
        ("PATCH", Some(n), None) => match parsed.and_then(|p| store.patch(resource, ns_key, n, &p))
        {
            Some(o) => reply(200, o),
            None => not_found(n),
        },
        ("PUT", Some(n), None) => {
            match parsed.and_then(|p| store.replace(resource, ns_key, n, p)) {
                Some(o) => reply(200, o),
                None => not_found(n),
            }
        }
        (m, Some(n), Some("scale")) if resource == Resource::Deployments => {
            let replicas = match (m, parsed) {
                ("GET", _) => None,
                (_, Some(p)) => p.pointer("/spec/replicas").and_then(Value::as_i64),
                _ => return status(400, "BadRequest", "missing body"),
            };
            let obj = match replicas {
                Some(r) => store.patch(resource, ns_key, n, &json!({"spec": {"replicas": r}})),
                None => store.get(resource, ns_key, n),
            };
            match obj {
                Some(o) => reply(200, scale_of(&o)),
                None => not_found(n),
            }
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the fake API does not support this request",
        ),
    }
}

fn scale_of(deploy: &Value) -> Value {
    let replicas = deploy
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": deploy.pointer("/metadata/name"), "namespace": deploy.pointer("/metadata/namespace"),
                     "resourceVersion": deploy.pointer("/metadata/resourceVersion")},
        "spec": {"replicas": replicas}, "status": {"replicas": replicas}})
}
