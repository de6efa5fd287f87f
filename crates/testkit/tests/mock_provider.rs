//! Integration tests of the mock provider over real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "mock_provider/faults.rs"]
mod faults;
#[path = "mock_provider/formats.rs"]
mod formats;
#[path = "mock_provider/scripting.rs"]
mod scripting;
#[path = "mock_provider/streams.rs"]
mod streams;
#[path = "mock_provider/support.rs"]
mod support;
