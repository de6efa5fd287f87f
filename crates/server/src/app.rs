//! The composition root: [`App::build`] wires the request path from a config (providers and
//! catalog, state store, limiter, authenticator, TLS) without binding anything, and
//! [`App::serve`] runs it on a listener until a shutdown future resolves, then drains. Reload
//! builds the reloadable parts through [`build_state`], the same code the start uses.
//!
//! The binary's `serve` (serve.rs) is this plus binding, the listening line and signals; tests
//! build an [`App`] in-process on an ephemeral port.
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tonic::transport::Server;
use vibectl_proto::vibectl_llm_proxy_server::VibectlLlmProxyServer;

use crate::auth::{self, AuthLayer, Authenticator};
use crate::cli::ServeArgs;
use crate::config::{ConfigSource, ServerConfig};
use crate::limits::{self, Limiter};
use crate::proxy::{LlmProxyService, ProxyState, StateCell, StateError};
use crate::reload::Reloader;
use crate::state::{StateStore, LEDGER_FILE};
use crate::{tls, transport};

/// The gateway, wired and not yet bound.
pub struct App {
    cfg: ServerConfig,
    source: ConfigSource,
    args: ServeArgs,
    state_dir: PathBuf,
    cell: Arc<StateCell>,
    limiter: Arc<Limiter>,
    store: Arc<dyn StateStore>,
    authenticator: Option<Arc<Authenticator>>,
    tls: Option<Arc<tls::ReloadingConfig>>,
    acme: Option<Arc<tls::acme::Acme>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("source", &self.source)
            .field("auth", &self.authenticator.is_some())
            .field("tls", &self.tls.is_some())
            .field("acme", &self.acme.is_some())
            .finish_non_exhaustive()
    }
}

/// The parts a reload replaces: providers, catalog, aliases, prices, default model.
pub fn build_state(cfg: &ServerConfig) -> Result<ProxyState, StateError> {
    let env = |k: &str| std::env::var(k).ok();
    let (state, statuses) = ProxyState::from_config(cfg, &env)?;
    for s in &statuses {
        match (&s.settings, &s.key_source) {
            (Some(_), key) => tracing::info!(
                provider = %s.name, base_url = %s.base_url,
                key = key.as_deref().unwrap_or("none"),
                "provider configured"
            ),
            (None, _) => tracing::debug!(provider = %s.name, "provider not configured (no key)"),
        }
    }
    Ok(state)
}

impl App {
    /// Wires everything `cfg` asks for (`args` are the `serve` flags, applied again on reload);
    /// opens the state store and the metrics listener, binds nothing else.
    pub async fn build(
        cfg: ServerConfig,
        source: ConfigSource,
        args: ServeArgs,
    ) -> anyhow::Result<App> {
        let state =
            build_state(&cfg).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
        if state.catalog.is_empty() {
            tracing::warn!(
                "no provider is configured, so no model is offered: set ANTHROPIC_API_KEY, \
                 OPENAI_API_KEY or OLLAMA_HOST, or add `providers:` to the config"
            );
        }
        let state_dir = crate::config::state_dir(&cfg, source.path());
        let store = limits::open_store(&cfg.state, &state_dir.join(LEDGER_FILE))
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the state store: {e}"))?;
        tracing::info!(store = %store.describe(), "limits and usage ledger ready");
        if cfg.metrics.enabled {
            let at = crate::telemetry::start(&cfg.metrics).await?;
            tracing::info!(addr = %at, "metrics on http://{at}/metrics");
        }
        let limiter = Arc::new(Limiter::new(
            Arc::clone(&store),
            cfg.server.limits.clone(),
            cfg.state.on_redis_failure,
        ));
        let authenticator = if auth::auth_required(&cfg) {
            let env = |k: &str| std::env::var(k).ok();
            let (a, origin) = Authenticator::start(&cfg, &state_dir, &env)
                .context("cannot set up token verification")?;
            tracing::info!(
                keys = %origin, audit_log = %a.audit().path().display(),
                issuer = %cfg.jwt.issuer,
                "authentication required: every call needs a token (health checks exempt)"
            );
            Some(a)
        } else {
            tracing::info!(
                "authentication is off: every caller is `anonymous` (turn it on with --require-auth)"
            );
            None
        };
        let acme = if cfg.acme.enabled {
            let a = tls::acme::Acme::start(&cfg, &state_dir)
                .await
                .context("cannot set up ACME")?;
            tracing::info!(
                domains = %cfg.acme.domains.join(","), directory = %cfg.acme.directory_url,
                challenge = cfg.acme.challenge.kind.as_str(),
                "TLS on with a certificate from the ACME CA"
            );
            Some(a)
        } else {
            None
        };
        let tls = if acme.is_none() && cfg.tls.is_on() {
            let (files, note) = tls::resolve_files(&cfg.tls, &state_dir)?;
            if let Some(n) = note {
                tracing::info!("{n}");
            }
            let reloading = Arc::new(tls::ReloadingConfig::new(files)?);
            tracing::info!(
                cert = %reloading.files().cert.display(),
                client_certificates = if reloading.files().client_ca.is_some() { "required" } else { "not requested" },
                min_version = %cfg.tls.min_version,
                "TLS on"
            );
            Some(reloading)
        } else {
            None
        };
        Ok(App {
            cell: Arc::new(StateCell::new(Arc::new(state))),
            cfg,
            source,
            args,
            state_dir,
            limiter,
            store,
            authenticator,
            tls,
            acme,
        })
    }

