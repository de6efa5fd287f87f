//! Command-line definitions (clap derive); every subcommand's help ends with examples.
use clap::{Args, Parser, Subcommand};

/// vibectl: a kubectl assistant that plans with an LLM and runs the real kubectl.
#[derive(Debug, Parser)]
#[command(
    name = "vibectl",
    version,
    about,
    propagate_version = true,
    after_help = "\
Examples:
  vibectl vibe \"scale the web deployment to 3\"
  vibectl get pods -n web                 # kubectl get, plus a short summary
  vibectl just get pods -n web            # plain kubectl, no LLM
  vibectl setup-proxy configure prod vibectl-server://TOKEN@llm.example.com:443 --ca-bundle ca.crt
  vibectl config set llm.model claude-4-sonnet"
)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args, Default, Clone)]
pub struct GlobalArgs {
    /// Model id or alias for this command (overrides llm.model).
    #[arg(long, global = true, value_name = "MODEL")]
    pub model: Option<String>,
    /// Use this proxy profile for this command.
    #[arg(
        long,
        global = true,
        value_name = "PROFILE",
        conflicts_with = "no_proxy"
    )]
    pub proxy: Option<String>,
    /// Call the provider directly even if a proxy profile is active.
    #[arg(long, global = true)]
    pub no_proxy: bool,
    /// Run mutating commands without asking (refused commands stay refused).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Print tokens, cost and latency of each LLM call.
    #[arg(long, global = true)]
    pub show_metrics: bool,
    /// kubeconfig passed to kubectl.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// kubectl context.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace passed to kubectl.
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask the model to plan one kubectl step for REQUEST, run it and summarise.
    #[command(
        after_help = "Examples:\n  vibectl vibe \"get services\"\n  vibectl vibe \"delete the pod named web-1\" --yes\n  vibectl vibe            # continue from memory"
    )]
    Vibe {
        /// What you want, in plain words.
        request: Vec<String>,
    },
    /// Loop `vibe` until the model says DONE, the limit is reached, or Ctrl-C; mutating commands
    /// run without asking (refused ones never run).
    #[command(
        after_help = "Examples:\n  vibectl auto \"make sure the web deployment has 3 ready pods\" --limit 5\n  vibectl auto \"check every namespace for crashing pods\" --interval 10 --yes"
    )]
    Auto {
        /// The goal.
        request: Vec<String>,
        /// Stop after this many steps.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Seconds to pause between steps.
        #[arg(long, default_value_t = 0)]
        interval: u64,
    },
    /// Run kubectl with these arguments, without any LLM.
    #[command(
        after_help = "Examples:\n  vibectl just get pods -A\n  vibectl just apply -f deploy.yaml"
    )]
    Just {
        /// kubectl arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// `kubectl get ...` plus a short summary.
    #[command(
        after_help = "Examples:\n  vibectl get pods -n web\n  vibectl get deployments --raw"
    )]
    Get(KubectlArgs),
    /// `kubectl describe ...` plus a short summary.
    #[command(
        after_help = "Examples:\n  vibectl describe pod web-1 -n web\n  vibectl describe deployment web --raw"
    )]
    Describe(KubectlArgs),
    /// `kubectl logs ...` plus a short summary.
    #[command(
        after_help = "Examples:\n  vibectl logs web-1 -n web --tail 200\n  vibectl logs deploy/web --raw"
    )]
    Logs(KubectlArgs),
    /// `kubectl events ...` plus a short summary.
    #[command(after_help = "Examples:\n  vibectl events -n web\n  vibectl events --raw")]
    Events(KubectlArgs),
    /// Show, set or clear what vibectl remembers between runs.
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl memory show\n  vibectl memory set \"we work in namespace web\"\n  vibectl memory clear"
    )]
    Memory(MemoryCommand),
    /// Show, export and locate the audit log of LLM requests (one JSON line per call).
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl audit show --limit 5\n  vibectl audit export --format csv --output audit.csv --since 1d\n  vibectl audit info --paths-only"
    )]
    Audit(AuditCommand),
    /// Read and change the client config.
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl config show\n  vibectl config set llm.model claude-4-sonnet\n  vibectl config get proxy.timeout_seconds\n  vibectl config unset llm.model"
    )]
    Config(ConfigCommand),
    /// Configure, test and choose proxy profiles (vibectl-server).
    #[command(
        subcommand,
        name = "setup-proxy",
        after_help = "Examples:\n  vibectl setup-proxy configure prod vibectl-server://TOKEN@llm.example.com:443 --ca-bundle ca.crt\n  vibectl setup-proxy test\n  vibectl setup-proxy status"
    )]
    SetupProxy(ProxyCommand),
    /// Print the client's version, and the server's when a proxy is active.
    #[command(after_help = "Examples:\n  vibectl version\n  vibectl version --no-proxy")]
    Version,
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  vibectl completion bash > /etc/bash_completion.d/vibectl\n  vibectl completion zsh > \"${fpath[1]}/_vibectl\""
    )]
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Arguments of get/describe/logs/events.
#[derive(Debug, Args)]
pub struct KubectlArgs {
    /// Print kubectl's output only, without a summary.
    #[arg(long)]
    pub raw: bool,
    /// kubectl arguments after the verb.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `vibectl audit ...` (the reference's options; `--proxy PROFILE` is the global flag).
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print audit entries (the first LIMIT since SINCE, oldest first, as the reference does).
    #[command(
        after_help = "Examples:\n  vibectl audit show\n  vibectl audit show --proxy prod --since 2h --limit 0"
    )]
    Show {
        /// Only entries since this time: ISO 8601, epoch seconds, or relative (2h, 30m, 1d).
        #[arg(long = "since", value_name = "WHEN")]
        since: Option<String>,
        /// Number of entries (0 = all).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Export audit entries as json, jsonl or csv.
    #[command(
        after_help = "Examples:\n  vibectl audit export > audit.json\n  vibectl audit export --format jsonl --since 1d --output audit.jsonl"
    )]
    Export {
        /// json, jsonl or csv.
        #[arg(long = "format", default_value = "json", value_name = "FORMAT")]
        format: String,
        /// File to write (default: stdout).
        #[arg(long = "output", value_name = "FILE")]
        output: Option<String>,
        /// Only entries since this time.
        #[arg(long = "since", value_name = "WHEN")]
        since: Option<String>,
    },
    /// Show where each profile's audit log is, whether it is on, and its size.
    #[command(
        after_help = "Examples:\n  vibectl audit info\n  vibectl audit info --format json\n  vibectl audit info --paths-only"
    )]
    Info {
        /// Only print the log paths, one a line.
        #[arg(long)]
        paths_only: bool,
        /// table or json.
        #[arg(long = "format", default_value = "table", value_name = "FORMAT")]
        format: String,
    },
}

