//! The server's integration tests, in one binary (one link instead of fifteen): the real
//! `vibectl-server` over real sockets against the testkit mock provider, real Redis and TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod http_common;
mod limits_common;
mod secure;
mod serve_modes;

mod acme;
mod audit_bounds;
mod auth_key_reload;
mod auth_revocation;
mod auth_tokens;
mod cli_admin;
mod deploy;
mod e2e_catalog;
mod e2e_execute;
mod e2e_faults;
mod e2e_lifecycle;
mod e2e_limits;
mod e2e_limits_redis;
mod e2e_metrics_reload;
mod e2e_replicas_auth;
mod e2e_stream;
mod hostile_bounds;
mod hostile_budgets;
mod hostile_files;
mod http_access;
mod http_api;
mod http_count_tokens;
mod http_errors;
mod http_ledger;
mod in_process;
mod interop;
mod jwt_interop;
mod ledger_migration;
mod overload;
mod parity;
mod state_conformance;
mod tls;
