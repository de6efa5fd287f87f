//! `POST /v1/messages`: Anthropic Messages, non-stream and stream.
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;

use super::{call, Api, HttpApi};

/// Handles `POST /v1/messages`.
pub(super) async fn messages(State(st): State<Arc<HttpApi>>, req: Request) -> Response {
    call::serve(st, Api::Anthropic, req).await
}
