//! The http-01 responder: `GET /.well-known/acme-challenge/<token>` answered with the key
//! authorization while its challenge is open; everything else is 404.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;

use super::AcmeError;

/// Open http-01 challenges: token → key authorization.
#[derive(Debug, Default, Clone)]
pub struct Tokens(Arc<RwLock<HashMap<String, String>>>);

impl Tokens {
    /// Answers `token` with `key_authorization` until removed.
    pub fn insert(&self, token: &str, key_authorization: &str) {
        if let Ok(mut m) = self.0.write() {
            m.insert(token.to_owned(), key_authorization.to_owned());
        }
    }

    /// Stops answering `token`.
    pub fn remove(&self, token: &str) {
        if let Ok(mut m) = self.0.write() {
            m.remove(token);
        }
    }

    fn get(&self, token: &str) -> Option<String> {
        self.0.read().ok()?.get(token).cloned()
    }
}

async fn answer(State(tokens): State<Tokens>, Path(token): Path<String>) -> (StatusCode, String) {
    match tokens.get(&token) {
        Some(ka) => (StatusCode::OK, ka),
        None => (StatusCode::NOT_FOUND, "no such ACME challenge\n".into()),
    }
}

/// Binds `host:port` (errors name the keys and the usual fix) and serves `tokens` in a task.
pub async fn start(host: &str, port: u16, tokens: Tokens) -> Result<SocketAddr, AcmeError> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let listener = tokio::net::TcpListener::bind((h, port))
        .await
        .map_err(|source| AcmeError::HttpBind {
            addr: format!("{host}:{port}"),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| AcmeError::HttpBind {
            addr: format!("{host}:{port}"),
            source,
        })?;
    let app = axum::Router::new()
        .route("/.well-known/acme-challenge/{token}", get(answer))
        .with_state(tokens);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("http-01 listener stopped: {e}");
        }
    });
    Ok(local)
}
