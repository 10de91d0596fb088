//! The `nabla` command as the CLI tests run it. The fixtures shared with other crates' tests
//! (the shared data folder, the HTTP file server) are in `nabla-testkit`.

#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// `nabla` with a clean environment: no `$NABLA_DATA` unless a test sets one, and a home
/// folder of its own so the user data directory is empty.
pub fn nabla(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    cmd.env_remove("NABLA_DATA").env("HOME", home).env("XDG_DATA_HOME", home.join("share"));
    cmd
}
