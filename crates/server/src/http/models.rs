//! `GET /v1/models` and `GET /v1/models/{id}`: OpenAI's list shape, or Anthropic's when the
//! request carries `anthropic-version`; every model and alias the server offers.
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use vibectl_llm::ModelSpec;

use super::errors::{ApiError, Kind};
use super::{api_of, auth, Api, HttpApi};

/// Names a caller may use, each with its model: ids, then aliases.
fn entries(models: &[Arc<ModelSpec>]) -> Vec<(&str, &ModelSpec)> {
    let ids = models.iter().map(|m| (m.id.as_str(), m.as_ref()));
    let aliases = models
        .iter()
        .flat_map(|m| m.aliases.iter().map(move |a| (a.as_str(), m.as_ref())));
    ids.chain(aliases).collect()
}

fn object(api: Api, name: &str, m: &ModelSpec) -> Value {
    match api {
        Api::OpenAi => json!({"id": name, "object": "model", "created": 0, "owned_by": m.provider}),
        Api::Anthropic => json!({"type": "model", "id": name, "display_name": m.display_name,
            "created_at": "1970-01-01T00:00:00Z"}),
    }
}

/// The caller's subject name.
fn check(st: &HttpApi, req: &Request) -> Result<String, ApiError> {
    let peer = crate::auth::peer_of(req.extensions());
    auth::subject(st.auth.as_deref(), req.headers(), peer, req.uri().path())
        .map(|s| s.name().to_owned())
}

/// Handles `GET /v1/models`.
pub(super) async fn list(State(st): State<Arc<HttpApi>>, req: Request) -> Response {
    let api = api_of(req.headers());
    let subject = match check(&st, &req) {
        Ok(s) => s,
        Err(e) => return e.response(api),
    };
    let state = st.cell.get();
    let data: Vec<Value> = entries(state.catalog.models())
        .into_iter()
        .filter(|(_, m)| st.limiter.allows(&subject, m))
        .map(|(n, m)| object(api, n, m))
        .collect();
    let body = match api {
        Api::OpenAi => json!({"object": "list", "data": data}),
        Api::Anthropic => json!({
            "first_id": data.first().map(|d| d["id"].clone()),
            "last_id": data.last().map(|d| d["id"].clone()),
            "has_more": false,
            "data": data,
        }),
    };
    axum::Json(body).into_response()
}

/// Handles `GET /v1/models/{id}`.
pub(super) async fn one(
    State(st): State<Arc<HttpApi>>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let api = api_of(req.headers());
    let subject = match check(&st, &req) {
        Ok(s) => s,
        Err(e) => return e.response(api),
    };
    let state = st.cell.get();
    match state.resolve(Some(&id)) {
        Ok(m) if !st.limiter.allows(&subject, &m) => {
            ApiError::new(Kind::Permission, crate::proxy::not_allowed(&subject, &m.id))
                .response(api)
        }
        Ok(m) => axum::Json(object(api, &id, &m)).into_response(),
        Err(e) => ApiError::new(Kind::NotFound, e.message).response(api),
    }
}