    /// The state new calls get (replaced by reloads).
    pub fn state(&self) -> Arc<ProxyState> {
        self.cell.get()
    }

    /// Whether the listener speaks TLS.
    pub fn tls_on(&self) -> bool {
        self.tls.is_some() || self.acme.is_some()
    }

    /// Serves on `listener` until `shutdown` resolves, then stops taking calls (health says
    /// NOT_SERVING), lets calls in flight finish for the grace period and writes the ledger out.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<VibectlLlmProxyServer<LlmProxyService>>()
            .await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(vibectl_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("cannot build the reflection service")?;
        if let (Some(t), true) = (&self.tls, self.cfg.tls.reload_interval_seconds > 0) {
            tokio::spawn(tls::watch(
                Arc::clone(t),
                Duration::from_secs(self.cfg.tls.reload_interval_seconds),
            ));
        }
        let reloader = tokio::spawn(
            Reloader {
                path: self.source.path().to_path_buf(),
                args: self.args.clone(),
                cell: Arc::clone(&self.cell),
                limiter: Arc::clone(&self.limiter),
                auth: self.authenticator.clone(),
                state_dir: self.state_dir.clone(),
                started: self.cfg.clone(),
            }
            .watch(Duration::from_secs(2)),
        );
        let hsts = (self.tls_on() && self.cfg.tls.hsts.enabled)
            .then(|| http::HeaderValue::from_str(&self.cfg.tls.hsts.header_value()).ok())
            .flatten();
        let service = VibectlLlmProxyServer::new(LlmProxyService::new(
            Arc::clone(&self.cell),
            Arc::clone(&self.limiter),
        ))
        .max_decoding_message_size(16 * 1024 * 1024);
        let audit = self.authenticator.as_ref().map(|a| a.audit().clone());
        let http_api = self.cfg.http.enabled.then(|| {
            crate::http::HttpApi::new(
                Arc::clone(&self.cell),
                Arc::clone(&self.limiter),
                self.authenticator.clone(),
                self.cfg.http.max_body_bytes,
            )
        });
        let split =
            crate::http::SplitLayer::new(http_api.clone().map(crate::http::router), hsts.clone());
        let transport = transport::Settings::for_process(&self.cfg.server);
        let router = transport
            .apply(Server::builder())
            .accept_http1(http_api.is_some())
            .initial_connection_window_size(Some(4 * 1024 * 1024))
            .initial_stream_window_size(Some(1024 * 1024))
            // Shedding first: an overloaded server refuses HTTP and gRPC calls alike, at once.
            .layer(transport.shed_layer())
            .layer(split)
            .layer(AuthLayer::new(self.authenticator.clone(), hsts))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(service);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async {
            let _ = stop_rx.await;
        };
        let tls_source: Option<Arc<dyn tls::ConfigProvider>> = match (&self.acme, &self.tls) {
            (Some(a), _) => Some(Arc::clone(a) as Arc<dyn tls::ConfigProvider>),
            (None, Some(t)) => Some(Arc::clone(t) as Arc<dyn tls::ConfigProvider>),
            (None, None) => None,
        };
        let acceptor = transport::Acceptor::new(listener, transport.gate());
        let server = match tls_source {
            Some(t) => {
                let incoming = tls::tls_incoming(acceptor, t, audit);
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
            }
            None => {
                let incoming = transport::plain_incoming(acceptor);
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
            }
        };
        // Ordered once the listener accepts: tls-alpn-01 is validated on it.
        let acme = self
            .acme
            .as_ref()
            .map(|a| tokio::spawn(Arc::clone(a).run()));
        shutdown.await;
        if let Some(a) = acme {
            a.abort();
        }
        tracing::info!(
            grace_seconds = self.cfg.server.shutdown_grace_seconds,
            "shutting down: draining in-flight calls"
        );
        health
            .set_not_serving::<VibectlLlmProxyServer<LlmProxyService>>()
            .await;
        if let Some(h) = &http_api {
            h.set_draining();
        }
        let _ = stop_tx.send(());
        let grace = Duration::from_secs(self.cfg.server.shutdown_grace_seconds);
        let drained = tokio::time::timeout(grace, server).await;
        reloader.abort();
        // Calls dropped by the transport settle in spawned tasks; give them a moment, then write out.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Err(e) = self.store.flush().await {
            tracing::error!("usage ledger not fully written: {e}");
        }
        match drained {
            Ok(Ok(Ok(()))) => tracing::info!("all calls drained; bye"),
            Ok(Ok(Err(e))) => anyhow::bail!("server error: {e}"),
            Ok(Err(e)) => anyhow::bail!("server task failed: {e}"),
            Err(_) => tracing::warn!("grace period over with calls still in flight; exiting"),
        }
        Ok(())
    }
}
