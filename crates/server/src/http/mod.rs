//! OpenAI- and Anthropic-compatible HTTP APIs beside gRPC, on the same listener and TLS.
//!
//! [`SplitLayer`] sits outermost in the tonic server: a request whose `content-type` is
//! `application/grpc*` goes on to the gRPC services (behind the auth layer), anything else to
//! [`router`]. Both reach the same [`Authenticator`], [`Limiter`] and ledger, and the same
//! graceful drain (the tonic server owns every connection).
//!
//! Files: `router` is here; `auth.rs` (who is calling), `errors.rs` (each API's error shape),
//! `call.rs` (the shared request path: resolve, admit, call, settle, stream), `openai.rs` and
//! `anthropic.rs` (format specifics), `count_tokens.rs` (token counting), `translate.rs`
//! (across formats), `models.rs`.
mod anthropic;
mod auth;
mod call;
mod count_tokens;
mod errors;
mod models;
mod openai;
mod translate;

pub use errors::{ApiError, Kind};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::HeaderValue;

use crate::auth::Authenticator;
use crate::limits::Limiter;
use crate::proxy::StateCell;

/// Which HTTP API a request came through (the `api` of metrics and the ledger).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

impl Api {
    /// The method name metrics and the limiter see.
    pub fn method(self) -> &'static str {
        match self {
            Api::OpenAi => "openai.chat.completions",
            Api::Anthropic => "anthropic.messages",
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct HttpApi {
    cell: Arc<StateCell>,
    limiter: Arc<Limiter>,
    auth: Option<Arc<Authenticator>>,
    max_body: usize,
    draining: AtomicBool,
}

impl HttpApi {
    /// The APIs over the server's state, limiter and authenticator; bodies over `max_body`
    /// bytes are refused.
    pub fn new(
        cell: Arc<StateCell>,
        limiter: Arc<Limiter>,
        auth: Option<Arc<Authenticator>>,
        max_body: usize,
    ) -> Arc<Self> {
        Arc::new(HttpApi {
            cell,
            limiter,
            auth,
            max_body,
            draining: AtomicBool::new(false),
        })
    }

    /// From now on `/health` answers 503 (the server is draining).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}

/// The HTTP routes.
pub fn router(api: Arc<HttpApi>) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/messages", post(anthropic::messages))
        .route(
            "/v1/messages/count_tokens",
            post(count_tokens::count_tokens),
        )
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::one))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(api)
}

async fn health(State(st): State<Arc<HttpApi>>) -> Response {
    if st.draining.load(Ordering::Relaxed) {
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "draining"})),
        )
            .into_response()
    } else {
        axum::Json(serde_json::json!({"status": "ok"})).into_response()
    }
}

/// The API a request speaks, for routes both share: Anthropic's when it sends
/// `anthropic-version` (as its SDKs always do).
pub(crate) fn api_of(headers: &http::HeaderMap) -> Api {
    if headers.contains_key("anthropic-version") {
        Api::Anthropic
    } else {
        Api::OpenAi
    }
}

/// The API a request to `path` speaks: by its route where the route is one API's own,
/// else by its headers ([`api_of`]); what answers it outside the router (the shed layer) uses
/// this to reply in the caller's shape.
pub fn api_for(path: &str, headers: &http::HeaderMap) -> Api {
    if path.starts_with("/v1/messages") {
        Api::Anthropic
    } else if path.starts_with("/v1/chat/completions") {
        Api::OpenAi
    } else {
        api_of(headers)
    }
}

async fn not_found(req: Request) -> Response {
    let api = api_for(req.uri().path(), req.headers());
    ApiError::new(
        Kind::NotFound,
        format!(
            "no route {} {}: this server serves POST /v1/chat/completions, POST /v1/messages, \
             POST /v1/messages/count_tokens, GET /v1/models and GET /health over HTTP, and gRPC",
            req.method(),
            req.uri().path()
        ),
    )
    .response(api)
}

/// Sends gRPC (`content-type: application/grpc*`) to the inner service, everything else to the
/// HTTP router; adds the HSTS header to HTTP answers (the auth layer does it for gRPC).
#[derive(Clone, Debug)]
pub struct SplitLayer {
    http: Option<axum::Router>,
    hsts: Option<HeaderValue>,
}

impl SplitLayer {
    /// `http: None` sends everything to gRPC (the HTTP APIs are off).
    pub fn new(http: Option<axum::Router>, hsts: Option<HeaderValue>) -> Self {
        SplitLayer { http, hsts }
    }
}

impl<S> tower::Layer<S> for SplitLayer {
    type Service = Split<S>;

    fn layer(&self, grpc: S) -> Split<S> {
        Split {
            grpc,
            http: self.http.clone(),
            hsts: self.hsts.clone(),
        }
    }
}

/// The service [`SplitLayer`] makes.
#[derive(Clone, Debug)]
pub struct Split<S> {
    grpc: S,
    http: Option<axum::Router>,
    hsts: Option<HeaderValue>,
}

/// Whether a request is gRPC (by content type, as gRPC clients always send it).
fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower::Service<http::Request<tonic::body::Body>> for Split<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.grpc.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        match &self.http {
            Some(router) if !is_grpc(&req) => {
                let mut router = router.clone();
                let hsts = self.hsts.clone();
                Box::pin(async move {
                    let resp = match tower::Service::call(&mut router, req).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    let mut resp = resp.map(tonic::body::Body::new);
                    if let Some(v) = hsts {
                        resp.headers_mut()
                            .insert(http::header::STRICT_TRANSPORT_SECURITY, v);
                    }
                    Ok(resp)
                })
            }
            _ => {
                let clone = self.grpc.clone();
                let mut inner = std::mem::replace(&mut self.grpc, clone);
                Box::pin(inner.call(req))
            }
        }
    }
}
