//! vibectl, the client: config, proxy profiles, model access, kubectl execution and `vibe`.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod display;
pub mod kube;
pub mod memory;
pub mod model;
pub mod plugins;
pub mod proxy;
pub mod sanitize;
pub mod settings;
pub mod ui;
pub mod vibe;
