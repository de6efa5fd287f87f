//! Generated types and gRPC stubs for `vibectl.llm_proxy` (docs/wire-contract.md), and the
//! wire vocabulary beside them ([`wire`]: error codes, metadata keys).
#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used, missing_docs)]

/// Messages and service stubs of package `vibectl.llm_proxy`.
pub mod llm_proxy {
    tonic::include_proto!("vibectl.llm_proxy");
}

/// Encoded `FileDescriptorSet` of the proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/llm_proxy_descriptor.bin"));

pub use llm_proxy::*;

pub mod wire;
