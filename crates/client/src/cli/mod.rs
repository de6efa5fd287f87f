//! Command-line definitions (clap derive); every subcommand's help ends with examples.
mod groups;
mod kube;

use clap::{Args, Parser, Subcommand};

pub use crate::settings::{LogLevel, MetricsMode, Mode};
pub use groups::*;
pub use kube::{CommonArgs, KubectlArgs, LiveArgs, Split};

/// The examples of a kubectl-style command: plain, and its vibe form.
macro_rules! kube_help {
    ($verb:literal, $args:literal, $request:literal) => {
        concat!(
            "Examples:\n  vibectl ", $verb, " ", $args, "\n  vibectl ", $verb, " vibe \"", $request,
            "\"\n\n`vibe \"REQUEST\"` plans the exact command (checked by the safety policy, confirmed\n",
            "when it changes the cluster); vibectl's own flags may come before or after the arguments."
        )
    };
}

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

/// Options accepted by every command (the reference's global options, plus kubectl's).
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
    /// Run mutating commands without asking (refused commands stay refused); same as --mode auto.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Execution mode for this command: manual (confirm changes), auto (no confirmations),
    /// semiauto (confirm every step).
    #[arg(
        long,
        global = true,
        value_enum,
        ignore_case = true,
        value_name = "MODE"
    )]
    pub mode: Option<Mode>,
    /// LLM metrics to print: none, total (per command), sub (per call) or all.
    #[arg(
        long,
        global = true,
        value_enum,
        ignore_case = true,
        value_name = "WHICH"
    )]
    pub show_metrics: Option<MetricsMode>,
    /// Print each kubectl command before it runs (display.show_kubectl).
    #[arg(long, global = true, overrides_with = "no_show_kubectl")]
    pub show_kubectl: bool,
    /// Don't print kubectl commands.
    #[arg(long, global = true, overrides_with = "show_kubectl")]
    pub no_show_kubectl: bool,
    /// Stream the summary as it arrives (display.show_streaming).
    #[arg(long, global = true, overrides_with = "no_show_streaming")]
    pub show_streaming: bool,
    /// Print the summary only when it is complete.
    #[arg(long, global = true, overrides_with = "show_streaming")]
    pub no_show_streaming: bool,
    /// Print kubectl's output before the summary (display.show_raw_output).
    #[arg(long, global = true, overrides_with = "no_show_raw_output")]
    pub show_raw_output: bool,
    /// Don't print kubectl's output.
    #[arg(long, global = true, overrides_with = "show_raw_output")]
    pub no_show_raw_output: bool,
    /// Diagnostics on stderr: DEBUG prints each LLM call and kubectl argv (system.log_level).
    #[arg(
        long,
        global = true,
        value_enum,
        ignore_case = true,
        value_name = "LEVEL"
    )]
    pub log_level: Option<LogLevel>,
    /// Shortcut for --log-level DEBUG.
    #[arg(long, global = true)]
    pub verbose: bool,
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