/// `vibectl memory ...`.
#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Print the memory.
    #[command(after_help = "Example:\n  vibectl memory show")]
    Show,
    /// Replace the memory with TEXT.
    #[command(after_help = "Example:\n  vibectl memory set \"production is in namespace prod\"")]
    Set {
        /// The new memory.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Forget everything.
    #[command(after_help = "Example:\n  vibectl memory clear")]
    Clear,
}

/// `vibectl config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective config (secrets masked).
    #[command(after_help = "Examples:\n  vibectl config show\n  vibectl config show --json")]
    Show {
        /// JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Print one value.
    #[command(after_help = "Example:\n  vibectl config get proxy.timeout_seconds")]
    Get {
        /// Dotted key.
        key: String,
    },
    /// Set one value (checked against the schema).
    #[command(
        after_help = "Examples:\n  vibectl config set llm.model claude-4-sonnet\n  vibectl config set display.color never\n  vibectl config set providers.anthropic.key_file ~/.anthropic-key"
    )]
    Set {
        /// Dotted key.
        key: String,
        /// New value.
        value: String,
    },
    /// Remove a value (back to its default).
    #[command(after_help = "Example:\n  vibectl config unset llm.model")]
    Unset {
        /// Dotted key.
        key: String,
    },
    /// Print the config file's path.
    #[command(after_help = "Example:\n  vibectl config path")]
    Path,
}

