//! The gRPC connection to vibectl-server: TLS, Bearer token, timeouts and retries.
use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use vibectl_llm::Secret;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::{
    ExecuteRequest, ExecuteResponse, GetServerInfoRequest, GetServerInfoResponse, StreamChunk,
};

use super::error::ProxyError;
use super::url::ProxyUrl;
use crate::config::{Config, Profile};

/// Everything needed to reach one proxy.
#[derive(Clone, Debug)]
pub struct ProxyTarget {
    /// The profile it came from, if any.
    pub profile: Option<String>,
    /// The parsed URL.
    pub url: ProxyUrl,
    /// The Bearer token: from the URL, `jwt_path`, or `VIBECTL_JWT_TOKEN`.
    pub token: Option<Secret>,
    /// CA bundle for TLS: the profile's, or `VIBECTL_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Retries on UNAVAILABLE and RESOURCE_EXHAUSTED.
    pub retries: u32,
}

/// Expands a leading `~/` to the home directory.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

impl ProxyTarget {
    /// The target described by a saved profile.
    pub fn from_profile(name: &str, profile: &Profile, cfg: &Config) -> Result<Self, ProxyError> {
        let url = ProxyUrl::parse(&profile.server_url)
            .map_err(|e| ProxyError::Profile(format!("profile `{name}`: {e}")))?;
        let mut t = Self::from_url(
            url,
            cfg,
            profile.jwt_path.as_deref(),
            profile.ca_bundle_path.as_deref(),
        )?;
        t.profile = Some(name.to_owned());
        Ok(t)
    }

    /// A target for a URL, with optional token file and CA bundle.
    pub fn from_url(
        url: ProxyUrl,
        cfg: &Config,
        jwt_path: Option<&str>,
        ca_bundle: Option<&str>,
    ) -> Result<Self, ProxyError> {
        let token = match (&url.token, jwt_path) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(p)) => Some(read_token(p)?),
            (None, None) => std::env::var("VIBECTL_JWT_TOKEN")
                .ok()
                .map(Secret::new)
                .filter(|t| !t.is_empty()),
        };
        let ca_bundle = ca_bundle
            .map(str::to_owned)
            .or_else(|| {
                std::env::var("VIBECTL_CA_BUNDLE")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .map(|p| expand_home(&p));
        Ok(ProxyTarget {
            profile: None,
            url,
            token,
            ca_bundle,
            timeout: Duration::from_secs(cfg.int("proxy.timeout_seconds").clamp(1, 300) as u64),
            retries: cfg.int("proxy.retry_attempts").clamp(0, 10) as u32,
        })
    }

    /// `HOST:PORT`, for messages.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.url.host_for_url(), self.url.port)
    }

    /// Opens the connection (TLS handshake included), within the timeout.
    pub async fn connect(&self) -> Result<ProxyClient, ProxyError> {
        let addr = self.addr();
        let transport =
            |e: tonic::transport::Error| ProxyError::from_transport(&addr, &e, self.timeout);
        let mut endpoint = Endpoint::from_shared(self.url.endpoint_uri())
            .map_err(transport)?
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .tcp_nodelay(true);
        if self.url.tls {
            let mut tls = ClientTlsConfig::new().domain_name(self.url.host.clone());
            tls = match &self.ca_bundle {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| ProxyError::LocalFile {
                        what: "cannot read the CA bundle",
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    })?;
                    tls.ca_certificate(Certificate::from_pem(pem))
                }
                None => tls.with_webpki_roots(),
            };
            endpoint = endpoint.tls_config(tls).map_err(transport)?;
        }
        let channel = match tokio::time::timeout(self.timeout, endpoint.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(transport(e)),
            Err(_) => {
                return Err(ProxyError::Timeout {
                    addr,
                    after: self.timeout,
                })
            }
        };
        Ok(ProxyClient {
            inner: VibectlLlmProxyClient::new(channel),
            target: self.clone(),
        })
    }
}

fn read_token(path: &str) -> Result<Secret, ProxyError> {
    let p = expand_home(path);
    let text = std::fs::read_to_string(&p).map_err(|e| ProxyError::LocalFile {
        what: "cannot read the token file",
        path: p.display().to_string(),
        detail: e.to_string(),
    })?;
    let token = Secret::new(text);
    if token.is_empty() {
        return Err(ProxyError::LocalFile {
            what: "the token file is empty:",
            path: p.display().to_string(),
            detail: "put the JWT in it".into(),
        });
    }
    Ok(token)
}

/// A connected proxy client.
#[derive(Clone, Debug)]
pub struct ProxyClient {
    inner: VibectlLlmProxyClient<Channel>,
    target: ProxyTarget,
}

impl ProxyClient {
    /// The target this client talks to.
    pub fn target(&self) -> &ProxyTarget {
        &self.target
    }

