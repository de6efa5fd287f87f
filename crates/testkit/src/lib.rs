//! Test-only helpers: a mock OpenAI/Anthropic provider and a spawner for the real binaries.
#![warn(missing_docs)]

pub mod fake_kube;
pub mod mock_provider;
pub mod redis_process;
pub mod script;
pub mod server_process;

pub use mock_provider::{
    Disconnect, Fault, MockProvider, MockReply, MockUsage, RecordedRequest, Responder,
    MAX_RECORDED_REQUESTS,
};
pub use redis_process::RedisProcess;
pub use server_process::{server_command, server_command_ok, workspace_bin, ServerProcess, TestCa};
