//! vibectl-server: the gRPC LLM proxy.
//!
//! The request path reads top to bottom: transport ([`transport`], [`tls`]) → auth ([`auth`]) → handler ([`proxy`]) → provider
//! (`vibectl_llm`) → metrics. Configuration lives in [`config`], the CLI in [`cli`] and
//! [`commands`], the composition root in [`app`] (build, then serve), the binary's `serve` in [`serve`].

pub mod app;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod http;
pub mod limits;
pub mod logging;
pub mod proxy;
pub mod reload;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod transport;
