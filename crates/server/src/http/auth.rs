//! Who is calling: our JWT from `Authorization: Bearer <token>` or, as the Anthropic SDKs send
//! it, `x-api-key: <token>`, through the same [`Authenticator`] as gRPC (same audit reasons).
use http::{HeaderMap, HeaderValue};

use super::errors::{ApiError, Kind, UNAUTHENTICATED};
use crate::auth::{Authenticator, Subject};

/// The verified subject of a request, or the 401 (which never says which check failed).
pub fn subject(
    auth: Option<&Authenticator>,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    path: &str,
) -> Result<Subject, ApiError> {
    let Some(auth) = auth else {
        return Ok(Subject::anonymous());
    };
    let header = match headers.get(http::header::AUTHORIZATION) {
        Some(h) => Some(h.clone()),
        // `x-api-key: T` is checked exactly as `authorization: Bearer T` would be.
        None => headers.get("x-api-key").map(|k| {
            let mut v = b"Bearer ".to_vec();
            v.extend_from_slice(k.as_bytes());
            HeaderValue::from_bytes(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
        }),
    };
    auth.check(header.as_ref(), peer, path)
        .map_err(|_| ApiError::new(Kind::Authentication, UNAUTHENTICATED))
}
