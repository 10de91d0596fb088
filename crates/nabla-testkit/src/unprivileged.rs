//! Tests of what file permissions forbid, run where permissions hold: CI runs as root, whom a
//! write-protected file does not stop, so such a test would pass without testing anything.
//! As root, [`run`] re-runs the one test in a child process of the test binary as the
//! unprivileged user `nobody` (uid 65534), on the same prepared folder.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Names the prepared folder for the child process.
const DIR_ENV: &str = "NABLA_TESTKIT_UNPRIVILEGED_DIR";
/// The user and group the child runs as.
const NOBODY: u32 = 65534;

/// In the child process: the folder the parent prepared. A test calls this first and, when it
/// gets a folder, runs its checks on it and nothing else.
pub fn child_dir() -> Option<PathBuf> {
    std::env::var_os(DIR_ENV).map(PathBuf::from)
}

/// Runs `checks` on `dir` as an unprivileged user: directly when this process is not root,
/// else in a child process running only the test named `test` (its full path, e.g.
/// `a_write_protected_database_is_a_read_only_error`) as `nobody`, which must pass. `dir`'s
/// folders are opened to everyone so the child can read and create files there; files keep
/// their modes (a write-protected file stays so).
pub fn run(test: &str, dir: &Path, checks: impl FnOnce(&Path)) {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).expect("cannot tell who runs the tests");
    if !root {
        checks(dir);
        return;
    }
    open_folders(dir);
    let mut parent = dir.parent();
    while let Some(p) = parent.filter(|p| p.starts_with(std::env::temp_dir()) && *p != std::env::temp_dir()) {
        open_folders(p);
        parent = p.parent();
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(DIR_ENV, dir)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("cannot start the test binary as nobody");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "`{test}` as nobody failed:\n{text}");
    assert!(text.contains("test result: ok. 1 passed"), "`{test}` did not run as nobody:\n{text}");
}

/// Makes `dir` and the folders under it readable, writable and enterable by everyone.
fn open_folders(dir: &Path) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_folders(&entry.path());
        }
    }
}
