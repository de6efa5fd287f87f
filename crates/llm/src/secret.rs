//! A string that never prints.
use std::fmt;

/// A secret value (API key, token); `Debug` and `Display` show `***` only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value, trimming surrounding whitespace (keys read from files end in newlines).
    pub fn new(value: impl Into<String>) -> Self {
        let v: String = value.into();
        Secret(v.trim().to_owned())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Serialized as the plain string: only config files written on purpose carry it.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the bytes before the allocation is freed.
        let bytes = std::mem::take(&mut self.0).into_bytes();
        let mut bytes = bytes;
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new(" sk-very-secret\n");
        assert_eq!(s.expose(), "sk-very-secret");
        assert!(!format!("{s:?}").contains("sk-"));
        assert!(!format!("{s}").contains("sk-"));
    }

    #[test]
    fn config_round_trip_keeps_the_value_and_debug_hides_it() {
        #[derive(serde::Deserialize, serde::Serialize, Debug)]
        struct Entry {
            api_key: Option<Secret>,
        }
        let e: Entry =
            serde_json::from_str(r#"{"api_key": "sk-abc "}"#).unwrap_or(Entry { api_key: None });
        assert_eq!(e.api_key.as_ref().map(Secret::expose), Some("sk-abc"));
        assert!(!format!("{e:?}").contains("sk-abc"));
        assert_eq!(
            serde_json::to_string(&e).unwrap_or_default(),
            r#"{"api_key":"sk-abc"}"#
        );
    }
}
