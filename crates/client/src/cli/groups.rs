//! The subcommand groups: audit, memory, config, setup-proxy, instructions, theme, plugin, rollout.
use clap::Subcommand;

use super::KubectlArgs;

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
    /// Replace the memory with TEXT (or the editor's text with --edit, or stdin).
    #[command(
        after_help = "Examples:\n  vibectl memory set \"production is in namespace prod\"\n  vibectl memory set --edit\n  echo \"we use namespace web\" | vibectl memory set"
    )]
    Set {
        /// The new memory.
        text: Vec<String>,
        /// Write it in $VISUAL / $EDITOR.
        #[arg(short = 'e', long)]
        edit: bool,
    },
    /// Stop updating memory after commands (memory.enabled: false).
    #[command(after_help = "Example:\n  vibectl memory freeze")]
    Freeze,
    /// Update memory after commands again (memory.enabled: true).
    #[command(after_help = "Example:\n  vibectl memory unfreeze")]
    Unfreeze,
    /// Fold TEXT into the memory with a short model call (sanitised, capped at memory.max_chars).
    #[command(
        after_help = "Example:\n  vibectl memory update \"the web team moved to namespace web2\""
    )]
    Update {
        /// What to add.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Forget everything.
    #[command(after_help = "Example:\n  vibectl memory clear")]
    Clear,
}

/// `vibectl instructions ...`.
#[derive(Debug, Subcommand)]
pub enum InstructionsCommand {
    /// Set the custom instructions (TEXT, the editor with --edit, or stdin).
    #[command(
        after_help = "Examples:\n  vibectl instructions set \"always use namespace web\"\n  vibectl instructions set --edit"
    )]
    Set {
        /// The instructions.
        text: Option<String>,
        /// Write them in $VISUAL / $EDITOR.
        #[arg(long)]
        edit: bool,
    },
    /// Print the custom instructions.
    #[command(after_help = "Example:\n  vibectl instructions show")]
    Show,
    /// Remove the custom instructions.
    #[command(after_help = "Example:\n  vibectl instructions clear")]
    Clear,
}

/// `vibectl theme ...`.
#[derive(Debug, Subcommand)]
pub enum ThemeCommand {
    /// List the themes.
    #[command(after_help = "Example:\n  vibectl theme list")]
    List,
    /// Choose a theme: default, dark, light or accessible.
    #[command(after_help = "Example:\n  vibectl theme set dark")]
    Set {
        /// Theme name.
        name: String,
    },
}

/// `vibectl plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from its JSON file (validated first).
    #[command(
        after_help = "Examples:\n  vibectl plugin install ./my-plugin.json\n  vibectl plugin install ./my-plugin.json --force --precedence first"
    )]
    Install {
        /// The plugin file.
        path: String,
        /// Replace an installed plugin with the same id.
        #[arg(long)]
        force: bool,
        /// Where to put it in plugins.precedence: first or last.
        #[arg(long, value_name = "first|last")]
        precedence: Option<String>,
    },
    /// List installed plugins and the prompts they customise.
    #[command(after_help = "Example:\n  vibectl plugin list")]
    List,
    /// Remove an installed plugin (and from plugins.precedence).
    #[command(after_help = "Example:\n  vibectl plugin uninstall my-plugin")]
    Uninstall {
        /// Plugin id.
        id: String,
    },
    /// Replace an installed plugin with a new version of its file.
    #[command(after_help = "Example:\n  vibectl plugin update my-plugin ./my-plugin-v2.json")]
    Update {
        /// Plugin id.
        id: String,
        /// The new plugin file.
        path: String,
    },
    /// Show or change the order in which plugins are consulted.
    #[command(subcommand)]
    Precedence(PrecedenceCommand),
}

