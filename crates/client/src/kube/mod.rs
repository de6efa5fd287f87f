//! kubectl: the argument model, the policy for planned commands, manifests, and the runner.
pub mod argv;
pub mod manifest;
pub mod policy;
pub mod quote;
pub mod runner;

pub use policy::{decide, Decision, Verdict};
pub use runner::{KubeError, Kubectl, KubectlOutput};
