//! `vibectl setup-proxy`: save, test, list and choose proxy profiles.
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::info::ServerInfo;
use super::url::{mask_token, ProxyUrl, UrlError};
use super::{ProxyError, ProxyTarget};
use crate::config::{valid_profile_name, Config, ConfigError, Profile};

/// A `setup-proxy` failure.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Bad URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The proxy could not be used.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The config could not be read or written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A usage problem, with what to do instead.
    #[error("{0}")]
    Usage(String),
}

/// The outcome of a successful connection test.
#[derive(Debug)]
pub struct TestReport {
    /// Where it connected.
    pub target: ProxyTarget,
    /// What the server said.
    pub info: ServerInfo,
    /// Connect plus `GetServerInfo`.
    pub round_trip: Duration,
}

impl TestReport {
    /// Human-readable report: version, default model, models with aliases, round trip.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Connected to {} ({})",
            self.target.url.masked(),
            if self.target.url.tls {
                "TLS"
            } else {
                "plain text"
            }
        );
        let name = if self.info.server_name.is_empty() {
            "vibectl-server"
        } else {
            &self.info.server_name
        };
        let _ = writeln!(s, "Server: {name} {}", self.info.server_version);
        let default = if self.info.default_model.is_empty() {
            "(none)"
        } else {
            &self.info.default_model
        };
        let _ = writeln!(s, "Default model: {default}");
        let _ = writeln!(s, "Models ({}):", self.info.models.len());
        for m in &self.info.models {
            if m.aliases.is_empty() {
                let _ = writeln!(s, "  {}", m.id);
            } else {
                let _ = writeln!(s, "  {}  (aliases: {})", m.id, m.aliases.join(", "));
            }
        }
        let _ = write!(s, "Round trip: {} ms", self.round_trip.as_millis());
        s
    }
}

/// Connects and asks for the server info, bypassing the cache.
pub async fn test(target: &ProxyTarget) -> Result<TestReport, ProxyError> {
    let start = Instant::now();
    let client = target.connect().await?;
    let info: ServerInfo = client.server_info().await?.into();
    Ok(TestReport {
        target: target.clone(),
        info,
        round_trip: start.elapsed(),
    })
}

/// Splits `configure`'s positional arguments into profile name and URL.
pub fn profile_and_url(first: &str, second: Option<&str>) -> Result<(String, String), SetupError> {
    match second {
        Some(url) => {
            if !valid_profile_name(first) {
                return Err(SetupError::Usage(format!(
                    "profile name `{first}` must be letters, digits, `-` or `_`\n  example: vibectl setup-proxy configure prod vibectl-server://llm.example.com:443"
                )));
            }
            Ok((first.to_owned(), url.to_owned()))
        }
        None if first.contains("://") => Ok(("default".to_owned(), first.to_owned())),
        None => Err(SetupError::Usage(format!(
            "missing the proxy URL for profile `{first}`\n  example: vibectl setup-proxy configure {first} vibectl-server://TOKEN@llm.example.com:443"
        ))),
    }
}

/// The target a profile would have once saved, checking that its files are readable.
pub fn prepare(
    cfg: &Config,
    url: &str,
    jwt_path: Option<&str>,
    ca_bundle: Option<&str>,
) -> Result<ProxyTarget, SetupError> {
    let parsed = ProxyUrl::parse(url)?;
    if ca_bundle.is_some() && !parsed.tls {
        return Err(SetupError::Usage(
            "--ca-bundle only applies to TLS URLs (vibectl-server://...)".into(),
        ));
    }
    if let Some(ca) = ca_bundle {
        let p = super::connect::expand_home(ca);
        if let Err(e) = std::fs::metadata(&p) {
            return Err(SetupError::Usage(format!(
                "cannot read the CA bundle {}: {e}",
                p.display()
            )));
        }
    }
    Ok(ProxyTarget::from_url(parsed, cfg, jwt_path, ca_bundle)?)
}