/// `vibectl plugin precedence ...`.
#[derive(Debug, Subcommand)]
pub enum PrecedenceCommand {
    /// Print plugins.precedence.
    #[command(after_help = "Example:\n  vibectl plugin precedence list")]
    List,
    /// Replace plugins.precedence.
    #[command(after_help = "Example:\n  vibectl plugin precedence set team-plugin my-plugin")]
    Set {
        /// Plugin ids, highest precedence first.
        #[arg(required = true)]
        plugins: Vec<String>,
    },
    /// Add a plugin to plugins.precedence.
    #[command(after_help = "Example:\n  vibectl plugin precedence add my-plugin --position 1")]
    Add {
        /// Plugin id.
        plugin: String,
        /// Position to insert at (1-based; default: last).
        #[arg(long)]
        position: Option<usize>,
    },
    /// Remove a plugin from plugins.precedence.
    #[command(after_help = "Example:\n  vibectl plugin precedence remove my-plugin")]
    Remove {
        /// Plugin id.
        plugin: String,
    },
}

/// `vibectl rollout ...`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// `kubectl rollout status ...` plus a summary.
    #[command(
        after_help = "Examples:\n  vibectl rollout status deployment/web\n  vibectl rollout status vibe \"is the web rollout finished\""
    )]
    Status(KubectlArgs),
    /// `kubectl rollout history ...` plus a summary.
    #[command(after_help = "Example:\n  vibectl rollout history deployment/web")]
    History(KubectlArgs),
    /// `kubectl rollout undo ...` plus a summary (asks first, unless --yes or --mode auto).
    #[command(after_help = "Example:\n  vibectl rollout undo deployment/web --to-revision=1")]
    Undo(KubectlArgs),
    /// `kubectl rollout restart ...` plus a summary.
    #[command(after_help = "Example:\n  vibectl rollout restart deployment/web")]
    Restart(KubectlArgs),
    /// `kubectl rollout pause ...` plus a summary.
    #[command(after_help = "Example:\n  vibectl rollout pause deployment/web")]
    Pause(KubectlArgs),
    /// `kubectl rollout resume ...` plus a summary.
    #[command(after_help = "Example:\n  vibectl rollout resume deployment/web")]
    Resume(KubectlArgs),
    /// Plan any `kubectl rollout ...` from a request (the policy decides run / confirm / refuse).
    #[command(
        after_help = "Examples:\n  vibectl rollout vibe \"undo web to the previous version\"\n  vibectl rollout vibe \"history of the web deployment\""
    )]
    Vibe(KubectlArgs),
}

impl RolloutCommand {
    /// The rollout subcommand's name and arguments.
    pub fn parts(&self) -> (&'static str, &KubectlArgs) {
        match self {
            RolloutCommand::Status(a) => ("status", a),
            RolloutCommand::History(a) => ("history", a),
            RolloutCommand::Undo(a) => ("undo", a),
            RolloutCommand::Restart(a) => ("restart", a),
            RolloutCommand::Pause(a) => ("pause", a),
            RolloutCommand::Resume(a) => ("resume", a),
            RolloutCommand::Vibe(a) => ("vibe", a),
        }
    }
}

/// `vibectl config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective config (secrets masked), or one SECTION of it.
    #[command(
        after_help = "Examples:\n  vibectl config show\n  vibectl config show display\n  vibectl config show --json"
    )]
    Show {
        /// Only keys under this section (display, memory, proxy, ...).
        section: Option<String>,
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
    /// Show the config file's path, whether it exists, its size and last change.
    #[command(after_help = "Example:\n  vibectl config info")]
    Info,
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
        #[arg(short = 't', long, value_name = "S")]
        timeout: Option<u64>,
        /// File holding the JWT to present (instead of the profile's).
        #[arg(long, value_name = "FILE")]
        jwt_path: Option<String>,
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
        #[arg(short = 'j', long = "jwt-token", alias = "jwt", value_name = "TOKEN")]
        jwt: Option<String>,
        /// Plain text instead of TLS.
        #[arg(long)]
        insecure: bool,
    },
}
