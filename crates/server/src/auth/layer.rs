//! The tower layer in front of every RPC: authentication (the health service exempt) and the
//! HSTS header.
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::{Authenticator, Subject};

/// Paths that need no token: the gRPC health service (load balancers and probes).
pub const EXEMPT_PREFIXES: [&str; 1] = ["/grpc.health.v1.Health/"];

/// Applies [`Authenticator`] (when auth is on) and the HSTS header (when set) to every call.
#[derive(Clone, Debug, Default)]
pub struct AuthLayer {
    auth: Option<Arc<Authenticator>>,
    hsts: Option<HeaderValue>,
}

impl AuthLayer {
    /// `auth: None` lets every call through as [`Subject::anonymous`].
    pub fn new(auth: Option<Arc<Authenticator>>, hsts: Option<HeaderValue>) -> Self {
        AuthLayer { auth, hsts }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
            hsts: self.hsts.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    auth: Option<Arc<Authenticator>>,
    hsts: Option<HeaderValue>,
}

fn peer<B>(req: &Request<B>) -> Option<SocketAddr> {
    peer_of(req.extensions())
}

/// The caller's address, from the connection info the transport put in the extensions.
pub(crate) fn peer_of(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.get_ref().remote_addr())
        })
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<Request<B>> for AuthService<S>
where
    S: tower::Service<Request<B>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let hsts = self.hsts.clone();
        let path = req.uri().path();
        let subject = match &self.auth {
            None => Ok(Subject::anonymous()),
            Some(_) if EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) => {
                Ok(Subject::anonymous())
            }
            Some(auth) => auth.check(
                req.headers().get(http::header::AUTHORIZATION),
                peer(&req),
                path,
            ),
        };
        let with_hsts = move |mut resp: Response<tonic::body::Body>| {
            if let Some(v) = hsts {
                resp.headers_mut()
                    .insert(http::header::STRICT_TRANSPORT_SECURITY, v);
            }
            resp
        };
        match subject {
            Ok(subject) => {
                req.extensions_mut().insert(subject);
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { inner.call(req).await.map(with_hsts) })
            }
            Err(status) => {
                let resp = with_hsts(status.into_http());
                Box::pin(async move { Ok(resp) })
            }
        }
    }
}
