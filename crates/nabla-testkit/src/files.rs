//! What a folder holds.

use std::path::Path;

/// The names of the entries of `dir`, sorted (a test's view of "what was left behind").
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}