/// `vibectl setup-proxy ...`.
#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Save a proxy profile (tested and activated unless told otherwise).
    #[command(
        after_help = "Examples:\n  vibectl setup-proxy configure prod vibectl-server://TOKEN@llm.example.com:443 --ca-bundle ca.crt\n  vibectl setup-proxy configure vibectl-server-insecure://127.0.0.1:50051   # profile `default`\n  vibectl setup-proxy configure lab vibectl-server://llm.lab:443 --jwt-path ~/lab.jwt --no-test"
    )]
    Configure {
        /// Profile name, or the URL (then the profile is `default`).
        profile_or_url: String,
        /// The proxy URL.
        url: Option<String>,
        /// File holding the JWT.
        #[arg(long, value_name = "FILE")]
        jwt_path: Option<String>,
        /// PEM CA bundle to verify the server certificate.
        #[arg(long, value_name = "FILE")]
        ca_bundle: Option<String>,
        /// Save without testing the connection.
        #[arg(long)]
        no_test: bool,
        /// Make this the active profile (default).
        #[arg(long, overrides_with = "no_activate")]
        activate: bool,
        /// Save without activating.
        #[arg(long, overrides_with = "activate")]
        no_activate: bool,
        /// Turn on request sanitisation for this profile (security.sanitize_requests; on by default).
        #[arg(long)]
        enable_sanitization: bool,
        /// Turn on the audit log for this profile (security.audit_logging; on by default).
        #[arg(long)]
        enable_audit_logging: bool,
        /// Don't say what was redacted (security.warn_sanitization: false).
        #[arg(long)]
        no_sanitization_warnings: bool,
    },
    /// Connect to a proxy and print its version, default model, models and round-trip time.
    #[command(
        after_help = "Examples:\n  vibectl setup-proxy test\n  vibectl setup-proxy test vibectl-server-insecure://127.0.0.1:50051 --timeout 5"
    )]
    Test {
        /// URL to test instead of the active profile.
        url: Option<String>,
        /// Seconds to wait.
        #[arg(long, value_name = "S")]
        timeout: Option<u64>,
    },
    /// Show the active profile and settings (token masked).
    #[command(after_help = "Example:\n  vibectl setup-proxy status")]
    Status,
    /// List profiles.
    #[command(after_help = "Example:\n  vibectl setup-proxy list")]
    List,
    /// Choose the active profile.
    #[command(
        name = "set-active",
        after_help = "Example:\n  vibectl setup-proxy set-active prod"
    )]
    SetActive {
        /// Profile name.
        name: String,
    },
    /// Delete a profile.
    #[command(after_help = "Example:\n  vibectl setup-proxy remove lab")]
    Remove {
        /// Profile name.
        name: String,
    },
    /// Stop using a proxy (direct mode); profiles are kept.
    #[command(after_help = "Example:\n  vibectl setup-proxy disable")]
    Disable,
    /// Build a proxy URL from its parts.
    #[command(
        after_help = "Examples:\n  vibectl setup-proxy url llm.example.com 443 --jwt TOKEN\n  vibectl setup-proxy url 127.0.0.1 50051 --insecure"
    )]
    Url {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
        /// Token to embed.
        #[arg(long, value_name = "TOKEN")]
        jwt: Option<String>,
        /// Plain text instead of TLS.
        #[arg(long)]
        insecure: bool,
    },
}

impl KubectlArgs {
    /// Splits vibectl's own flags (`--raw`, `--show-metrics`, `--model M`, `--proxy P`,
    /// `--no-proxy`, `--yes`) out of the kubectl arguments, applying them to `global`.
    pub fn split(&self, global: &mut GlobalArgs) -> (Vec<String>, bool) {
        let mut raw = self.raw;
        let mut out = Vec::new();
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--raw" => raw = true,
                "--show-metrics" => global.show_metrics = true,
                "--no-proxy" => global.no_proxy = true,
                "--yes" => global.yes = true,
                "--model" => global.model = it.next().cloned(),
                "--proxy" => global.proxy = it.next().cloned(),
                _ => {
                    if let Some(m) = a.strip_prefix("--model=") {
                        global.model = Some(m.to_owned());
                    } else if let Some(p) = a.strip_prefix("--proxy=") {
                        global.proxy = Some(p.to_owned());
                    } else {
                        out.push(a.clone());
                    }
                }
            }
        }
        (out, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_flag_is_consistent() {
        // clap checks names, conflicts and globals only when asked (or at run time in debug).
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