    fn request<T>(&self, msg: T) -> Result<tonic::Request<T>, ProxyError> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.target.timeout);
        if let Some(token) = &self.target.token {
            let value = format!("Bearer {}", token.expose()).parse().map_err(|_| {
                ProxyError::Profile("the token contains characters not allowed in a header".into())
            })?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }

    fn error(&self, status: &tonic::Status) -> ProxyError {
        ProxyError::from_status(
            &self.target.addr(),
            status,
            self.target.token.is_some(),
            self.target.timeout,
        )
    }

    /// Runs `call` and retries UNAVAILABLE and RESOURCE_EXHAUSTED with backoff.
    async fn with_retries<T, F, Fut>(&self, mut call: F) -> Result<T, ProxyError>
    where
        F: FnMut(VibectlLlmProxyClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let mut attempt = 0;
        loop {
            let status = match call(self.inner.clone()).await {
                Ok(v) => return Ok(v),
                Err(s) => s,
            };
            match retry_delay(&status, attempt, self.target.retries) {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => return Err(self.error(&status)),
            }
        }
    }

    /// `GetServerInfo`.
    pub async fn server_info(&self) -> Result<GetServerInfoResponse, ProxyError> {
        let this = self.clone();
        self.with_retries(|mut c| {
            let req = this.request(GetServerInfoRequest {});
            async move {
                c.get_server_info(req.map_err(|e| tonic::Status::internal(e.to_string()))?)
                    .await
            }
        })
        .await
        .map(tonic::Response::into_inner)
    }

    /// `Execute`.
    pub async fn execute(&self, msg: ExecuteRequest) -> Result<ExecuteResponse, ProxyError> {
        let this = self.clone();
        self.with_retries(|mut c| {
            let req = this.request(msg.clone());
            async move {
                c.execute(req.map_err(|e| tonic::Status::internal(e.to_string()))?)
                    .await
            }
        })
        .await
        .map(tonic::Response::into_inner)
    }

    /// `StreamExecute`; retries apply to opening the stream only.
    pub async fn stream_execute(
        &self,
        msg: ExecuteRequest,
    ) -> Result<tonic::Streaming<StreamChunk>, ProxyError> {
        let this = self.clone();
        self.with_retries(|mut c| {
            let req = this.request(msg.clone());
            async move {
                c.stream_execute(req.map_err(|e| tonic::Status::internal(e.to_string()))?)
                    .await
            }
        })
        .await
        .map(tonic::Response::into_inner)
    }

    /// Classifies a status received mid-stream.
    pub fn stream_error(&self, status: &tonic::Status) -> ProxyError {
        self.error(status)
    }
}

/// The wait before retry `attempt` (0-based), or `None` to give up.
pub fn retry_delay(status: &tonic::Status, attempt: u32, max_retries: u32) -> Option<Duration> {
    if attempt >= max_retries {
        return None;
    }
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {}
        _ => return None,
    }
    let hinted = status
        .metadata()
        .get(vibectl_proto::wire::metadata::RETRY_AFTER_MS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    match hinted {
        // A server asking for a pause longer than a minute: report it rather than hang.
        Some(d) if d > Duration::from_secs(60) => None,
        Some(d) => Some(d),
        None => {
            let base = Duration::from_millis(200).saturating_mul(2u32.saturating_pow(attempt));
            Some(base.min(Duration::from_secs(5)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_honours_retry_after_ms() {
        let mut s = tonic::Status::resource_exhausted("rpm");
        s.metadata_mut()
            .insert("retry-after-ms", "1234".parse().unwrap());
        assert_eq!(retry_delay(&s, 0, 3), Some(Duration::from_millis(1234)));
        assert_eq!(retry_delay(&s, 3, 3), None);
        let u = tonic::Status::unavailable("down");
        assert_eq!(retry_delay(&u, 1, 3), Some(Duration::from_millis(400)));
        assert_eq!(
            retry_delay(&tonic::Status::unauthenticated("no"), 0, 3),
            None
        );
        let mut long = tonic::Status::resource_exhausted("budget");
        long.metadata_mut()
            .insert("retry-after-ms", "3600000".parse().unwrap());
        assert_eq!(retry_delay(&long, 0, 3), None);
    }

    #[test]
    fn statuses_map_to_actionable_errors() {
        let t = Duration::from_secs(1);
        let e = ProxyError::from_status(
            "h:1",
            &tonic::Status::unauthenticated("missing token"),
            false,
            t,
        );
        assert!(matches!(e, ProxyError::AuthRequired { .. }));
        let e = ProxyError::from_status(
            "h:1",
            &tonic::Status::unauthenticated("token expired"),
            true,
            t,
        );
        assert!(e.to_string().contains("expired"));
        let e = ProxyError::from_status("h:1", &tonic::Status::unimplemented(""), true, t);
        assert!(matches!(e, ProxyError::ServiceMissing { .. }));
    }
}