/// `vibectl rollout [OPTIONS] SUBCOMMAND`: options here apply to the subcommand, as in the
/// reference.
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// Display and memory options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The rollout subcommand.
    #[command(subcommand)]
    pub command: RolloutCommand,
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
        /// Display and memory options.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Loop `vibe` until the model says DONE, the limit is reached, or Ctrl-C; mutating
    /// commands run without asking (refused ones never run).
    #[command(
        after_help = "Examples:\n  vibectl auto \"make sure the web deployment has 3 ready pods\" --limit 5\n  vibectl auto \"check every namespace for crashing pods\" --interval 10"
    )]
    Auto {
        /// The goal.
        request: Vec<String>,
        /// Stop after this many steps (default: until DONE or Ctrl-C).
        #[arg(short = 'l', long)]
        limit: Option<u32>,
        /// Seconds to pause between steps.
        #[arg(short = 'i', long, default_value_t = 5)]
        interval: u64,
        /// Display and memory options.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// `auto` with a confirmation at every step: yes, no, yes-and, no-but, memory, or exit.
    #[command(
        after_help = "Examples:\n  vibectl semiauto \"get the web deployment healthy\"\n  vibectl semiauto --limit 3"
    )]
    Semiauto {
        /// The goal.
        request: Vec<String>,
        /// Stop after this many steps (default: until DONE, exit or Ctrl-C).
        #[arg(short = 'l', long)]
        limit: Option<u32>,
        /// Display and memory options.
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Answer whether PREDICATE holds, with read-only steps only; exit 0 true, 1 false,
    /// 2 poorly posed, 3 cannot tell (at most features.check_max_iterations steps).
    #[command(
        after_help = "Examples:\n  vibectl check \"the web deployment has 2 ready replicas\"\n  vibectl check every pod in web is running && echo yes"
    )]
    Check {
        /// The predicate, in plain words.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        predicate: Vec<String>,
        /// Display and memory options.
        #[command(flatten)]
        common: CommonArgs,
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
    /// `kubectl get ...` plus a short summary; `get vibe "REQUEST"` plans it; `-w` runs under
    /// the live display.
    #[command(after_help = kube_help!("get", "pods -n web", "the pods that are not ready"))]
    Get(KubectlArgs),
    /// `kubectl describe ...` plus a short summary.
    #[command(after_help = kube_help!("describe", "pod web-1 -n web", "why web-1 restarts"))]
    Describe(KubectlArgs),
    /// `kubectl logs ...` plus a short summary; `-f` runs under the live display.
    #[command(after_help = kube_help!("logs", "web-1 -n web --tail 200", "errors of the web pods"))]
    Logs(LiveArgs),
    /// `kubectl events ...` plus a short summary; `-w` runs under the live display.
    #[command(after_help = kube_help!("events", "-n web", "warnings in web"))]
    Events(KubectlArgs),
    /// `kubectl create ...` plus a short summary.
    #[command(after_help = kube_help!("create", "namespace web", "an nginx deployment called web"))]
    Create(KubectlArgs),
    /// `kubectl delete ...` plus a short summary.
    #[command(after_help = kube_help!("delete", "pod web-1", "the failed jobs in batch"))]
    Delete(KubectlArgs),
    /// `kubectl scale ...` plus a short summary.
    #[command(after_help = kube_help!("scale", "deployment/web --replicas=3", "the web deployment to 3 replicas"))]
    Scale(KubectlArgs),
    /// `kubectl patch ...` plus a short summary.
    #[command(after_help = kube_help!("patch", "deployment web -p '{\"spec\":{\"replicas\":3}}'", "add the label tier=web to the web deployment"))]
    Patch(KubectlArgs),
    /// Edit a resource: `kubectl edit ...`, or in vibe form the model drafts a patch and you
    /// see `kubectl diff` before anything is applied (features.intelligent_edit).
    #[command(after_help = kube_help!("edit", "deployment web", "raise the web deployment's memory limit to 512Mi"))]
    Edit(KubectlArgs),
    /// `kubectl rollout status|history|undo|restart|pause|resume ...` plus a summary.
    Rollout(RolloutArgs),
    /// `kubectl diff ...` plus a short summary.
    #[command(after_help = kube_help!("diff", "-f deploy.yaml", "the web deployment against 3 replicas"))]
    Diff(KubectlArgs),
    /// `kubectl wait ...` with a live, bounded display (stops on its --timeout or Ctrl-C).
    #[command(after_help = kube_help!("wait", "deployment/web --for=condition=Available --timeout=60s", "until the web deployment is available"))]
    Wait(LiveArgs),
    /// `kubectl port-forward ...` with a live display; stops on --timeout-seconds or Ctrl-C.
    #[command(
        name = "port-forward",
        after_help = kube_help!("port-forward", "service/web 8080:80", "the web service to local port 8080")
    )]
    PortForward(LiveArgs),
    /// `kubectl cluster-info ...` plus a short summary.
    #[command(name = "cluster-info", after_help = kube_help!("cluster-info", "", "is the control plane healthy"))]
    ClusterInfo(KubectlArgs),
    /// `kubectl apply ...`; in vibe form the model drafts the manifest, you see `kubectl diff`
    /// against the live objects, and nothing is applied without your yes.
    #[command(after_help = kube_help!("apply", "-f deploy.yaml", "a deployment web with 2 nginx replicas"))]
    Apply(KubectlArgs),
    /// Show, set, update (by a short model call), freeze or clear what vibectl remembers.
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl memory show\n  vibectl memory set \"we work in namespace web\"\n  vibectl memory update \"the web team moved to namespace web2\"\n  vibectl memory freeze\n  vibectl memory clear"
    )]
    Memory(MemoryCommand),
    /// Custom instructions added to every prompt (system.custom_instructions).
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl instructions set \"always use namespace web\"\n  vibectl instructions show\n  vibectl instructions clear"
    )]
    Instructions(InstructionsCommand),
    /// List and choose the colour theme (display.theme).
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl theme list\n  vibectl theme set dark"
    )]
    Theme(ThemeCommand),
    /// Install, list, update, remove and order prompt plugins (the reference's file format).
    #[command(
        subcommand,
        after_help = "A plugin's prompt_mappings replace the built-in prompts they name (get_resource_summary,\nrollout_plan, vibe_plan, ...); the first plugin in plugins.precedence that maps a key wins.\n\nExamples:\n  vibectl plugin install my-plugin.json\n  vibectl plugin list\n  vibectl plugin precedence set my-plugin\n  vibectl plugin uninstall my-plugin"
    )]
    Plugin(PluginCommand),
    /// Show, export and locate the audit log of LLM requests (one JSON line per call).
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl audit show --limit 5\n  vibectl audit export --format csv --output audit.csv --since 1d\n  vibectl audit info --paths-only"
    )]
    Audit(AuditCommand),
    /// Read and change the client config.
    #[command(
        subcommand,
        after_help = "Examples:\n  vibectl config show\n  vibectl config set llm.model claude-4-sonnet\n  vibectl config get proxy.timeout_seconds\n  vibectl config unset llm.model\n  vibectl config info"
    )]
    Config(ConfigCommand),
    /// Configure, test and choose proxy profiles (vibectl-server).
    #[command(
        subcommand,
        name = "setup-proxy",
        after_help = "Examples:\n  vibectl setup-proxy configure prod vibectl-server://TOKEN@llm.example.com:443 --ca-bundle ca.crt\n  vibectl setup-proxy test\n  vibectl setup-proxy status"
    )]
    SetupProxy(ProxyCommand),
    /// Print the client's version, and the server's when a proxy is active; with arguments,
    /// `kubectl version ARGS` plus a summary (`version vibe "REQUEST"` plans it).
    #[command(
        after_help = "Examples:\n  vibectl version\n  vibectl version --no-proxy\n  vibectl version --client\n  vibectl version vibe \"is the server older than the client?\""
    )]
    Version(KubectlArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  vibectl completion bash > /etc/bash_completion.d/vibectl\n  vibectl completion zsh > \"${fpath[1]}/_vibectl\""
    )]
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
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
