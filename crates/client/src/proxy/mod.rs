//! Talking to vibectl-server: URLs, profiles, the gRPC connection and `setup-proxy`.
pub mod url;
