//! Hot reload: on SIGHUP, or when the config file changes, the file is read and validated again;
//! if it is valid, new calls get its limits, budgets, models, aliases, prices and JWT verification
//! keys (calls in
//! flight finish with what they started with, connections stay up). An invalid edit is refused,
//! every problem logged, and the running config kept.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth::Authenticator;
use crate::cli::ServeArgs;
use crate::config::ServerConfig;
use crate::limits::Limiter;
use crate::proxy::StateCell;

/// What a reload changes, and what it keeps.
#[derive(Debug)]
pub struct Reloader {
    /// The config file.
    pub path: PathBuf,
    /// The `serve` flags, applied again on top of each reloaded file.
    pub args: ServeArgs,
    /// The service's state.
    pub cell: Arc<StateCell>,
    /// The limiter.
    pub limiter: Arc<Limiter>,
    /// The token checker, when authentication is on (its keys are reloaded too).
    pub auth: Option<Arc<Authenticator>>,
    /// Where generated secrets and keys live.
    pub state_dir: PathBuf,
    /// The config the server started with: a reload that changes one of its restart-only keys
    /// says so, naming the keys, rather than ignoring them silently.
    pub started: ServerConfig,
}

/// The keys a reload cannot apply to a running server (the listener and its bounds, TLS and
/// ACME, turning auth on or off, logging, the audit log, the state store, the metrics listener,
/// the HTTP APIs).
pub fn restart_only_changes(running: &ServerConfig, new: &ServerConfig) -> Vec<&'static str> {
    fn differs<T: serde::Serialize>(a: &T, b: &T) -> bool {
        serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
    }
    // `--state-dir` overrides `state.dir` at start and not on reload; the dir in use is fixed
    // either way, so it is left out rather than reported changed on every reload.
    fn state_but_dir(c: &ServerConfig) -> crate::config::StateSection {
        crate::config::StateSection {
            dir: None,
            ..c.state.clone()
        }
    }
    let (r, n) = (&running.server, &new.server);
    let checks: [(&'static str, bool); 15] = [
        ("server.host", r.host != n.host),
        ("server.port", r.port != n.port),
        ("server.require_auth", r.require_auth != n.require_auth),
        ("server.max_workers", r.max_workers != n.max_workers),
        ("server.log_level", r.log_level != n.log_level),
        ("server.log_format", r.log_format != n.log_format),
        (
            "server.shutdown_grace_seconds",
            r.shutdown_grace_seconds != n.shutdown_grace_seconds,
        ),
        (
            "server.connections",
            differs(&r.connections, &n.connections),
        ),
        (
            "server.max_calls_in_flight",
            r.max_calls_in_flight != n.max_calls_in_flight,
        ),
        ("tls", differs(&running.tls, &new.tls)),
        ("acme", differs(&running.acme, &new.acme)),
        ("audit", differs(&running.audit, &new.audit)),
        (
            "state",
            differs(&state_but_dir(running), &state_but_dir(new)),
        ),
        ("metrics", differs(&running.metrics, &new.metrics)),
        ("http", differs(&running.http, &new.http)),
    ];
    checks
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(k, _)| k)
        .collect()
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Reloader {
    /// Reads, validates and applies the config file; returns whether it was applied.
    pub async fn reload(&self, why: &str) -> bool {
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || ServerConfig::load(Some(&path))).await;
        let mut cfg = match loaded {
            Ok(Ok(l)) => l.config,
            Ok(Err(issues)) => {
                tracing::error!(
                    trigger = why,
                    "config reload refused, running config kept: {issues}"
                );
                return false;
            }
            Err(e) => {
                tracing::error!(trigger = why, "config reload failed: {e}");
                return false;
            }
        };
        self.args.apply_to(&mut cfg);
        let env = |k: &str| std::env::var(k).ok();
        match crate::app::build_state(&cfg) {
            Ok(state) => {
                if let Some(auth) = &self.auth {
                    match auth.reload_keys(&cfg, &self.state_dir, &env) {
                        Ok(origin) => {
                            tracing::info!(keys = %origin, "JWT verification keys reloaded")
                        }
                        Err(e) => {
                            tracing::error!(
                                trigger = why,
                                "config reload refused, running config kept: jwt: {e}"
                            );
                            return false;
                        }
                    }
                }
                let ignored = restart_only_changes(&self.started, &cfg);
                if !ignored.is_empty() {
                    tracing::warn!(
                        trigger = why,
                        "config reload: {} changed and take effect only after a restart; the \
                         running values are kept",
                        ignored.join(", ")
                    );
                }
                self.cell.set(Arc::new(state));
                self.limiter.set_limits(cfg.server.limits.clone());
                tracing::info!(
                    trigger = why, config = %self.path.display(),
                    "configuration reloaded: limits, budgets, models, aliases, prices and JWT keys apply to \
                     new calls (listener, TLS, turning auth on or off, and state settings need a restart)"
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    trigger = why,
                    "config reload refused, running config kept:\n{e}"
                );
                false
            }
        }
    }

    /// Reloads on SIGHUP and whenever the file's time or size changes (checked every `every`).
    pub async fn watch(self, every: Duration) {
        let mut last = stamp(&self.path);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let by_signal = match hup.as_mut() {
                Some(h) => tokio::select! {
                    _ = h.recv() => true,
                    _ = tick.tick() => false,
                },
                None => {
                    tick.tick().await;
                    false
                }
            };
            #[cfg(not(unix))]
            let by_signal = {
                tick.tick().await;
                false
            };
            let now = stamp(&self.path);
            if by_signal {
                last = now;
                self.reload("SIGHUP").await;
            } else if now != last {
                last = now;
                self.reload("file changed").await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn restart_only_keys_are_named_and_reloadable_ones_are_not() {
        let running = ServerConfig::default();
        let mut new = running.clone();
        assert!(restart_only_changes(&running, &new).is_empty());
        new.server.name = "renamed".into();
        new.server.limits.global.max_requests_per_minute = Some(5);
        assert!(
            restart_only_changes(&running, &new).is_empty(),
            "both reload"
        );
        new.server.max_calls_in_flight += 1;
        new.server.connections.max_open += 1;
        new.tls.enabled = !new.tls.enabled;
        new.http.max_body_bytes += 1;
        assert_eq!(
            restart_only_changes(&running, &new),
            [
                "server.connections",
                "server.max_calls_in_flight",
                "tls",
                "http"
            ]
        );
    }
}
