//! vibectl, the client: config, proxy profiles, model access, kubectl execution and `vibe`.

pub mod audit;
pub mod cli;
pub mod config;
pub mod kube;
pub mod memory;
pub mod model;
pub mod proxy;
pub mod sanitize;
pub mod ui;
pub mod vibe;
