//! The ACME account: created once per directory and kept in `<state>/acme/account.json` (0600:
//! it holds the account's private key), reused on every start.
use std::path::Path;
use std::sync::Arc;

use instant_acme::{Account, AccountCredentials, BodyWrapper, HttpClient, NewAccount};
use serde::{Deserialize, Serialize};
use vibectl_fsutil::write_atomic;

use super::{classify, AcmeError};
use crate::config::AcmeSection;

/// File name of the stored account, inside the ACME directory.
pub const ACCOUNT_FILE: &str = "account.json";

#[derive(Serialize, Deserialize)]
struct Stored {
    directory_url: String,
    email: Option<String>,
    credentials: AccountCredentials,
}

/// The HTTPS client for the directory: the system's trust store, or only `acme.ca_cert_file`.
fn http_client(cfg: &AcmeSection) -> Result<Option<Box<dyn HttpClient>>, AcmeError> {
    let Some(bundle) = &cfg.ca_cert_file else {
        return Ok(None);
    };
    let certs = crate::tls::load_certs(bundle).map_err(|e| AcmeError::Config {
        key: "acme.ca_cert_file",
        reason: e.to_string(),
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|e| AcmeError::Config {
            key: "acme.ca_cert_file",
            reason: format!("{}: {e}", bundle.display()),
        })?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| AcmeError::BadCertificate(format!("TLS client: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: hyper_util::client::legacy::Client<_, BodyWrapper<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    Ok(Some(Box::new(client)))
}

/// The stored account for `cfg.directory_url`, or a new one (stored before it is used).
pub async fn load_or_create(cfg: &AcmeSection, dir: &Path) -> Result<Account, AcmeError> {
    let path = dir.join(ACCOUNT_FILE);
    let url = cfg.directory_url.clone();
    let builder = || -> Result<_, AcmeError> {
        match http_client(cfg)? {
            Some(h) => Ok(Account::builder_with_http(h)),
            None => Account::builder().map_err(|e| classify(&url, "setting up HTTPS", e)),
        }
    };
    if let Ok(text) = std::fs::read(&path) {
        match serde_json::from_slice::<Stored>(&text) {
            Ok(s) if s.directory_url == url => {
                return builder()?
                    .from_credentials(s.credentials)
                    .await
                    .map_err(|e| classify(&url, "reading the directory", e));
            }
            Ok(_) => tracing::info!(
                directory = %url,
                "the stored ACME account is for another directory; creating one for this one"
            ),
            Err(e) => tracing::warn!(
                file = %path.display(),
                "stored ACME account unreadable ({e}); creating a new one"
            ),
        }
    }
    let contact = cfg.email.as_deref().map(|e| format!("mailto:{}", e.trim()));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            url.clone(),
            None,
        )
        .await
        .map_err(|e| classify(&url, "creating the account", e))?;
    let stored = Stored {
        directory_url: url,
        email: cfg.email.clone(),
        credentials,
    };
    let json = serde_json::to_vec_pretty(&stored)
        .map_err(|e| AcmeError::BadCertificate(format!("ACME account: {e}")))?;
    write_atomic(&path, &json, 0o600)?;
    tracing::info!(file = %path.display(), id = %account.id(), "ACME account created");
    Ok(account)
}
