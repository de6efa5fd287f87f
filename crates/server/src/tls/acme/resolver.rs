//! The listener's certificate resolver: the current certificate (swapped on renewal, so open
//! connections keep theirs and new ones get the new one) and, for handshakes offering ALPN
//! `acme-tls/1`, the tls-alpn-01 challenge certificate of the name asked for.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::AcmeError;

/// The ALPN protocol of tls-alpn-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Serves the current certificate, or a challenge certificate to the CA's validator.
#[derive(Debug)]
pub struct AcmeResolver {
    current: ArcSwap<CertifiedKey>,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl AcmeResolver {
    /// Starts with `initial` (the stored, or a temporary self-signed, certificate).
    pub fn new(initial: Arc<CertifiedKey>) -> Self {
        AcmeResolver {
            current: ArcSwap::new(initial),
            challenges: RwLock::new(HashMap::new()),
        }
    }

    /// New handshakes get `cert`.
    pub fn set_current(&self, cert: Arc<CertifiedKey>) {
        self.current.store(cert);
    }

    /// Answers tls-alpn-01 for `domain` with a certificate carrying `digest` (SHA-256 of the key
    /// authorization) in the critical acmeIdentifier extension.
    pub fn add_challenge(&self, domain: &str, digest: &[u8]) -> Result<(), AcmeError> {
        let cert = challenge_cert(domain, digest)?;
        if let Ok(mut m) = self.challenges.write() {
            m.insert(domain.to_ascii_lowercase(), Arc::new(cert));
        }
        Ok(())
    }

    /// Stops answering tls-alpn-01 for `domain`.
    pub fn remove_challenge(&self, domain: &str) {
        if let Ok(mut m) = self.challenges.write() {
            m.remove(&domain.to_ascii_lowercase());
        }
    }
}

impl ResolvesServerCert for AcmeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if !acme {
            return Some(self.current.load_full());
        }
        // Only the name being validated, and only while its challenge is open.
        let name = hello.server_name()?.to_ascii_lowercase();
        self.challenges.read().ok()?.get(&name).cloned()
    }
}

fn challenge_cert(domain: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let bad = |e: rcgen::Error| AcmeError::BadCertificate(format!("tls-alpn-01 certificate: {e}"));
    if digest.len() != 32 {
        return Err(AcmeError::BadCertificate(
            "tls-alpn-01 digest is not SHA-256".into(),
        ));
    }
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(bad)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().map_err(bad)?;
    let cert = params.self_signed(&key).map_err(bad)?;
    // Not `certified`: its key check parses the certificate, and webpki rejects the critical
    // acmeIdentifier extension that is the point of this one.
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .map_err(|e| AcmeError::BadCertificate(format!("tls-alpn-01 key: {e}")))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signer))
}

/// A self-signed certificate for `domains`, served until the CA's arrives.
pub fn temporary_cert(domains: &[String]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let bad = |e: rcgen::Error| AcmeError::BadCertificate(format!("temporary certificate: {e}"));
    let params = rcgen::CertificateParams::new(domains.to_vec()).map_err(bad)?;
    let key = rcgen::KeyPair::generate().map_err(bad)?;
    let cert = params.self_signed(&key).map_err(bad)?;
    certified(cert.der().to_vec(), key.serialize_der()).map(Arc::new)
}

fn certified(cert_der: Vec<u8>, pkcs8: Vec<u8>) -> Result<CertifiedKey, AcmeError> {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pkcs8.into());
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(vec![cert_der.into()], key, &provider)
        .map_err(|e| AcmeError::BadCertificate(format!("generated certificate: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn challenge_certificate_carries_the_digest_in_a_critical_acme_extension() {
        let digest = [7u8; 32];
        let ck = challenge_cert("llm.example.com", &digest).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(ck.cert[0].as_ref()).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .unwrap();
        assert!(ext.critical);
        // DER OCTET STRING of the 32-byte SHA-256 (RFC 8737 section 3).
        assert_eq!(ext.value[..2], [0x04, 32]);
        assert_eq!(ext.value[2..], digest);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            "[DNSName(\"llm.example.com\")]"
        );
        assert!(challenge_cert("x.example.com", &[0u8; 31]).is_err());
    }

    #[test]
    fn challenges_are_kept_by_lowercase_name_until_removed() {
        let r = AcmeResolver::new(temporary_cert(&["a.example.com".into()]).unwrap());
        r.add_challenge("A.Example.com", &[1u8; 32]).unwrap();
        assert!(r.challenges.read().unwrap().contains_key("a.example.com"));
        r.remove_challenge("a.EXAMPLE.com");
        assert!(r.challenges.read().unwrap().is_empty());
    }
}
