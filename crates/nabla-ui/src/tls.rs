//! HTTPS for `nabla server`: a certificate chain and its private key read from PEM files and
//! checked before anything is bound, so a wrong file is one clear error naming it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::UiError;

/// A server's TLS identity: its certificate chain and private key, ready to serve HTTPS.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    /// Never shows the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads `cert` (PEM: the server's certificate first, then any intermediates) and `key`
    /// (PEM: PKCS#8, RSA or EC), and checks that the key belongs to the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Tls, UiError> {
        let certs = read_certs(cert)?;
        let private_key = read_key(key)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(cert, format!("no TLS version to offer: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, private_key)
            .map_err(|e| {
                tls_error(key, format!("is not the private key of the certificate in {} ({e})", cert.display()))
            })?;
        // Only HTTP/1.1 is served.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) })
    }
}

fn tls_error(path: &Path, message: String) -> UiError {
    UiError::Tls { path: PathBuf::from(path), message }
}

fn read(path: &Path) -> Result<Vec<u8>, UiError> {
    std::fs::read(path).map_err(|e| tls_error(path, format!("cannot read it: {e}")))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, UiError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| tls_error(path, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(
            path,
            "holds no certificate (expected PEM blocks `-----BEGIN CERTIFICATE-----`, the server's first)".into(),
        ));
    }
    // A DER body that is not a certificate shows up here rather than at the first handshake.
    for (i, cert) in certs.iter().enumerate() {
        if !looks_like_der_sequence(cert.as_ref()) {
            return Err(tls_error(path, format!("certificate {} of the file is not a DER certificate", i + 1)));
        }
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, UiError> {
    let bytes = read(path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let encrypted = String::from_utf8_lossy(&bytes).contains("ENCRYPTED PRIVATE KEY");
            Err(tls_error(
                path,
                if encrypted {
                    "holds an encrypted private key: give the key without a passphrase (`openssl pkey -in KEY -out \
                     PLAIN`)"
                        .into()
                } else {
                    "holds no private key (expected a PEM block `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or \
                     `EC PRIVATE KEY`)"
                        .into()
                },
            ))
        }
        Err(e) => Err(tls_error(path, format!("is not valid PEM: {e}"))),
    }
}

/// Whether `der` starts with a DER SEQUENCE whose length covers exactly the rest.
fn looks_like_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else { return false };
    let (len, body) = if first & 0x80 == 0 {
        (usize::from(*first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return false;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
    };
    len == body.len()
}

#[cfg(test)]
mod tests {
    use super::looks_like_der_sequence;

    #[test]
    fn der_sequence_lengths() {
        assert!(looks_like_der_sequence(&[0x30, 0x02, 0x05, 0x00]));
        assert!(looks_like_der_sequence(&[0x30, 0x81, 0x01, 0x00]));
        assert!(!looks_like_der_sequence(&[0x30, 0x03, 0x05, 0x00]));
        assert!(!looks_like_der_sequence(&[0x31, 0x00]));
        assert!(!looks_like_der_sequence(b"hello"));
        assert!(!looks_like_der_sequence(&[]));
    }
}
