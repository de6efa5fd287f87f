//! The plan policy (kubectl argument model, manifest check) on arbitrary argv and manifest: a
//! decision, never a panic; a plan that carries `--kubeconfig` or `--token` in any spelling the
//! argument model accepts is never run without asking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vibectl_client::kube::policy::{decide, Verdict};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (argv, manifest) = match text.split_once("\0\0") {
        Some((a, m)) => (a, Some(m)),
        None => (text, None),
    };
    let args: Vec<String> = argv.split('\0').map(str::to_owned).collect();
    let d = decide(&args, manifest);
    if args.iter().any(|a| a.starts_with("--kubeconfig") || a.starts_with("--token")) {
        assert!(!matches!(d.verdict, Verdict::Run), "ran {args:?}");
    }
});
