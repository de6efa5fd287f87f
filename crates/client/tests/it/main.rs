//! The client's integration tests, in one binary: the real `vibectl` against the mock provider,
//! the real `vibectl-server`, and the real kubectl on the testkit's fake Kubernetes API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod parity;
mod plan_safety;
mod support;

mod cli;
mod commands_kube;
mod commands_local;
mod commands_loop;
mod e2e_direct;
mod e2e_proxy;
mod fake_kube;
mod live_display;
mod plugin_prompts;
mod proxy_retries;
mod rollout;
