//! The arguments of the kubectl-style commands: vibectl's own options, wherever they appear
//! among kubectl's (the reference parses them anywhere on the line, as click does).
use clap::Args;

use super::GlobalArgs;
use crate::settings::{MetricsMode, Mode, Overrides};

/// The reference's per-command display and memory options.
#[derive(Debug, Args, Default, Clone)]
pub struct CommonArgs {
    /// Print the model's summary (display.show_vibe).
    #[arg(long, overrides_with = "no_show_vibe")]
    pub show_vibe: bool,
    /// Run kubectl without a summary (no model call).
    #[arg(long, overrides_with = "show_vibe")]
    pub no_show_vibe: bool,
    /// Don't update memory for this command.
    #[arg(long, conflicts_with = "unfreeze_memory")]
    pub freeze_memory: bool,
    /// Update memory for this command even if `vibectl memory freeze` is on.
    #[arg(long)]
    pub unfreeze_memory: bool,
}

/// Arguments of get/describe/events/create/delete/... : vibectl's options and kubectl's.
#[derive(Clone, Debug, Args)]
pub struct KubectlArgs {
    /// Print kubectl's output only, without a summary (same as --no-show-vibe).
    #[arg(long)]
    pub raw: bool,
    /// Display and memory options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// kubectl arguments after the verb, or `vibe "REQUEST"`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Arguments of the commands with a live display (logs, wait, port-forward).
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Show the live display while kubectl runs: the newest lines (live_display.max_lines,
    /// wrap_text, default_filter_regex) and, on a terminal, the keys [E]xit [W]rap [P]ause
    /// [S]ave [F]ilter (the default).
    #[arg(long, overrides_with = "no_live_display")]
    pub live_display: bool,
    /// kubectl's output as it comes, every line, no live display.
    #[arg(long, overrides_with = "live_display")]
    pub no_live_display: bool,
    /// kubectl's arguments and vibectl's options.
    #[command(flatten)]
    pub kube: KubectlArgs,
}

/// kubectl's arguments with vibectl's options taken out.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// What goes to kubectl (after the verb).
    pub args: Vec<String>,
    /// `Some(request)` for the vibe form.
    pub vibe: Option<String>,
    /// `--live-display` / `--no-live-display` found among the arguments.
    pub live_display: Option<bool>,
}

impl KubectlArgs {
    /// Takes vibectl's own options out of the kubectl arguments (they may follow the resource,
    /// as in the reference), applying them to `global` and `common`; `vibe REQUEST...` becomes
    /// the request.
    pub fn split(&self, global: &mut GlobalArgs, common: &mut CommonArgs) -> Split {
        let mut split = Split::default();
        if self.raw {
            common.no_show_vibe = true;
            common.show_vibe = false;
        }
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
                _ => (a.as_str(), None),
            };
            let value = |it: &mut std::slice::Iter<'_, String>| {
                inline.clone().or_else(|| it.next().cloned())
            };
            match name {
                "--raw" | "--no-show-vibe" => {
                    common.no_show_vibe = true;
                    common.show_vibe = false;
                }
                "--show-vibe" => {
                    common.show_vibe = true;
                    common.no_show_vibe = false;
                }
                "--freeze-memory" => common.freeze_memory = true,
                "--unfreeze-memory" => common.unfreeze_memory = true,
                "--show-kubectl" => (global.show_kubectl, global.no_show_kubectl) = (true, false),
                "--no-show-kubectl" => {
                    (global.show_kubectl, global.no_show_kubectl) = (false, true)
                }
                "--show-streaming" => {
                    (global.show_streaming, global.no_show_streaming) = (true, false);
                }
                "--no-show-streaming" => {
                    (global.show_streaming, global.no_show_streaming) = (false, true);
                }
                "--show-raw-output" => {
                    (global.show_raw_output, global.no_show_raw_output) = (true, false);
                }
                "--no-show-raw-output" => {
                    (global.show_raw_output, global.no_show_raw_output) = (false, true);
                }
                "--live-display" => split.live_display = Some(true),
                "--no-live-display" => split.live_display = Some(false),
                "--show-metrics" => {
                    global.show_metrics = value(&mut it).and_then(|v| MetricsMode::parse(&v));
                }
                "--mode" => global.mode = value(&mut it).and_then(|v| Mode::parse(&v)),
                "--no-proxy" => global.no_proxy = true,
                "--yes" | "-y" => global.yes = true,
                "--model" => global.model = value(&mut it),
                "--proxy" => global.proxy = value(&mut it),
                _ => split.args.push(a.clone()),
            }
        }
        if split.args.first().map(String::as_str) == Some("vibe") {
            split.vibe = Some(split.args[1..].join(" "));
            split.args.clear();
        }
        split
    }
}

impl CommonArgs {
    /// Adds the options given on a parent command (`rollout --show-vibe status ...`).
    pub fn merge(&mut self, parent: &CommonArgs) {
        self.show_vibe |= parent.show_vibe && !self.no_show_vibe;
        self.no_show_vibe |= parent.no_show_vibe && !self.show_vibe;
        self.freeze_memory |= parent.freeze_memory;
        self.unfreeze_memory |= parent.unfreeze_memory;
    }

    /// The per-command part of the settings overrides.
    pub fn overrides(&self, global: &GlobalArgs) -> Overrides {
        let pair = |on: bool, off: bool| match (on, off) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        Overrides {
            show_vibe: pair(self.show_vibe, self.no_show_vibe),
            show_kubectl: pair(global.show_kubectl, global.no_show_kubectl),
            show_streaming: pair(global.show_streaming, global.no_show_streaming),
            show_raw_output: pair(global.show_raw_output, global.no_show_raw_output),
            show_metrics: global.show_metrics,
            memory_frozen: pair(self.freeze_memory, self.unfreeze_memory),
            mode: if global.yes {
                Some(Mode::Auto)
            } else {
                global.mode
            },
            log_level: if global.verbose {
                Some(crate::settings::LogLevel::Debug)
            } else {
                global.log_level
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> KubectlArgs {
        KubectlArgs {
            raw: false,
            common: CommonArgs::default(),
            args: v.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn vibectl_options_after_the_resource_are_taken_out() {
        let mut g = GlobalArgs::default();
        let mut c = CommonArgs::default();
        let s = args(&[
            "pods",
            "--show-vibe",
            "-n",
            "web",
            "--show-metrics=all",
            "--freeze-memory",
            "--model",
            "m1",
            "--no-show-kubectl",
        ])
        .split(&mut g, &mut c);
        assert_eq!(s.args, ["pods", "-n", "web"]);
        assert!(c.show_vibe && c.freeze_memory);
        assert_eq!(g.show_metrics, Some(MetricsMode::All));
        assert_eq!(g.model.as_deref(), Some("m1"));
        assert!(g.no_show_kubectl);
        assert_eq!(s.vibe, None);
    }

    #[test]
    fn the_vibe_form_becomes_the_request() {
        let mut g = GlobalArgs::default();
        let mut c = CommonArgs::default();
        let s = args(&["vibe", "the failed jobs", "in batch", "--yes"]).split(&mut g, &mut c);
        assert_eq!(s.vibe.as_deref(), Some("the failed jobs in batch"));
        assert!(g.yes);
        let s = args(&["--raw", "pods"]).split(&mut g, &mut c);
        assert!(c.no_show_vibe && s.args == ["pods"]);
    }
}
