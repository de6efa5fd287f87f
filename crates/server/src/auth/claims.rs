//! The claims we issue and read, and the caller identity handed to handlers.
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// JWT claims. `exp`, `sub` and `iss` are required on verification; `aud` and `nbf` are honoured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Who the token is for (limits, usage and logs key on it).
    pub sub: String,
    /// Issuer, `vibectl-server` by default.
    pub iss: String,
    /// Issued at (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// Unique token id (a UUID for tokens we issue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Audience: one string or a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// The `aud` claim, which JWT allows as one string or an array.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "a"`.
    One(String),
    /// `"aud": ["a", "b"]`.
    Many(Vec<String>),
}

/// The verified caller of an RPC, put in the request extensions by the auth layer.
///
/// With authentication off every caller is [`Subject::anonymous`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    name: Arc<str>,
    jti: Option<Arc<str>>,
    authenticated: bool,
}

impl Subject {
    /// A caller proven by a token.
    pub fn verified(name: &str, jti: Option<&str>) -> Self {
        Subject {
            name: name.into(),
            jti: jti.map(Into::into),
            authenticated: true,
        }
    }

    /// The caller when authentication is off.
    pub fn anonymous() -> Self {
        Subject {
            name: "anonymous".into(),
            jti: None,
            authenticated: false,
        }
    }

    /// The token's `sub` (or `anonymous`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token's `jti`, when it had one.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }

    /// Whether a token proved this identity.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }
}

impl fmt::Debug for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subject({})", self.name)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
