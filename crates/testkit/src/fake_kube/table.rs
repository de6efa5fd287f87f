//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for.
use serde_json::{json, Value};

use super::store::Resource;

fn col(name: &str) -> Value {
    json!({"name": name, "type": "string", "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": 0})
}

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "<none>".into(),
        Some(other) => other.to_string(),
    }
}

/// A Table of `items` with the columns kubectl shows for `resource`.
pub fn table(resource: Resource, items: &[Value], resource_version: &str) -> Value {
    let names: &[&str] = match resource {
        Resource::Pods => &["Name", "Ready", "Status", "Restarts", "Age"],
        Resource::Services => &[
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
        ],
        Resource::Deployments => &["Name", "Ready", "Up-to-date", "Available", "Age"],
        Resource::Namespaces => &["Name", "Status", "Age"],
        Resource::Events => &["Last Seen", "Type", "Reason", "Object", "Message"],
        Resource::Secrets => &["Name", "Type", "Data", "Age"],
        Resource::ReplicaSets => &["Name", "Desired", "Current", "Ready", "Age"],
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let p = |ptr: &str| o.pointer(ptr);
            let name = s(p("/metadata/name"));
            let cells: Vec<Value> = match resource {
                Resource::Pods => vec![json!(name), json!("1/1"), json!(s(p("/status/phase"))), json!(0), json!("1m")],
                Resource::Services => {
                    let ports: Vec<String> = p("/spec/ports")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .map(|x| format!("{}/{}", s(x.get("port")), x.get("protocol").and_then(Value::as_str).unwrap_or("TCP")))
                                .collect()
                        })
                        .unwrap_or_default();
                    let ports = if ports.is_empty() { "<none>".to_owned() } else { ports.join(",") };
                    vec![json!(name), json!(s(p("/spec/type"))), json!(s(p("/spec/clusterIP"))), json!("<none>"), json!(ports), json!("1m")]
                }
                Resource::Deployments => {
                    let r = s(p("/spec/replicas"));
                    vec![json!(name), json!(format!("{r}/{r}")), json!(r.parse::<i64>().unwrap_or(0)), json!(r.parse::<i64>().unwrap_or(0)), json!("1m")]
                }
                Resource::Namespaces => vec![json!(name), json!("Active"), json!("1m")],
                Resource::Events => vec![json!(""), json!(""), json!(""), json!(""), json!("")],
                Resource::Secrets => {
                    let data = o.get("data").and_then(Value::as_object).map_or(0, |d| d.len());
                    vec![json!(name), json!(s(p("/type"))), json!(data), json!("1m")]
                }
                Resource::ReplicaSets => {
                    let r = p("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
                    vec![json!(name), json!(r), json!(r), json!(r), json!("1m")]
                }
            };
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": names.iter().map(|n| col(n)).collect::<Vec<_>>(), "rows": rows})
}