/// Saves a profile (and makes it active when asked).
pub fn save_profile(
    cfg: &mut Config,
    name: &str,
    url: &ProxyUrl,
    jwt_path: Option<&str>,
    ca_bundle: Option<&str>,
    activate: bool,
) -> Result<(), SetupError> {
    cfg.remove(&format!("proxy.profiles.{name}"));
    let base = format!("proxy.profiles.{name}");
    cfg.set(&format!("{base}.server_url"), &url.to_full_string())?;
    if let Some(j) = jwt_path {
        cfg.set(&format!("{base}.jwt_path"), &absolute(j))?;
    }
    if let Some(c) = ca_bundle {
        cfg.set(&format!("{base}.ca_bundle_path"), &absolute(c))?;
    }
    if activate {
        cfg.set("proxy.active", name)?;
    }
    cfg.save()?;
    Ok(())
}

fn absolute(path: &str) -> String {
    let p = super::connect::expand_home(path);
    if p.is_absolute() {
        return p.display().to_string();
    }
    std::env::current_dir()
        .map(|d| d.join(&p).display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

/// The target of the named profile, or of the active one.
pub fn target_for(cfg: &Config, name: Option<&str>) -> Result<ProxyTarget, SetupError> {
    let name = match name.map(str::to_owned).or_else(|| cfg.active_profile()) {
        Some(n) => n,
        None => {
            return Err(SetupError::Usage(
                "no proxy profile is active\n  configure one: vibectl setup-proxy configure prod vibectl-server://TOKEN@llm.example.com:443".into(),
            ))
        }
    };
    let profiles = cfg.profiles();
    let profile = profiles
        .get(&name)
        .ok_or_else(|| unknown_profile(cfg, &name))?;
    Ok(ProxyTarget::from_profile(&name, profile, cfg)?)
}

fn unknown_profile(cfg: &Config, name: &str) -> SetupError {
    let names: Vec<String> = cfg.profiles().into_keys().collect();
    let known = if names.is_empty() {
        "none configured".to_owned()
    } else {
        names.join(", ")
    };
    SetupError::Usage(format!("no proxy profile named `{name}` (profiles: {known})\n  see them with: vibectl setup-proxy list"))
}

/// `status`: the active profile and settings, token masked.
pub fn status(cfg: &Config) -> String {
    let mut s = String::new();
    match cfg.active_profile() {
        None => {
            let _ = writeln!(s, "Mode: direct (no proxy profile active)");
        }
        Some(name) => {
            let _ = writeln!(s, "Mode: proxy");
            let _ = writeln!(s, "Active profile: {name}");
            match cfg.profiles().get(&name) {
                Some(p) => describe(&mut s, p),
                None => {
                    let _ = writeln!(s, "  (profile missing from the config; run vibectl setup-proxy set-active NAME)");
                }
            }
        }
    }
    let _ = writeln!(s, "Timeout: {} s", cfg.int("proxy.timeout_seconds"));
    let _ = writeln!(s, "Retry attempts: {}", cfg.int("proxy.retry_attempts"));
    if let Ok(t) = std::env::var("VIBECTL_JWT_TOKEN") {
        let _ = writeln!(s, "VIBECTL_JWT_TOKEN: {}", mask_token(&t));
    }
    if let Ok(c) = std::env::var("VIBECTL_CA_BUNDLE") {
        let _ = writeln!(s, "VIBECTL_CA_BUNDLE: {c}");
    }
    let _ = write!(s, "Profiles: {}", cfg.profiles().len());
    s
}

fn describe(s: &mut String, p: &Profile) {
    let url = ProxyUrl::parse(&p.server_url)
        .map(|u| u.masked())
        .unwrap_or_else(|e| format!("invalid ({})", e.reason));
    let _ = writeln!(s, "  Server URL: {url}");
    if let Some(j) = &p.jwt_path {
        let _ = writeln!(s, "  JWT file: {j}");
    }
    if let Some(c) = &p.ca_bundle_path {
        let _ = writeln!(s, "  CA bundle: {c}");
    }
}

/// `list`: every profile, the active one marked.
pub fn list(cfg: &Config) -> String {
    let profiles = cfg.profiles();
    if profiles.is_empty() {
        return "No proxy profiles. Add one: vibectl setup-proxy configure prod vibectl-server://TOKEN@llm.example.com:443".into();
    }
    let active = cfg.active_profile();
    let mut s = String::new();
    for (name, p) in profiles {
        let mark = if active.as_deref() == Some(name.as_str()) {
            "*"
        } else {
            " "
        };
        let url = ProxyUrl::parse(&p.server_url)
            .map(|u| u.masked())
            .unwrap_or_else(|_| "(invalid URL)".into());
        let _ = writeln!(s, "{mark} {name}\t{url}");
    }
    s.trim_end().to_owned()
}

/// `set-active NAME`.
pub fn set_active(cfg: &mut Config, name: &str) -> Result<(), SetupError> {
    if !cfg.profiles().contains_key(name) {
        return Err(unknown_profile(cfg, name));
    }
    cfg.set("proxy.active", name)?;
    cfg.save()?;
    Ok(())
}

/// `remove NAME` (deactivating it if it was active).
pub fn remove(cfg: &mut Config, name: &str) -> Result<(), SetupError> {
    if !cfg.profiles().contains_key(name) {
        return Err(unknown_profile(cfg, name));
    }
    cfg.remove(&format!("proxy.profiles.{name}"));
    if cfg.active_profile().as_deref() == Some(name) {
        cfg.remove("proxy.active");
    }
    cfg.save()?;
    Ok(())
}

/// `disable`: back to direct mode, profiles kept.
pub fn disable(cfg: &mut Config) -> Result<(), SetupError> {
    cfg.remove("proxy.active");
    cfg.save()?;
    Ok(())
}

/// `url HOST PORT [--jwt T] [--insecure]`: builds and checks a URL.
pub fn build_url(
    host: &str,
    port: u16,
    jwt: Option<&str>,
    insecure: bool,
) -> Result<String, UrlError> {
    let scheme = if insecure {
        "vibectl-server-insecure"
    } else {
        "vibectl-server"
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let token = jwt.map(|t| format!("{}@", t.trim())).unwrap_or_default();
    let url = ProxyUrl::parse(&format!("{scheme}://{token}{host}:{port}"))?;
    Ok(url.to_full_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn configure_arguments() {
        assert_eq!(
            profile_and_url("vibectl-server://h", None).unwrap().0,
            "default"
        );
        assert_eq!(profile_and_url("prod", Some("u")).unwrap().0, "prod");
        assert!(profile_and_url("prod", None).is_err());
        assert!(profile_and_url("bad name", Some("u")).is_err());
    }

    #[test]
    fn urls_from_parts() {
        assert_eq!(
            build_url("::1", 8080, None, true).unwrap(),
            "vibectl-server-insecure://[::1]:8080"
        );
        assert_eq!(
            build_url("h", 443, Some("tok"), false).unwrap(),
            "vibectl-server://tok@h:443"
        );
        assert!(build_url("bad host", 1, None, false).is_err());
    }

    #[test]
    fn profiles_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::load_from(dir.path().join("config.yaml")).unwrap();
        let url = ProxyUrl::parse("vibectl-server://secrettoken123@h:443").unwrap();
        save_profile(&mut cfg, "prod", &url, None, None, true).unwrap();
        let st = status(&cfg);
        assert!(
            st.contains("Active profile: prod") && !st.contains("secrettoken123"),
            "{st}"
        );
        assert!(list(&cfg).starts_with("* prod"));
        assert!(set_active(&mut cfg, "nope")
            .unwrap_err()
            .to_string()
            .contains("profiles: prod"));
        remove(&mut cfg, "prod").unwrap();
        assert!(cfg.active_profile().is_none());
    }
}
