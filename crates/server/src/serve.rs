//! `vibectl-server serve`: the public-bind check, the [`App`](crate::app::App) built from the
//! config, the bound listener and its first stdout line, and SIGTERM/SIGINT as the shutdown.
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};

use crate::app::App;
use crate::auth;
use crate::cli::ServeArgs;
use crate::config::{ConfigSource, ServerConfig};

/// Whether `host` only reaches this machine.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
    let tls_on = cfg.tls.is_on() || cfg.acme.enabled;
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
    match &source {
        ConfigSource::File(p) => tracing::info!(config = %p.display(), "configuration loaded"),
        ConfigSource::Defaults(p) => {
            tracing::info!(config = %p.display(), "no config file; using defaults")
        }
    }
    let (host, port) = (cfg.server.host.clone(), cfg.server.port);
    let app = App::build(cfg, source, args.clone()).await?;
    let addr = bind_addr(&host, port).await?;
    let listener = crate::transport::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;

    // The first stdout line is the contract scripts and tests wait for.
    let mut out = std::io::stdout().lock();
    let mode = if app.tls_on() { "tls" } else { "plaintext" };
    let _ = writeln!(out, "vibectl-server listening on {local} ({mode})");
    let _ = out.flush();
    drop(out);
    let state = app.state();
    tracing::info!(
        addr = %local, models = state.catalog.models().len(),
        default_model = state.default_model.as_ref().map_or("none", |m| m.id.as_str()),
        "vibectl-server ready"
    );
    app.serve(listener, async {
        let signal = shutdown_signal().await;
        tracing::info!(signal, "signal received");
    })
    .await
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
