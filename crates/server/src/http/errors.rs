//! Errors of the HTTP APIs, each in its API's own shape and status: OpenAI
//! `{"error":{"message","type","code"}}`, Anthropic `{"type":"error","error":{"type","message"}}`,
//! as a response or, once a stream has started, as the format's own error event.
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::json;
use vibectl_llm::ProviderError;

use super::Api;
use crate::limits::LimitRefusal;
use crate::proxy::CallError;

/// The one message an unauthenticated caller gets, whatever the reason (the audit log has it).
pub const UNAUTHENTICATED: &str = "authentication required: send a valid vibectl-server token \
as `Authorization: Bearer <token>` or `x-api-key: <token>`; the server operator issues them \
with `vibectl-server generate-token <your-name>`";

/// What kind of failure, which fixes the status and each API's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 400: the request is malformed or cannot be served as asked.
    InvalidRequest,
    /// 401: no valid token.
    Authentication,
    /// 403: the token may not use this model.
    Permission,
    /// 404: no such model or route.
    NotFound,
    /// 413: the body is over `http.max_body_bytes`.
    TooLarge,
    /// 429: one of our limits, or the provider's throttling.
    RateLimit,
    /// 502: the provider failed in a way that is not the caller's fault.
    Upstream,
    /// 503 (OpenAI) or 529 (Anthropic): the provider is overloaded.
    Overloaded,
    /// 503: our limits store is down and the server refuses calls meanwhile.
    Unavailable,
    /// 504: the call ran out of time.
    Timeout,
}

/// A failed HTTP API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The kind.
    pub kind: Kind,
    /// One line for people.
    pub message: String,
    /// Seconds for `retry-after`, when a retry can pass later.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::InvalidRequest, message)
    }

    /// The status for `api`.
    pub fn status(&self, api: Api) -> StatusCode {
        match self.kind {
            Kind::InvalidRequest => StatusCode::BAD_REQUEST,
            Kind::Authentication => StatusCode::UNAUTHORIZED,
            Kind::Permission => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::RateLimit => StatusCode::TOO_MANY_REQUESTS,
            Kind::Upstream => StatusCode::BAD_GATEWAY,
            Kind::Overloaded if api == Api::Anthropic => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            Kind::Overloaded | Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The error `type` in `api`'s vocabulary.
    pub fn type_name(&self, api: Api) -> &'static str {
        match (api, self.kind) {
            (_, Kind::InvalidRequest) => "invalid_request_error",
            (_, Kind::Authentication) => "authentication_error",
            (_, Kind::Permission) => "permission_error",
            (_, Kind::NotFound) => "not_found_error",
            (Api::Anthropic, Kind::TooLarge) => "request_too_large",
            (Api::OpenAi, Kind::TooLarge) => "invalid_request_error",
            (_, Kind::RateLimit) => "rate_limit_error",
            (Api::Anthropic, Kind::Overloaded) => "overloaded_error",
            (Api::Anthropic, Kind::Timeout) => "timeout_error",
            (Api::Anthropic, _) => "api_error",
            (Api::OpenAi, _) => "server_error",
        }
    }

    /// OpenAI's machine-readable `code`, where it has one.
    fn openai_code(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Authentication => Some("invalid_api_key"),
            Kind::NotFound => Some("model_not_found"),
            Kind::RateLimit => Some("rate_limit_exceeded"),
            _ => None,
        }
    }

    /// The JSON body for `api`.
    pub fn body(&self, api: Api) -> serde_json::Value {
        match api {
            Api::OpenAi => json!({"error": {
                "message": self.message,
                "type": self.type_name(api),
                "param": null,
                "code": self.openai_code(),
            }}),
            Api::Anthropic => json!({"type": "error", "error": {
                "type": self.type_name(api),
                "message": self.message,
            }}),
        }
    }

    /// The whole response for `api`.
    pub fn response(&self, api: Api) -> Response {
        let mut resp = (self.status(api), axum::Json(self.body(api))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }

    /// The format's error event, for a failure after a stream has started.
    pub fn sse_event(&self, api: Api) -> Bytes {
        let body = self.body(api);
        Bytes::from(match api {
            Api::OpenAi => format!("data: {body}\n\n"),
            Api::Anthropic => format!("event: error\ndata: {body}\n\n"),
        })
    }

    /// A refusal by our limits: 429 with `retry-after`, or 503 while the store is down.
    pub fn from_refusal(r: &LimitRefusal) -> Self {
        let kind = match r {
            LimitRefusal::Limit { .. } => Kind::RateLimit,
            LimitRefusal::StoreDown => Kind::Unavailable,
        };
        ApiError {
            kind,
            message: format!("{r} (limit-type {})", r.limit_type()),
            retry_after: Some(r.retry_after_ms().div_ceil(1000).max(1)),
        }
    }

    /// A provider failure (logged with its detail by [`CallError::from`]).
    pub fn from_provider(e: ProviderError) -> Self {
        let (kind, retry_after) = match &e {
            ProviderError::RateLimited { retry_after, .. } => (
                Kind::RateLimit,
                Some(
                    retry_after
                        .map_or(1, |d| d.as_secs_f64().ceil() as u64)
                        .max(1),
                ),
            ),
            ProviderError::Unavailable {
                status: Some(503 | 529),
                ..
            } => (Kind::Overloaded, None),
            ProviderError::BadRequest { .. } | ProviderError::ContextLength { .. } => {
                (Kind::InvalidRequest, None)
            }
            ProviderError::Timeout(_) => (Kind::Timeout, None),
            _ => (Kind::Upstream, None),
        };
        let call = CallError::from(e);
        let message = match kind {
            // The provider's own words about the request are the caller's to read.
            Kind::InvalidRequest => call.details.unwrap_or(call.message),
            _ => call.message,
        };
        ApiError {
            kind,
            message,
            retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_statuses_per_api() {
        let e = ApiError::new(Kind::Overloaded, "busy");
        assert_eq!(e.status(Api::Anthropic).as_u16(), 529);
        assert_eq!(e.status(Api::OpenAi).as_u16(), 503);
        assert_eq!(e.body(Api::Anthropic)["error"]["type"], "overloaded_error");
        assert_eq!(e.body(Api::Anthropic)["type"], "error");
        assert_eq!(e.body(Api::OpenAi)["error"]["message"], "busy");
        let ev = ApiError::invalid("x").sse_event(Api::Anthropic);
        assert!(ev.starts_with(b"event: error\ndata: {"));
    }
}
