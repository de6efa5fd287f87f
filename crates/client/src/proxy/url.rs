//! `vibectl-server://[TOKEN@]HOST[:PORT]` URLs (docs/wire-contract.md, "Client URLs").
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use vibectl_llm::Secret;

/// The port used when a URL names none.
pub const DEFAULT_PORT: u16 = 50051;

const EXAMPLES: &str = "valid forms:\n    vibectl-server://llm.example.com              (TLS, port 50051)\n    vibectl-server://TOKEN@llm.example.com:443\n    vibectl-server-insecure://127.0.0.1:50051      (plain text)\n    vibectl-server-insecure://[::1]:8080";

/// Why a proxy URL was refused; the message shows valid examples.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid proxy URL: {reason}\n  {EXAMPLES}")]
pub struct UrlError {
    /// What is wrong.
    pub reason: String,
}

fn err(reason: impl Into<String>) -> UrlError {
    UrlError {
        reason: reason.into(),
    }
}

/// A parsed proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// TLS (`vibectl-server`) or plain text (`vibectl-server-insecure`).
    pub tls: bool,
    /// The JWT embedded in the URL, if any.
    pub token: Option<Secret>,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    /// Port (default 50051).
    pub port: u16,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl ProxyUrl {
    /// Parses a URL; the error names the problem and shows valid examples.
    pub fn parse(input: &str) -> Result<ProxyUrl, UrlError> {
        let s = input.trim();
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| err(format!("{s:?} has no scheme")))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "vibectl-server" => true,
            "vibectl-server-insecure" => false,
            other => {
                return Err(err(format!(
                    "unknown scheme `{other}` (use vibectl-server or vibectl-server-insecure)"
                )))
            }
        };
        // One trailing slash is tolerated; anything after it is junk.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if let Some(i) = rest.find(['/', '?', '#']) {
            return Err(err(format!(
                "unexpected `{}` after the address",
                &rest[i..]
            )));
        }
        let (token, hostport) = match rest.rsplit_once('@') {
            Some((t, h)) => {
                if t.is_empty() {
                    return Err(err("empty token before `@`"));
                }
                if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(err("the token contains whitespace"));
                }
                (Some(Secret::new(t)), h)
            }
            None => (None, rest),
        };
        let (host, port_text) = split_host_port(hostport)?;
        let port = match port_text {
            None => DEFAULT_PORT,
            Some(p) => parse_port(p)?,
        };
        Ok(ProxyUrl {
            tls,
            token,
            host,
            port,
        })
    }

    /// The scheme text.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "vibectl-server"
        } else {
            "vibectl-server-insecure"
        }
    }

    /// The host as it appears in a URL (IPv6 bracketed).
    pub fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The gRPC endpoint URI (`https://HOST:PORT` or `http://HOST:PORT`).
    pub fn endpoint_uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host_for_url(), self.port)
    }

    /// The URL with its token in full, for storing in the config.
    pub fn to_full_string(&self) -> String {
        let token = self
            .token
            .as_ref()
            .map(|t| format!("{}@", t.expose()))
            .unwrap_or_default();
        format!(
            "{}://{token}{}:{}",
            self.scheme(),
            self.host_for_url(),
            self.port
        )
    }

    /// The URL with its token masked, for display.
    pub fn masked(&self) -> String {
        let token = self
            .token
            .as_ref()
            .map(|t| format!("{}@", mask_token(t.expose())))
            .unwrap_or_default();
        format!(
            "{}://{token}{}:{}",
            self.scheme(),
            self.host_for_url(),
            self.port
        )
    }
}

/// Shows a few leading characters of a secret and hides the rest.
pub fn mask_token(token: &str) -> String {
    let n = token.chars().count();
    if n <= 8 {
        "***".into()
    } else {
        format!("{}...***", token.chars().take(4).collect::<String>())
    }
}

