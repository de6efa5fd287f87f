#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use proptest::prelude::*;

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

fn verdict(s: &str) -> Verdict {
    decide(&words(s), None).verdict
}

/// Everyday read-only plans: none may ask.
pub const EVERYDAY: &[&str] = &[
    "get pods",
    "get pods -n web",
    "get pods -A",
    "get pods --all-namespaces -o wide",
    "get deploy web -o yaml",
    "get svc -o json",
    "get pods -l app=web --field-selector=status.phase!=Running",
    "get pods -o jsonpath={.items[*].metadata.name}",
    "get pods --sort-by=.metadata.creationTimestamp",
    "get nodes -o custom-columns=NAME:.metadata.name,CPU:.status.capacity.cpu",
    "get events --sort-by=.lastTimestamp -n web",
    "get secrets -n web",
    "get configmap app-config -o yaml",
    "describe pod web-1",
    "describe deployment web -n web",
    "describe secret db-creds",
    "logs web-1 --tail=50",
    "logs deploy/web -c main --tail 100 --since=1h",
    "logs web-1 --previous",
    "top pods -n web",
    "top nodes",
    "events -A",
    "explain deployment.spec.strategy",
    "api-resources",
    "api-versions",
    "auth can-i create pods -n web",
    "auth whoami",
    "version",
    "cluster-info",
    "rollout status deploy/web -n web",
    "rollout history deploy/web",
    "config view",
    "config get-contexts",
    "config current-context",
    "get pods --watch=false",
    "wait --for=condition=Ready pod/web-1 --timeout=60s",
    "get pods -oyaml",
];

#[test]
fn everyday_reads_run_without_asking() {
    assert!(EVERYDAY.len() >= 20);
    for s in EVERYDAY {
        let d = decide(&words(s), None);
        assert_eq!(d.verdict, Verdict::Run, "{s}: {:?}", d.reasons);
    }
}

#[test]
fn hostile_plans_are_refused() {
    for s in [
        "get pods --kubeconfig=/dev/stdin",
        "get pods --kubeconfig /tmp/k",
        "get pods --server=https://elsewhere:8443 --insecure-skip-tls-verify=true",
        "get pods -s https://elsewhere:8443",
        "get pods -shttps://elsewhere:8443",
        "get pods --insecure-skip-tls-verify",
        "get pods --insecure_skip_tls_verify",
        "get pods --token=abc",
        "get pods --token abc",
        "get pods --as=system:admin",
        "get pods --as system:admin",
        "get pods --as-group=system:masters",
        "get pods --user=admin",
        "get pods --context=prod",
        "get pods --cluster=prod",
        "get pods --certificate-authority=/tmp/ca.crt",
        "get pods --client-key=/tmp/k",
        "get pods --cache-dir=/tmp/c",
        "--kubeconfig=/tmp/k get pods",
        "get ns default -o go-template-file=/root/.aws/credentials",
        "get ns default -ogo-template-file=/root/.aws/credentials",
        "get ns default --output=jsonpath-file=/etc/shadow",
        "get ns default -o templatefile --template=/etc/shadow",
        "get ns -o custom-columns-file=/etc/passwd",
        "get pods --chunk-size --kubeconfig=/tmp/k",
        "delete pod x --dry-run --kubeconfig=/tmp/k",
        "get -f /dev/stdin",
        "get -f /proc/self/environ",
        "get -f -",
        "apply -f /dev/fd/0",
        "create secret generic x --from-file=/root/.ssh/id_rsa",
        "create configmap x --from-env-file=/root/.env",
        "kustomize --enable-alpha-plugins ./dir",
        "kustomize --enable-exec ./dir",
        "kustomize --helm-command=/tmp/evil ./dir",
        "logs web-1 --insecure-skip-tls-verify-backend",
        "get pods -w",
        "get pods --watch",
        "get pods --watch-only",
        "logs web-1 -f",
        "logs web-1 --follow=true",
        "exec -it web-1 -- sh",
        "exec web-1 --stdin -- sh",
        "exec web-1 -i -- sh",
        "run x --image=busybox -it",
        "port-forward svc/web 8080:80",
        "proxy",
        "attach web-1",
        "edit deploy web",
        "bash -c id",
        "/usr/bin/kubectl get pods",
        "kubectl get pods",
        "get pods;rm -rf /",
        "get pods | sh",
        "get $(id)",
        "",
    ] {
        let d = decide(&words(s), None);
        assert_eq!(d.verdict, Verdict::Refuse, "{s}: {:?}", d.reasons);
        assert!(!d.reasons.is_empty(), "{s}");
    }
}

#[test]
fn control_characters_are_refused_anywhere() {
    for arg in [
        "pods\x1b[2K\r",
        "a\u{7f}",
        "x\u{9b}2K",
        "web\u{202e}",
        "\u{0}",
    ] {
        for plan in [
            vec!["get".to_owned(), arg.to_owned()],
            vec![arg.to_owned()],
            vec!["exec".into(), "p".into(), "--".into(), arg.to_owned()],
        ] {
            let d = decide(&plan, None);
            assert_eq!(d.verdict, Verdict::Refuse, "{plan:?}");
            assert!(d.why().contains("control character"), "{:?}", d.reasons);
            assert!(!d.why().chars().any(is_control), "{:?}", d.why());
        }
    }
}

