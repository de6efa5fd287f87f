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
