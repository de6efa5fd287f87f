//! The listener: binding, TLS, the auth layer, health and reflection services, and graceful
//! shutdown. The health service needs no token; reflection does, like the LLM service.
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use vibectl_proto::vibectl_llm_proxy_server::VibectlLlmProxyServer;

use crate::auth::{self, AuthLayer, Authenticator};
use crate::cli::ServeArgs;
use crate::config::{ConfigSource, ServerConfig};
use crate::limits::{self, Limiter};
use crate::proxy::{LlmProxyService, ProxyState, StateCell};
use crate::reload::Reloader;
use crate::state::LEDGER_FILE;
use crate::tls;

/// Whether `host` only reaches this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Applies `serve` flags on top of the config.
pub fn apply_overrides(cfg: &mut ServerConfig, args: &ServeArgs) {
    if let Some(h) = &args.host {
        cfg.server.host = h.clone();
    }
    if let Some(p) = args.port {
        cfg.server.port = p;
    }
    if let Some(m) = &args.model {
        cfg.server.default_model = Some(m.clone());
    }
    if let Some(g) = args.shutdown_grace {
        cfg.server.shutdown_grace_seconds = g;
    }
    if let Some(n) = args.max_rpm {
        cfg.server.limits.global.max_requests_per_minute = Some(n);
    }
    if let Some(n) = args.max_concurrent {
        cfg.server.limits.global.max_concurrent_requests = Some(n);
    }
    if args.enable_metrics {
        cfg.metrics.enabled = true;
    }
    if let Some(p) = args.metrics_port {
        cfg.metrics.enabled = true;
        cfg.metrics.port = p;
    }
    if let Some(b) = &args.metrics_bind {
        cfg.metrics.bind = b.clone();
    }
    if args.require_auth {
        cfg.server.require_auth = true;
    }
    if args.tls {
        cfg.tls.enabled = true;
    }
    if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
        cfg.tls.enabled = true;
        cfg.tls.cert_file = Some(c.clone());
        cfg.tls.key_file = Some(k.clone());
    }
    if args.tls_auto {
        cfg.tls.auto = true;
    }
    if let Some(ca) = &args.tls_client_ca {
        cfg.tls.client_ca_file = Some(ca.clone());
    }
}

/// Resolves the bind address (names such as `localhost` are looked up).
async fn bind_addr(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((h, port))
        .await
        .with_context(|| format!("cannot resolve server.host `{host}`"))?
        .next()
        .with_context(|| format!("server.host `{host}` resolves to no address"))
}