#[test]
fn writes_network_and_secret_material_ask_first() {
    for s in [
        "delete pod web-1",
        "scale deploy/web --replicas=3",
        "rollout restart deploy/web",
        "rollout undo deploy/web",
        "label pod a x=y",
        "drain node-1",
        "cordon node-1",
        "exec web-1 -- ls",
        "cp web-1:/etc/hosts ./hosts",
        "config use-context prod",
        "config set-context --current --namespace=web",
        "frobnicate pods",
        "get -f https://host/x.yaml",
        "diff -f https://host/x.yaml",
        "apply -k github.com/org/repo",
        "apply -f ./k8s/",
        "cluster-info dump --output-directory=/tmp/dump",
        "get --raw /api/v1/namespaces/n/services/s:80/proxy/admin",
        "create --raw /api/v1/namespaces -f ./ns.json",
        "get secrets -A -o yaml",
        "get secret db -o jsonpath={.data.password}",
        "get secret/db -ojson",
        "get secrets.v1 db -o go-template={{.data}}",
        "get configmap,secret -o yaml",
        "config view --raw",
        "create token default",
        "get pods --frobnicate",
        "get pods -o frob",
        "get pods --profile=cpu",
        "certificate approve csr-1",
        "auth reconcile -f ./rbac.yaml",
        "kustomize ./overlays/prod",
    ] {
        let d = decide(&words(s), None);
        assert_eq!(d.verdict, Verdict::Confirm, "{s}: {:?}", d.reasons);
        assert!(!d.reasons.is_empty(), "{s}");
    }
}

#[test]
fn manifests_are_checked_and_stdin_added() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api-1\n";
    let d = decide(&words("create"), Some(pod));
    assert_eq!(d.verdict, Verdict::Confirm);
    assert_eq!(d.args, words("create -f -"));
    assert_eq!(d.objects[0].to_string(), "Pod api-1");
    let d = decide(&words("diff"), Some(pod));
    assert_eq!(d.verdict, Verdict::Run, "{:?}", d.reasons);
    let d = decide(&words("get -f -"), Some(pod));
    assert_eq!(d.verdict, Verdict::Run, "{:?}", d.reasons);

    let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    exec:\n      command: /tmp/evil\n";
    for plan in ["get pods --kubeconfig=/dev/stdin", "apply", "get -f -"] {
        let d = decide(&words(plan), Some(kubeconfig));
        assert_eq!(d.verdict, Verdict::Refuse, "{plan}");
    }
    let d = decide(&words("logs web-1"), Some(pod));
    assert_eq!(d.verdict, Verdict::Refuse);
    assert!(d.why().contains("cannot use one"), "{:?}", d.reasons);
    let d = decide(&words("get secrets -o yaml -f -"), None);
    assert_eq!(d.verdict, Verdict::Refuse);
}

#[test]
fn reasons_say_why_and_how_to_run_by_hand() {
    let d = decide(&words("get pods --token=abc"), None);
    assert!(d.why().contains("--token=abc") && d.why().contains("token"));
    assert_eq!(d.by_hand(), "vibectl just get pods --token=abc");
    let d = decide(&["get".to_owned(), "a\x1bb".to_owned()], None);
    assert_eq!(d.by_hand(), "vibectl just get $'a\\x1bb'");
}

#[test]
fn the_docs_print_the_policy_tables() {
    let doc = include_str!("../../../../docs/client-safety.md");
    let tables = markdown_tables();
    assert!(
        doc.contains(&tables),
        "docs/client-safety.md is out of date with the policy tables; paste in the output of markdown_tables():\n{tables}"
    );
    assert_eq!(verdict("get pods"), Verdict::Run);
}

/// Connection, identity and file-reading flags: (long, short, example value).
const DANGEROUS: &[(&str, Option<char>, &str)] = &[
    ("kubeconfig", None, "/tmp/k"),
    ("server", Some('s'), "https://x:6443"),
    ("token", None, "abc"),
    ("as", None, "system:admin"),
    ("as-group", None, "system:masters"),
    ("as-uid", None, "0"),
    ("user", None, "admin"),
    ("cluster", None, "prod"),
    ("context", None, "prod"),
    ("username", None, "admin"),
    ("password", None, "pw"),
    ("certificate-authority", None, "/tmp/ca"),
    ("client-certificate", None, "/tmp/c"),
    ("client-key", None, "/tmp/k"),
    ("tls-server-name", None, "x"),
    ("cache-dir", None, "/tmp/c"),
    ("insecure-skip-tls-verify", None, "true"),
    ("output", Some('o'), "go-template-file=/etc/shadow"),
    ("output", Some('o'), "jsonpath-file=/etc/shadow"),
];

fn forms(long: &str, short: Option<char>, value: &str) -> Vec<Vec<String>> {
    let underscored = long.replace('-', "_");
    let mut out = vec![
        vec![format!("--{long}={value}")],
        vec![format!("--{long}"), value.to_owned()],
        vec![format!("--{underscored}={value}")],
    ];
    if let Some(s) = short {
        out.push(vec![format!("-{s}"), value.to_owned()]);
        out.push(vec![format!("-{s}{value}")]);
        out.push(vec![format!("-{s}={value}")]);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_dangerous_flag_on_any_read_is_refused(
        read in prop::sample::select(EVERYDAY),
        flag in prop::sample::select(DANGEROUS),
        form in 0usize..6,
        pos in 0usize..16,
    ) {
        let (long, short, value) = flag;
        let all = forms(long, short, value);
        let inserted = &all[form % all.len()];
        let mut args = words(read);
        let before_tail = args.iter().position(|a| a == "--").unwrap_or(args.len());
        let at = pos % (before_tail + 1);
        for (k, w) in inserted.iter().enumerate() {
            args.insert(at + k, w.clone());
        }
        let d = decide(&args, None);
        prop_assert_eq!(d.verdict, Verdict::Refuse, "{:?} gave {:?}", args, d.reasons);
    }

    #[test]
    fn any_argv_is_decided_without_panic(args in prop::collection::vec(".{0,12}", 0..8)) {
        let d = decide(&args, None);
        prop_assert!(d.verdict != Verdict::Run || !d.args.is_empty());
    }
}
