//! Without a reachable Docker engine the harness must fail loudly, never let
//! a container test pass by skipping. This is its own test binary because it
//! points `DOCKER_HOST` at nothing for the whole process.

use std::path::Path;

use sextant_testkit::{Error, SextantImage};

#[tokio::test]
async fn unreachable_engine_is_a_clear_error() {
    // Edition 2021: `set_var` is safe to call; this process has no other
    // threads reading the environment yet.
    std::env::set_var("DOCKER_HOST", "unix:///nonexistent/sextant-testkit.sock");
    let err = SextantImage::build(Path::new(env!("CARGO_BIN_EXE_echo-server")))
        .await
        .expect_err("building without an engine must fail");
    assert!(matches!(err, Error::DockerUnavailable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Docker engine"), "{message}");
    assert!(message.contains("never skip"), "{message}");
}
