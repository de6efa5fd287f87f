//! The cap on calls in flight: a call over it is answered at once (gRPC `RESOURCE_EXHAUSTED`
//! with `limit-type: overload` and `retry-after-ms`; for other content types the HTTP APIs'
//! overload error in the caller's shape, 529 Anthropic or 503 OpenAI, with `retry-after` and
//! `retry-after-ms`) instead of queueing. A call holds its slot until its response body ends, so
//! streams count for their whole life. Health checks are exempt.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};
use vibectl_proto::wire::metadata::{LIMIT_TYPE, RETRY_AFTER_MS};

use crate::auth::EXEMPT_PREFIXES;
use crate::http::{ApiError, Kind};

/// The `limit-type` of a call shed for overload.
pub const OVERLOAD_LIMIT_TYPE: &str = "overload";

/// The retry hint of a shed call: long enough for calls in flight to finish, jittered so
/// the shed callers do not come back together.
fn retry_after_ms() -> u64 {
    250 + rand::random_range(0..250)
}

/// The in-flight cap as a tower layer (outermost, so shed calls cost no token check).
#[derive(Clone, Debug)]
pub struct ShedLayer {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ShedLayer {
    /// At most `max` calls at once.
    pub fn new(max: usize) -> Self {
        ShedLayer {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Calls in flight now (health excluded).
    pub fn in_flight(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = ShedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShedService {
            inner,
            slots: Arc::clone(&self.slots),
            max: self.max,
        }
    }
}

/// The service [`ShedLayer`] makes.
#[derive(Clone, Debug)]
pub struct ShedService<S> {
    inner: S,
    slots: Arc<Semaphore>,
    max: usize,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The answer to a call over the cap.
fn shed<B>(req: &Request<B>, max: usize) -> Response<Body> {
    let retry = retry_after_ms();
    let message = format!(
        "the server is at its limit of {max} calls in flight (server.max_calls_in_flight); \
         retry in {retry} ms"
    );
    if is_grpc(req) {
        let mut md = MetadataMap::new();
        md.insert(LIMIT_TYPE, MetadataValue::from_static(OVERLOAD_LIMIT_TYPE));
        md.insert(RETRY_AFTER_MS, MetadataValue::from(retry));
        return Status::with_metadata(Code::ResourceExhausted, message, md).into_http();
    }
    // In the caller's API shape and status (529 Anthropic, 503 OpenAI), as a provider's
    // overload is: the SDKs retry both, after `retry-after-ms` (or `retry-after`).
    let api = crate::http::api_for(req.uri().path(), req.headers());
    let err = ApiError {
        kind: Kind::Overloaded,
        message,
        retry_after: Some(retry.div_ceil(1000)),
    };
    let mut resp = err.response(api).map(Body::new);
    resp.headers_mut()
        .insert(RETRY_AFTER_MS, http::HeaderValue::from(retry));
    resp
}

impl<S, B> tower::Service<Request<B>> for ShedService<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let path = req.uri().path();
        let permit = if EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
            None
        } else {
            match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    crate::telemetry::refusal(OVERLOAD_LIMIT_TYPE);
                    let resp = shed(&req, self.max);
                    return Box::pin(async move { Ok(resp) });
                }
            }
        };
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let resp = inner.call(req).await?;
            Ok(match permit {
                Some(p) => resp.map(|b| {
                    Body::new(Held {
                        body: b,
                        permit: Some(p),
                    })
                }),
                None => resp,
            })
        })
    }
}

/// A response body holding its call's slot until it ends or is dropped.
struct Held {
    body: Body,
    permit: Option<OwnedSemaphorePermit>,
}

impl HttpBody for Held {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.permit.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::BodyExt as _;
    use tower::{Layer as _, Service as _};

    use super::*;

    /// A service whose response bodies end when `release` changes.
    #[derive(Clone)]
    struct Slow(tokio::sync::watch::Receiver<()>);

