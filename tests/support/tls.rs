//! Certificates made in the test: a CA and a server certificate for
//! `localhost` and `127.0.0.1` issued by it, written as PEM files. No key
//! material lives in the repository.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A CA's certificate (PEM) and a server pair it issued, in `dir`.
pub struct TestPki {
    /// The CA certificate, what a client passes as `--ca`.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestPki {
    /// A new CA named `name` and a server pair it issued, written under `dir`
    /// as `NAME-ca.pem`, `NAME-cert.pem`, `NAME-key.pem`.
    pub fn new(dir: &Path, name: &str) -> TestPki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("weft test CA {name}"));
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let pki = TestPki {
            ca: dir.join(format!("{name}-ca.pem")),
            cert: dir.join(format!("{name}-cert.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&pki.ca, ca.pem()).unwrap();
        std::fs::write(&pki.cert, leaf.pem()).unwrap();
        std::fs::write(&pki.key, key.serialize_pem()).unwrap();
        pki
    }

    /// A client trusting this CA only (not the public roots).
    pub fn client(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap()
    }
}
