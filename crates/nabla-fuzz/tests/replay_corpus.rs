//! Replays every committed fuzz corpus (`fuzz/corpus/TARGET/`) through its target's body, on
//! stable Rust, in seconds: each crash the fuzzer found stays fixed, and each target's seeds
//! (real files) are still read. A target without a corpus, or with an empty one, fails.

use std::path::{Path, PathBuf};

use nabla_fuzz::TARGETS;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("no corpus for `{target}` at {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("a corpus entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    assert!(!files.is_empty(), "the corpus of `{target}` at {} is empty", dir.display());
    files
}

/// Runs every file of `name`'s corpus through its body.
fn replay(name: &str) {
    let target = TARGETS.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no target `{name}`"));
    let files = inputs(name);
    let accepted =
        files.iter().filter(|path| (target.run)(&std::fs::read(path).expect("reading a corpus file"))).count();
    // A body that refused everything would replay nothing of the reader past its first check.
    assert!(accepted > 0, "`{name}`: none of its {} corpus files was accepted", files.len());
}

// One test per target, so that the test harness replays them side by side.
macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*

        #[test]
        fn every_target_has_a_replay_test() {
            let tested = [$(stringify!($name)),*];
            for target in TARGETS {
                assert!(tested.contains(&target.name), "`{}` has no replay test", target.name);
            }
        }
    };
}

replay_tests!(
    idx,
    digits_csv,
    table_csv,
    table_parquet,
    table_npy,
    checkpoint,
    quantised,
    formula,
    fit_csv,
    train_config_toml,
    sweep_toml,
    runs_import,
);

#[test]
fn every_corpus_folder_is_a_target_and_every_target_has_a_fuzz_binary() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for entry in std::fs::read_dir(corpus_root()).expect("fuzz/corpus") {
        let name = entry.expect("a corpus folder").file_name().to_string_lossy().into_owned();
        assert!(TARGETS.iter().any(|t| t.name == name), "fuzz/corpus/{name} belongs to no target");
    }
    for target in TARGETS {
        let bin = fuzz.join("fuzz_targets").join(format!("{}.rs", target.name));
        let text = std::fs::read_to_string(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(text.contains(&format!("nabla_fuzz::{}(", target.name)), "{} does not call its body", bin.display());
    }
}

#[test]
fn the_runs_import_artifact_has_the_sha256_its_name_says() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("artifact");
    std::fs::write(&path, nabla_fuzz::ARTIFACT).unwrap();
    assert_eq!(nabla_data::hash_file(&path).unwrap().file, nabla_fuzz::ARTIFACT_SHA256);
}