    impl tower::Service<Request<()>> for Slow {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Response<Body>, Infallible>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _req: Request<()>) -> Self::Future {
            let mut release = self.0.clone();
            Box::pin(async move {
                let body = futures::stream::once(async move {
                    let _ = release.changed().await;
                    Ok::<_, Status>(Frame::data(bytes::Bytes::from_static(b"done")))
                });
                Ok(Response::new(Body::new(http_body_util::StreamBody::new(
                    body,
                ))))
            })
        }
    }

    fn slow(release: tokio::sync::watch::Receiver<()>) -> Slow {
        Slow(release)
    }

    fn grpc(path: &str) -> Request<()> {
        Request::builder()
            .uri(path)
            .header("content-type", "application/grpc")
            .body(())
            .unwrap()
    }

    #[tokio::test]
    async fn over_the_cap_calls_are_shed_at_once_until_a_stream_ends() {
        let (tx, rx) = tokio::sync::watch::channel(());
        let layer = ShedLayer::new(2);
        let mut svc = layer.layer(slow(rx));
        let a = svc.call(grpc("/vibectl.proxy/Execute")).await.unwrap();
        let b = svc.call(grpc("/vibectl.proxy/Execute")).await.unwrap();
        assert_eq!(layer.in_flight(), 2);
        let shed = svc.call(grpc("/vibectl.proxy/Execute")).await.unwrap();
        let status = Status::from_header_map(shed.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("server.max_calls_in_flight"));
        assert_eq!(status.metadata().get(LIMIT_TYPE).unwrap(), "overload");
        let ms: u64 = status
            .metadata()
            .get(RETRY_AFTER_MS)
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((250..500).contains(&ms), "{ms}");
        // Health is exempt.
        let h = svc
            .call(grpc("/grpc.health.v1.Health/Check"))
            .await
            .unwrap();
        assert!(Status::from_header_map(h.headers()).is_none());
        // Ending one body frees its slot; dropping the other frees the second.
        tx.send(()).unwrap();
        let bytes = a.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"done");
        assert_eq!(layer.in_flight(), 1);
        drop(b);
        assert_eq!(layer.in_flight(), 0);
    }

    #[tokio::test]
    async fn http_callers_get_the_overload_error_of_their_own_api() {
        let (_tx, rx) = tokio::sync::watch::channel(());
        let layer = ShedLayer::new(1);
        let mut svc = layer.layer(slow(rx));
        let _held = svc.call(grpc("/x")).await.unwrap();
        let http_req = |path: &str, anthropic: bool| {
            let mut b = Request::builder()
                .uri(path)
                .header("content-type", "application/json");
            if anthropic {
                b = b.header("anthropic-version", "2023-06-01");
            }
            b.body(()).unwrap()
        };
        let body = |resp: Response<Body>| async move {
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        for (path, anthropic, status) in [
            ("/v1/chat/completions", false, 503),
            ("/v1/models", false, 503),
            ("/v1/messages", false, 529),
            ("/v1/messages/count_tokens", true, 529),
            ("/v1/models", true, 529),
        ] {
            let resp = svc.call(http_req(path, anthropic)).await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{path}");
            assert_eq!(resp.headers()[http::header::RETRY_AFTER], "1");
            let ms: u64 = resp.headers()[RETRY_AFTER_MS]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((250..500).contains(&ms), "{ms}");
            let v = body(resp).await;
            if status == 529 {
                assert_eq!(v["type"], "error", "{v}");
                assert_eq!(v["error"]["type"], "overloaded_error", "{v}");
                assert!(v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("server.max_calls_in_flight"));
            } else {
                assert_eq!(v["error"]["type"], "server_error", "{v}");
                assert!(v["error"].get("code").is_some(), "{v}");
                assert!(v.get("type").is_none(), "{v}");
                assert!(v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("server.max_calls_in_flight"));
            }
        }
    }
}
