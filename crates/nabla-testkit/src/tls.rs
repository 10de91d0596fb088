//! A self-signed certificate for the HTTPS tests, made by the test itself: nothing to install,
//! so nothing to skip when a tool is missing.

use std::path::{Path, PathBuf};

/// A certificate for `127.0.0.1` and `localhost`, and its private key, written as PEM files.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// The certificate (PEM), which is also the CA a client must be given.
    pub cert: PathBuf,
    /// The PKCS#8 private key (PEM).
    pub key: PathBuf,
}

/// Makes a new key pair and self-signed certificate in `dir` (`cert.pem`, `key.pem`).
pub fn self_signed(dir: &Path) -> SelfSigned {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("rcgen makes a self-signed certificate");
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    SelfSigned { cert, key }
}