/// Runs the proxy until SIGTERM/SIGINT, then drains in-flight calls for the grace period.
pub async fn run(cfg: ServerConfig, source: ConfigSource, args: &ServeArgs) -> anyhow::Result<()> {
    let auth_on = auth::auth_required(&cfg);
    let tls_on = cfg.tls.is_on();
    let protected = auth_on && tls_on;
    if !is_loopback(&cfg.server.host) && !protected {
        if !args.allow_insecure_public {
            bail!(
                "refusing to bind {} without TLS and authentication: anyone who can reach it \
                 could read tokens or spend your provider credits. Bind 127.0.0.1, turn both on \
                 (--require-auth with --tls-auto or --tls-cert/--tls-key), or pass \
                 --allow-insecure-public for a trusted network",
                cfg.server.host
            );
        }
        tracing::warn!(
            host = %cfg.server.host, tls = tls_on, auth = auth_on,
            "serving beyond loopback WITHOUT TLS and authentication both on (--allow-insecure-public)"
        );
    }
    let env = |k: &str| std::env::var(k).ok();
    let (state, statuses) = ProxyState::from_config(&cfg, &env)
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    match &source {
        ConfigSource::File(p) => tracing::info!(config = %p.display(), "configuration loaded"),
        ConfigSource::Defaults(p) => {
            tracing::info!(config = %p.display(), "no config file; using defaults")
        }
    }
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
    if state.catalog.is_empty() {
        tracing::warn!(
            "no provider is configured, so no model is offered: set ANTHROPIC_API_KEY, \
             OPENAI_API_KEY or OLLAMA_HOST, or add `providers:` to the config"
        );
    }
    let state = Arc::new(state);
    let state_dir = crate::config::state_dir(source.path());
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

    let authenticator = if auth_on {
        let (a, origin) = Authenticator::start(&cfg, &state_dir, &env)
            .map_err(|e| anyhow::anyhow!("cannot set up token verification: {e}"))?;
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
    let tls = if tls_on {
        let (files, note) = tls::resolve_files(&cfg.tls, &state_dir).map_err(anyhow::Error::msg)?;
        if let Some(n) = note {
            tracing::info!("{n}");
        }
        let reloading = Arc::new(tls::ReloadingConfig::new(files).map_err(anyhow::Error::msg)?);
        if cfg.tls.reload_interval_seconds > 0 {
            tokio::spawn(tls::watch(
                Arc::clone(&reloading),
                Duration::from_secs(cfg.tls.reload_interval_seconds),
            ));
        }
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
    let hsts = (tls_on && cfg.tls.hsts.enabled)
        .then(|| http::HeaderValue::from_str(&cfg.tls.hsts.header_value()).ok())
        .flatten();

    let addr = bind_addr(&cfg.server.host, cfg.server.port).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<VibectlLlmProxyServer<LlmProxyService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(vibectl_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;

    let cell = Arc::new(StateCell::new(Arc::clone(&state)));
    tokio::spawn(
        Reloader {
            path: source.path().to_path_buf(),
            args: args.clone(),
            cell: Arc::clone(&cell),
            limiter: Arc::clone(&limiter),
            auth: authenticator.clone(),
            state_dir: state_dir.clone(),
        }
        .watch(Duration::from_secs(2)),
    );
    let service = VibectlLlmProxyServer::new(LlmProxyService::new(cell, limiter))
        .max_decoding_message_size(16 * 1024 * 1024);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let audit = authenticator.as_ref().map(|a| a.audit().clone());
    let router = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .initial_connection_window_size(Some(4 * 1024 * 1024))
        .initial_stream_window_size(Some(1024 * 1024))
        .layer(AuthLayer::new(authenticator, hsts))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(service);
    let stop = async {
        let _ = stop_rx.await;
    };
    let server = match &tls {
        Some(t) => {
            let incoming = tls::tls_incoming(listener, Arc::clone(t), audit);
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
        }
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
        }
    };

    // The first stdout line is the contract scripts and tests wait for.
    let mut out = std::io::stdout().lock();
    let mode = if tls_on { "tls" } else { "plaintext" };
    let _ = writeln!(out, "vibectl-server listening on {local} ({mode})");
    let _ = out.flush();
    drop(out);
    tracing::info!(
        addr = %local, models = state.catalog.models().len(),
        default_model = state.default_model.as_ref().map_or("none", |m| m.id.as_str()),
        "vibectl-server ready"
    );

    let signal = shutdown_signal().await;
    tracing::info!(
        signal,
        grace_seconds = cfg.server.shutdown_grace_seconds,
        "shutting down: draining in-flight calls"
    );
    health
        .set_not_serving::<VibectlLlmProxyServer<LlmProxyService>>()
        .await;
    let _ = stop_tx.send(());
    let grace = Duration::from_secs(cfg.server.shutdown_grace_seconds);
    let drained = tokio::time::timeout(grace, server).await;
    // Calls dropped by the transport settle in spawned tasks; give them a moment, then write out.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if let Err(e) = store.flush().await {
        tracing::error!("usage ledger not fully written: {e}");
    }
    match drained {
        Ok(Ok(Ok(()))) => tracing::info!("all calls drained; bye"),
        Ok(Ok(Err(e))) => bail!("server error: {e}"),
        Ok(Err(e)) => bail!("server task failed: {e}"),
        Err(_) => tracing::warn!("grace period over with calls still in flight; exiting"),
    }
    Ok(())
}

/// Waits for SIGTERM or SIGINT and says which.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        if let (Ok(mut term), Ok(mut int)) = (term, int) {
            return tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in ["127.0.0.1", "localhost", "::1", "[::1]", "127.1.2.3"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "10.0.0.1", "example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
