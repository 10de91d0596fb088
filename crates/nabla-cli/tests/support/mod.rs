//! The `nabla` command as the CLI tests run it. The fixtures shared with other crates' tests
//! (the shared data folder, the HTTP file server) are in `nabla-testkit`.

#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The variables of the user's shell that would make a test read or write the user's own
/// data or store (`NABLA_HOME` is the tracking directory), or time itself (`NABLA_PROFILE`).
pub const USER_ENV: [&str; 3] = ["NABLA_DATA", "NABLA_HOME", "NABLA_PROFILE"];

/// `nabla` with a clean environment: none of [`USER_ENV`] unless a test sets one, and a home
/// folder of its own, so the user data directory and the tracking store are the test's.
pub fn nabla(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("nabla").unwrap();
    for var in USER_ENV {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home).env("XDG_DATA_HOME", home.join("share"));
    cmd
}
