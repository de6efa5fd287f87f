//! The JWT front end (size cap, header, key choice, claims) on arbitrary tokens: a refusal, never
//! a panic, and never a subject for a token we did not sign.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vibectl_server::auth::{load_keyset, Secret, Verifier};
use vibectl_server::config::JwtSection;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let jwt = JwtSection {
            enabled: true,
            secret_key: Some(Secret::new("fuzz-secret-fuzz-secret-fuzz-secret-0123")),
            ..JwtSection::default()
        };
        let dir = std::env::temp_dir();
        match load_keyset(&jwt, &dir, &|_| None) {
            Ok((keys, _)) => Verifier::new(&jwt, keys),
            Err(e) => panic!("fuzz key set: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let now = 1_800_000_000;
        assert!(verifier().verify(token, now).is_err(), "accepted {token:?}");
    }
});
