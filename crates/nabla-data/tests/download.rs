//! Downloads from a local HTTP server on 127.0.0.1 serving the shared data (never the
//! internet): verified, atomic, resumed, retried; bad files are not kept.

use std::io::Write;
use std::time::Duration;

use nabla_data::{
    fetch, fetch_with, find_or_fetch_in, spec, verify, DataError, DataRoot, FetchOptions, Progress, RootSource,
};
use nabla_testkit::{files_in, shared_data, FileServer, FileServerOptions};

fn quick(mirror: String) -> FetchOptions {
    FetchOptions { mirror: Some(mirror), attempts: 3, backoff: Duration::from_millis(10) }
}

fn serving_shared() -> FileServerOptions {
    FileServerOptions { honour_range: true, ..FileServerOptions::serving(shared_data()) }
}

#[test]
fn fetch_mnist_from_a_mirror_verifies_and_leaves_no_part_files() {
    let server = FileServer::start(serving_shared());
    let dest = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let dir = fetch("mnist", dest.path(), Some(&server.url("mnist")), &mut |p| events.push(p)).unwrap();
    assert_eq!(dir, dest.path().join("mnist"));
    verify(spec("mnist").unwrap(), &dir).unwrap();
    assert_eq!(
        files_in(&dir),
        [
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
    let done = events.iter().filter(|e| matches!(e, Progress::Done { .. })).count();
    assert_eq!(done, 4);
    let last_bytes = events.iter().rev().find_map(|e| match e {
        Progress::Bytes { downloaded, total, .. } => Some((*downloaded, *total)),
        _ => None,
    });
    let size = std::fs::metadata(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap().len();
    assert_eq!(last_bytes, Some((size, Some(size))));

    // A second fetch finds everything in place and downloads nothing.
    let requests = server.seen().len();
    let mut again = Vec::new();
    fetch("mnist", dest.path(), Some(&server.url("mnist")), &mut |p| again.push(p)).unwrap();
    assert_eq!(server.seen().len(), requests);
    assert!(again.iter().all(|e| matches!(e, Progress::AlreadyPresent { .. })), "{again:?}");
}

#[test]
fn checksum_mismatch_names_the_file_and_both_hashes_and_keeps_nothing() {
    // A well-formed gzip of different content: it decompresses, but to the wrong bytes.
    let text = nabla_data::read_content(&shared_data().join("digits/digits.csv.gz")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&text[..text.len() - 2]).unwrap();
    let mut options = serving_shared();
    options.overrides.insert("/digits/digits.csv.gz".into(), enc.finish().unwrap());
    let server = FileServer::start(options);

    let dest = tempfile::tempdir().unwrap();
    let err = fetch_with(spec("digits").unwrap(), dest.path(), &quick(server.url("digits")), &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    let DataError::BadDownload { error, .. } = &err else { panic!("{err:?}") };
    assert!(matches!(**error, DataError::ChecksumMismatch { .. }), "{error:?}");
    assert!(msg.contains("digits.csv.gz: checksum mismatch"), "{msg}");
    assert!(msg.contains(spec("digits").unwrap().files[0].sha256), "{msg}");
    assert!(msg.contains(&server.url("digits")), "{msg}");
    assert!(files_in(&dest.path().join("digits")).is_empty(), "{:?}", files_in(&dest.path().join("digits")));
}

#[test]
fn corrupt_gzip_download_is_an_error_and_not_kept() {
    let mut options = serving_shared();
    options.overrides.insert("/mnist/t10k-labels-idx1-ubyte.gz".into(), vec![0x1f, 0x8b, 8, 0, 1, 2, 3]);
    let server = FileServer::start(options);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_with(spec("mnist").unwrap(), dest.path(), &quick(server.url("mnist")), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("corrupt gzip data"), "{err}");
    let left = files_in(&dest.path().join("mnist"));
    assert!(!left.iter().any(|f| f.starts_with("t10k-labels")), "{left:?}");
}

#[test]
fn a_part_file_is_resumed_with_a_range_request() {
    let source = std::fs::read(shared_data().join("digits/digits.csv.gz")).unwrap();
    let server = FileServer::start(serving_shared());
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("digits");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("digits.csv.gz.part"), &source[..20_000]).unwrap();
    let mut events = Vec::new();
    fetch_with(spec("digits").unwrap(), dest.path(), &quick(server.url("digits")), &mut |p| events.push(p)).unwrap();
    assert_eq!(std::fs::read(dir.join("digits.csv.gz")).unwrap(), source);
    assert_eq!(files_in(&dir), ["digits.csv.gz"]);
    let seen = server.seen();
    assert_eq!((seen[0].range.as_deref(), seen[0].status), (Some("bytes=20000-"), 206));
    assert!(events.contains(&Progress::Start {
        file: "digits.csv.gz",
        url: format!("{}digits.csv.gz", server.url("digits")),
        resumed_from: 20_000,
        total: Some(source.len() as u64),
    }));
}

#[test]
fn a_server_that_ignores_range_makes_the_download_start_over() {
    let source = std::fs::read(shared_data().join("digits/digits.csv.gz")).unwrap();
    let server = FileServer::start(FileServerOptions { honour_range: false, ..serving_shared() });
    let dest = tempfile::tempdir().unwrap();
    let dir = dest.path().join("digits");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("digits.csv.gz.part"), b"garbage that is not a prefix").unwrap();
    fetch_with(spec("digits").unwrap(), dest.path(), &quick(server.url("digits")), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(dir.join("digits.csv.gz")).unwrap(), source);
    assert_eq!(server.seen()[0].status, 200);
}

#[test]
fn a_cut_connection_and_a_503_are_retried_and_resumed() {
    let source = std::fs::read(shared_data().join("digits/digits.csv.gz")).unwrap();
    let server = FileServer::start(FileServerOptions { fail_first: 1, cut_first_at: Some(10_000), ..serving_shared() });
    let dest = tempfile::tempdir().unwrap();
    let mut retries = Vec::new();
    let options = FetchOptions { attempts: 4, ..quick(server.url("digits")) };
    fetch_with(spec("digits").unwrap(), dest.path(), &options, &mut |p| {
        if let Progress::Retry { attempt, .. } = p {
            retries.push(attempt);
        }
    })
    .unwrap();
    assert_eq!(std::fs::read(dest.path().join("digits/digits.csv.gz")).unwrap(), source);
    assert_eq!(retries, [1, 2]);
    let statuses: Vec<(u16, Option<String>)> = server.seen().into_iter().map(|s| (s.status, s.range)).collect();
    assert_eq!(statuses, [(503, None), (200, None), (206, Some("bytes=10000-".to_string()))]);
}

#[test]
fn not_found_is_not_retried() {
    let server = FileServer::start(serving_shared());
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_with(spec("digits").unwrap(), dest.path(), &quick(server.url("nowhere")), &mut |_| {}).unwrap_err();
    assert!(matches!(err, DataError::HttpStatus { status: 404, .. }), "{err:?}");
    assert_eq!(server.seen().len(), 1);
    assert!(files_in(&dest.path().join("digits")).is_empty());
}

#[test]
fn find_or_fetch_downloads_only_what_is_missing_into_the_first_root() {
    let server = FileServer::start(serving_shared());
    let first = tempfile::tempdir().unwrap();
    let roots = [
        DataRoot { path: first.path().to_path_buf(), source: RootSource::Explicit },
        DataRoot { path: shared_data(), source: RootSource::Env },
    ];
    // Present in the second root: found there, nothing downloaded.
    let found = find_or_fetch_in(spec("digits").unwrap(), &roots, &quick(server.url("digits")), &mut |_| {}).unwrap();
    assert_eq!((found.root.source, server.seen().len()), (RootSource::Env, 0));
    // Present nowhere: downloaded into the first root.
    let found =
        find_or_fetch_in(spec("digits").unwrap(), &roots[..1], &quick(server.url("digits")), &mut |_| {}).unwrap();
    assert_eq!(found.dir, first.path().join("digits"));
    assert_eq!(found.load().unwrap().test.len, 359);
}