fn split_host_port(s: &str) -> Result<(String, Option<&str>), UrlError> {
    if s.is_empty() {
        return Err(err("the host is empty"));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| err("missing `]` after the IPv6 address"))?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| err(format!("`{addr}` is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| err(format!("unexpected `{p}` after the IPv6 address")))?,
            ),
        };
        return Ok((addr.to_owned(), port));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if host.is_empty() {
        return Err(err("the host is empty"));
    }
    if host.contains(':') || port.is_some_and(|p| p.contains(':')) {
        return Err(err("IPv6 addresses must be in brackets, e.g. [::1]"));
    }
    check_host_name(host)?;
    Ok((host.to_owned(), port))
}

fn check_host_name(host: &str) -> Result<(), UrlError> {
    if host.len() > 253 {
        return Err(err("the host name is longer than 253 characters"));
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return host
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| err(format!("`{host}` is not an IPv4 address")));
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(err(format!("`{host}` is not a valid host name")));
        }
    }
    Ok(())
}

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!("port `{p}` is not a number from 1 to 65535")));
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(err(format!("port `{p}` is outside 1-65535"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms() {
        let u = ProxyUrl::parse("vibectl-server://tok123456789@llm.example.com:443").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "llm.example.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.token.as_ref().unwrap().expose(), "tok123456789");
        assert_eq!(u.endpoint_uri(), "https://llm.example.com:443");
        assert_eq!(
            u.masked(),
            "vibectl-server://tok1...***@llm.example.com:443"
        );
        let u = ProxyUrl::parse("vibectl-server-insecure://[::1]").unwrap();
        assert!(!u.tls);
        assert_eq!(u.port, 50051);
        assert_eq!(u.endpoint_uri(), "http://[::1]:50051");
        assert!(ProxyUrl::parse("vibectl-server://10.0.0.1:1/").is_ok());
    }

    #[test]
    fn refusals_show_examples() {
        for bad in [
            "http://h:1",
            "vibectl-server://",
            "vibectl-server://h:0",
            "vibectl-server://h:65536",
            "vibectl-server://h:1/path",
            "vibectl-server://h:1x",
            "vibectl-server://::1",
            "vibectl-server://[::1",
            "vibectl-server://@h",
            "vibectl-server://300.1.1.1",
            "llm.example.com:443",
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("vibectl-server-insecure://127.0.0.1:50051"),
                "{bad}: {e}"
            );
        }
    }

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}[a-z0-9](\\.[a-z][a-z0-9]{0,8}){0,3}",
            any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
            any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = ProxyUrl::parse(&s);
            let _ = ProxyUrl::parse(&format!("vibectl-server://{s}"));
        }

        #[test]
        fn round_trips(tls in any::<bool>(), token in proptest::option::of("[A-Za-z0-9._-]{1,40}"),
                       host in host(), port in proptest::option::of(1u16..=65535)) {
            let scheme = if tls { "vibectl-server" } else { "vibectl-server-insecure" };
            let tok = token.clone().map(|t| format!("{t}@")).unwrap_or_default();
            let p = port.map(|p| format!(":{p}")).unwrap_or_default();
            let url = ProxyUrl::parse(&format!("{scheme}://{tok}{host}{p}")).unwrap();
            prop_assert_eq!(url.tls, tls);
            prop_assert_eq!(url.port, port.unwrap_or(DEFAULT_PORT));
            prop_assert_eq!(url.host_for_url(), host);
            prop_assert_eq!(url.token.as_ref().map(|t| t.expose().to_owned()), token.clone());
            prop_assert_eq!(ProxyUrl::parse(&url.to_full_string()).unwrap(), url.clone());
            if let Some(t) = token.filter(|t| t.len() > 8) {
                prop_assert!(!url.masked().contains(&t));
            }
        }

        #[test]
        fn ports_out_of_range_refused(port in 65536u64..10_000_000) {
            let url = format!("vibectl-server://h:{port}");
            prop_assert!(ProxyUrl::parse(&url).is_err());
        }

        #[test]
        fn other_schemes_refused(scheme in "[a-z][a-z+-]{0,15}") {
            prop_assume!(scheme != "vibectl-server" && scheme != "vibectl-server-insecure");
            let url = format!("{scheme}://h:1");
            prop_assert!(ProxyUrl::parse(&url).is_err());
        }
    }
}
