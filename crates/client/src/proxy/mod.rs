//! Talking to vibectl-server: URLs, the gRPC connection, server info and `setup-proxy`.
pub mod connect;
pub mod error;
pub mod info;
pub mod setup;
pub mod url;

pub use connect::{ProxyClient, ProxyTarget};
pub use error::ProxyError;
