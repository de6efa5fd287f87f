//! One certificate order: publish the challenge answers, tell the CA, wait for its verdict (with
//! the CA's own reason when a challenge fails), finalize with a fresh key, download the chain.
use std::path::PathBuf;
use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};

use super::http01::Tokens;
use super::resolver::AcmeResolver;
use super::store::Issued;
use super::{classify, AcmeError};
use crate::config::ChallengeKind;

/// Where challenge answers are published.
pub struct Responders<'a> {
    /// http-01 tokens served by the listener.
    pub tokens: &'a Tokens,
    /// tls-alpn-01 certificates served on the TLS port.
    pub resolver: &'a AcmeResolver,
    /// Directory http-01 answers are also written to, if any.
    pub challenge_dir: Option<PathBuf>,
}

/// Removes published answers however the order ends.
struct Published<'a> {
    tokens: Vec<String>,
    domains: Vec<String>,
    files: Vec<PathBuf>,
    at: &'a Responders<'a>,
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        for t in &self.tokens {
            self.at.tokens.remove(t);
        }
        for d in &self.domains {
            self.at.resolver.remove_challenge(d);
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn polling() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(Duration::from_secs(120))
}

/// Orders a certificate for `domains` from `account` (directory `url`) with challenge `kind`.
pub async fn issue(
    account: &Account,
    url: &str,
    domains: &[String],
    kind: ChallengeKind,
    at: &Responders<'_>,
) -> Result<Issued, AcmeError> {
    let challenge_type = match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
        ChallengeKind::Dns01 => return Err(AcmeError::Dns01Unsupported),
    };
    let ids: Vec<Identifier> = domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .map_err(|e| classify(url, "creating the order", e))?;
    let mut published = Published {
        tokens: Vec::new(),
        domains: Vec::new(),
        files: Vec::new(),
        at,
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(|e| classify(url, "reading an authorization", e))?;
        let domain = authz.identifier().to_string();
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::ChallengeFailed {
                    domain,
                    kind: kind.as_str(),
                    reason: format!("the CA marked the authorization {other:?}"),
                })
            }
        }
        let offered: Vec<String> = authz
            .challenges
            .iter()
            .map(|c| format!("{:?}", c.r#type))
            .collect();
        let Some(mut challenge) = authz.challenge(challenge_type.clone()) else {
            return Err(AcmeError::NoChallenge {
                domain,
                kind: kind.as_str(),
                offered: offered.join(", "),
            });
        };
        let ka = challenge.key_authorization();
        match kind {
            ChallengeKind::Http01 => {
                let token = challenge.token.clone();
                at.tokens.insert(&token, ka.as_str());
                if let Some(dir) = &at.challenge_dir {
                    let file = dir.join(&token);
                    vibectl_fsutil::write_atomic(&file, ka.as_str(), 0o644)?;
                    published.files.push(file);
                }
                published.tokens.push(token);
            }
            _ => {
                at.resolver.add_challenge(&domain, ka.digest().as_ref())?;
                published.domains.push(domain.clone());
            }
        }
        challenge
            .set_ready()
            .await
            .map_err(|e| classify(url, "answering the challenge", e))?;
    }
    // An invalid order carries a summary; the failed challenge has the CA's full reason.
    match order.poll_ready(&polling()).await {
        Ok(OrderStatus::Ready) => {}
        Ok(_) => return Err(why_invalid(&mut order, url, kind, None).await),
        Err(instant_acme::Error::Api(p)) => {
            return Err(why_invalid(&mut order, url, kind, Some(p.to_string())).await)
        }
        Err(e) => return Err(classify(url, "waiting for validation", e)),
    }
    let key_pem = order
        .finalize()
        .await
        .map_err(|e| classify(url, "finalizing the order", e))?;
    let chain_pem = order
        .poll_certificate(&polling())
        .await
        .map_err(|e| classify(url, "downloading the certificate", e))?;
    drop(published);
    Issued::parse(chain_pem, key_pem)
}

/// The CA's reason for an invalid order: the first failed challenge's problem document.
async fn why_invalid(
    order: &mut instant_acme::Order,
    url: &str,
    kind: ChallengeKind,
    summary: Option<String>,
) -> AcmeError {
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let Ok(mut authz) = authz else { continue };
        let Ok(state) = authz.refresh().await else {
            continue;
        };
        let domain = state.identifier().to_string();
        for c in &state.challenges {
            if let Some(p) = &c.error {
                return AcmeError::ChallengeFailed {
                    domain,
                    kind: kind.as_str(),
                    reason: match (&p.detail, &p.r#type) {
                        (Some(d), Some(t)) => format!("{d} ({t})"),
                        (Some(d), None) => d.clone(),
                        _ => p.to_string(),
                    },
                };
            }
        }
    }
    AcmeError::Refused {
        directory: url.to_owned(),
        step: "validation",
        detail: summary
            .unwrap_or_else(|| "the order became invalid and the CA gave no reason".into()),
    }
}
