//! TLS on the listener (`[http.tls]`): the certificate chain and key are read
//! from PEM files and read again when either file changes, so a renewed
//! certificate is served without a restart.
//!
//! The files are watched by polling their metadata (size, modification time,
//! inode) every [`POLL`], not with inotify: certificate tools and secret
//! mounts replace files by renaming or by swapping a symlink's target, which
//! a watch on the old file would miss. A pair that does not load (a key that
//! does not match, a half-written file) is logged and the pair in force stays;
//! the next change is tried again. rustls serves TLS 1.2 and 1.3 with ring,
//! the stack the host already builds for outbound HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// How often the certificate and key files are looked at for a change.
pub const POLL: Duration = Duration::from_secs(1);

/// `[http.tls]`: where the certificate chain and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The pair in force, swapped whole when the files change.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a whole pair: it is swapped in one store.
        Some(
            self.0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Accepts TLS connections with the pair the files hold now.
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
}

impl Acceptor {
    /// Loads the pair (the host does not start without one that loads) and
    /// starts watching the files; the watch ends when `stop` turns true.
    pub fn start(
        files: &TlsFiles,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Acceptor> {
        let pair = load(files)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(pair))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("cannot set up TLS")?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let files = files.clone();
        tokio::spawn(async move {
            let mut seen = stamp(&files);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    _ = stop.changed() => return,
                }
                let now = stamp(&files);
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&files) {
                    Ok(pair) => {
                        *current
                            .0
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(pair);
                        tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    }
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "TLS certificate not reloaded: the one in force stays"
                    ),
                }
            }
        });
        Ok(Acceptor {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub async fn accept(
        &self,
        stream: tokio::net::TcpStream,
    ) -> std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
        self.inner.accept(stream).await
    }
}

/// What tells a file changed: both files' (length, mtime, inode), followed
/// through symlinks; `None` for one that cannot be read now.
type Stamp = [Option<(u64, std::time::SystemTime, u64)>; 2];

fn stamp(files: &TlsFiles) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?, m.ino())))
    };
    [one(&files.cert), one(&files.key)]
}

/// Reads and checks a pair: certificates present, a key rustls can sign with,
/// and the key matching the first certificate.
pub fn load(files: &TlsFiles) -> anyhow::Result<CertifiedKey> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "cannot read the TLS certificate {} ([http.tls] cert): a PEM file of the certificate, then its intermediates",
                files.cert.display()
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!(
            "{} ([http.tls] cert) holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            files.cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "cannot read the TLS key {} ([http.tls] key): a PEM private key (PKCS#8, PKCS#1 or SEC1)",
            files.key.display()
        )
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let pair = CertifiedKey::from_der(certs, key, &provider).with_context(|| {
        format!(
            "the TLS key {} does not fit the certificate {} ([http.tls]): give the key the certificate was issued for",
            files.key.display(),
            files.cert.display()
        )
    })?;
    Ok(pair)
}
