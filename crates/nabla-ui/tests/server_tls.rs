//! `nabla server` over HTTPS: a run delivered to it with its self-signed certificate trusted,
//! refused without, plain HTTP and silence on its port closed cleanly, and bad certificate or
//! key files named.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nabla_testkit::tls::{self_signed, SelfSigned};
use nabla_track::{EndStatus, Remote, Run, RunOptions, Store};
use nabla_ui::{Server, ServerOptions, Tls, UiError};

fn serve_tls(store: &Path, certs: &SelfSigned, header_timeout: Duration) -> Server {
    let tls = Tls::from_pem_files(&certs.cert, &certs.key).unwrap();
    let options = ServerOptions::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), store)
        .prewarm(false)
        .users(false)
        .header_timeout(header_timeout)
        .tls(tls);
    Server::start(options).unwrap()
}

/// A short run that logs to `remote`; the result of finishing it (delivering it whole).
fn train(local: &Path, remote: Remote) -> (String, nabla_track::Result<()>) {
    let options = RunOptions::new("class").system_interval(None);
    let mut run = Run::start(local, RunOptions { remote: Some(remote), ..options }).unwrap();
    for step in 0..500 {
        run.log(step, &[("train/loss", 1.0 / (step as f64 + 1.0))]).unwrap();
    }
    let id = run.id().to_string();
    (id, run.finish(EndStatus::Finished))
}

#[test]
fn a_run_is_delivered_over_https_when_the_servers_certificate_is_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = self_signed(&tmp.path().join("tls"));
    let server_store = tmp.path().join("server");
    let token = Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve_tls(&server_store, &certs, Duration::from_secs(10));
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let uri = format!("https://{}", server.addr());

    let remote = Remote::with_ca(&uri, &token, Some(&certs.cert)).unwrap();
    let (id, finished) = train(&tmp.path().join("laptop"), remote);
    finished.unwrap();
    let on_server = Store::open_read_only(&server_store).unwrap();
    assert_eq!(on_server.run(&id).unwrap().status.as_str(), "finished");
    assert_eq!(on_server.history(&id, "train/loss", ..).unwrap().len(), 500);
    // The local journal is kept after delivery: marked delivered, not deleted.
    let local = Store::open(tmp.path().join("laptop")).unwrap();
    assert!(local.undelivered_runs().unwrap().is_empty());
    assert_eq!(local.history(&id, "train/loss", ..).unwrap().len(), 500);
}

#[test]
fn without_the_ca_the_client_refuses_the_certificate_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = self_signed(&tmp.path().join("tls"));
    let server_store = tmp.path().join("server");
    let token = Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve_tls(&server_store, &certs, Duration::from_secs(10));
    let remote = Remote::new(&format!("https://{}", server.addr()), &token).unwrap();
    let local = tmp.path().join("laptop");
    let (id, finished) = train(&local, remote);
    let err = finished.unwrap_err().to_string();
    assert!(err.contains("certificate verification failed") && err.contains("--tls-ca"), "{err}");
    // Nothing reached the server; everything waits locally.
    assert!(Store::open_read_only(&server_store).unwrap().run(&id).is_err());
    assert_eq!(Store::open(&local).unwrap().undelivered_runs().unwrap().len(), 1);

    // Another certificate as the CA is no better than none.
    let other = self_signed(&tmp.path().join("other"));
    let remote = Remote::with_ca(&format!("https://{}", server.addr()), &token, Some(&other.cert)).unwrap();
    let err = Store::open(&local).unwrap().sync_run(&id, &remote).unwrap_err().to_string();
    assert!(err.contains("certificate verification failed"), "{err}");
}

#[test]
fn a_bad_ca_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let not_pem = tmp.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let err = Remote::with_ca("https://127.0.0.1:1", "t", Some(&not_pem)).unwrap_err().to_string();
    assert!(err.contains("ca.txt") && err.contains("no certificate"), "{err}");
    let missing = tmp.path().join("missing.pem");
    let err = Remote::with_ca("https://127.0.0.1:1", "t", Some(&missing)).unwrap_err().to_string();
    assert!(err.contains("missing.pem") && err.contains("cannot read"), "{err}");
}

#[test]
fn plain_http_to_the_https_port_fails_cleanly_and_the_server_serves_on() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = self_signed(&tmp.path().join("tls"));
    let server_store = tmp.path().join("server");
    let token = Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve_tls(&server_store, &certs, Duration::from_secs(10));

    let plain = Remote::new(&format!("http://{}", server.addr()), &token).unwrap();
    let (id, finished) = train(&tmp.path().join("laptop"), plain);
    let err = finished.unwrap_err().to_string();
    assert!(err.contains("not yet delivered"), "{err}");
    // A raw plain-text request gets no HTTP answer, only a closed connection.
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&answer));

    // The server is unharmed: the same run goes through over HTTPS.
    let remote = Remote::with_ca(&format!("https://{}", server.addr()), &token, Some(&certs.cert)).unwrap();
    let report = Store::open(tmp.path().join("laptop")).unwrap().sync_run(&id, &remote).unwrap();
    assert!(report.delivered && report.points == 500, "{report:?}");
}

#[test]
fn a_client_that_never_says_hello_is_closed_after_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = self_signed(&tmp.path().join("tls"));
    let server_store = tmp.path().join("server");
    Store::open(&server_store).unwrap().add_user("ada", false).unwrap();
    let server = serve_tls(&server_store, &certs, Duration::from_millis(300));
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    let mut byte = [0u8; 1];
    // The server closes (EOF) or resets; either way the read ends long before 30 s.
    let read = silent.read(&mut byte);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    if let Err(e) = &read {
        assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "the server never closed the connection");
        assert_ne!(e.kind(), std::io::ErrorKind::TimedOut, "the server never closed the connection");
    }
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
}

#[test]
fn bad_certificate_and_key_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = self_signed(&tmp.path().join("tls"));
    let other = self_signed(&tmp.path().join("other"));
    let fails = |cert: &Path, key: &Path| match Tls::from_pem_files(cert, key) {
        Err(e @ UiError::Tls { .. }) => e.to_string(),
        Err(e) => panic!("not a TLS error: {e}"),
        Ok(_) => panic!("{} and {} were accepted", cert.display(), key.display()),
    };
    let missing = tmp.path().join("missing.pem");
    let err = fails(&missing, &certs.key);
    assert!(err.contains("missing.pem") && err.contains("cannot read"), "{err}");
    // The two files swapped.
    let err = fails(&certs.key, &certs.cert);
    assert!(err.contains("key.pem") && err.contains("no certificate"), "{err}");
    let err = fails(&certs.cert, &certs.cert);
    assert!(err.contains("cert.pem") && err.contains("no private key"), "{err}");
    // Another certificate's key.
    let err = fails(&certs.cert, &other.key);
    assert!(err.contains("other/key.pem") && err.contains("is not the private key of the certificate"), "{err}");
    let encrypted = tmp.path().join("encrypted.pem");
    std::fs::write(&encrypted, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n")
        .unwrap();
    let err = fails(&certs.cert, &encrypted);
    assert!(err.contains("encrypted.pem") && err.contains("passphrase"), "{err}");
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n").unwrap();
    let err = fails(&garbage, &certs.key);
    assert!(err.contains("garbage.pem") && err.contains("not a DER certificate"), "{err}");
    // A good pair loads.
    Tls::from_pem_files(&certs.cert, &certs.key).unwrap();
}
