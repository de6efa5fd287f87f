//! kubectl: the runner and the safety rules for planned commands.
pub mod runner;
pub mod safety;

pub use runner::{KubeError, Kubectl, KubectlOutput};
pub use safety::{classify, Safety};
