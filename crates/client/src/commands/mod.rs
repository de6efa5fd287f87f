//! The commands that talk to a model: vibe, auto, semiauto, check, memory update and every
//! kubectl-style command (plain: kubectl then a summary; `vibe "REQUEST"`: planned through
//! the safety policy). Each builds its [`Settings`] once and a [`Session`].
pub mod local;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{CommonArgs, GlobalArgs, KubectlArgs, LiveArgs};
use crate::config::Config;
use crate::kube::Kubectl;
use crate::model::ModelAccess;
use crate::sanitize::Hint;
use crate::settings::{Mode, Overrides, Settings};
use crate::ui::Ui;
use crate::vibe::{Security, Session, StepOutcome, VibeError};

/// The proxy profile this run uses, if any.
pub fn profile(cfg: &Config, global: &GlobalArgs) -> Option<String> {
    if global.no_proxy {
        None
    } else {
        global.proxy.clone().or_else(|| cfg.active_profile())
    }
}

/// Resolves the settings of this run.
pub fn settings(cfg: &Config, global: &GlobalArgs, common: &CommonArgs) -> Result<Settings> {
    let o: Overrides = common.overrides(global);
    Ok(Settings::resolve(cfg, profile(cfg, global).as_deref(), &o)?)
}

/// A session over `model` and `kubectl` for this run.
pub fn session<'a>(
    cfg: &Config,
    global: &GlobalArgs,
    settings: Settings,
    model: &'a dyn ModelAccess,
    kubectl: &'a Kubectl,
) -> Session<'a> {
    let ui = Ui::new(cfg).with_theme(&settings.theme);
    let security = Security::from_config(cfg, profile(cfg, global).as_deref());
    Session::new(model, kubectl, ui, settings, security)
}

/// Exit code from an i32.
pub fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

fn outcome(o: StepOutcome) -> ExitCode {
    match o {
        StepOutcome::Continue | StepOutcome::Exit => ExitCode::SUCCESS,
        StepOutcome::Done(c) | StepOutcome::Failed(c) => exit(c),
    }
}

/// How a kubectl-style command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// kubectl, then a summary.
    Summary,
    /// Under the live display (wait, port-forward, logs -f; get -w and events -w are `Summary`
    /// commands that switch to it).
    Live,
    /// `apply`: plain, or intelligent apply in vibe form.
    Apply,
    /// `edit`: the editor on a terminal, or intelligent edit in vibe form.
    Edit,
}

/// `vibectl VERB ARGS` or `vibectl VERB vibe "REQUEST"`.
pub async fn kubectl_style(
    verb: &str,
    style: Style,
    args: &KubectlArgs,
    live: Option<&LiveArgs>,
    global: &GlobalArgs,
    cfg: &Config,
) -> Result<ExitCode> {
    let mut global = global.clone();
    let mut common = args.common.clone();
    let split = args.split(&mut global, &mut common);
    let settings = settings(cfg, &global, &common)?;
    let kubectl = Kubectl::new(cfg, &global);
    let mut argv: Vec<String> = verb.split(' ').map(str::to_owned).collect();
    argv.extend(split.args.iter().cloned());
    // `--live-display` / `--no-live-display`, wherever they are on the line; on by default.
    let live_on = split
        .live_display
        .unwrap_or(live.is_none_or(|l| !l.no_live_display || l.live_display));
    let follows = verb == "logs" && argv.iter().any(|a| a == "-f" || a == "--follow");
    // `get -w` and `events -w` run under the live display, as in the reference.
    let watches = matches!(verb, "get" | "events")
        && argv
            .iter()
            .any(|a| a == "-w" || a == "--watch" || a == "--watch-only");
    let use_live = live_on
        && match style {
            Style::Live => verb != "logs" || follows,
            Style::Summary => watches,
            _ => false,
        };
    if split.vibe.is_none() && verb == "rollout undo" && settings.mode != Mode::Auto {
        // The reference asks before an undo unless the mode is auto (`--yes`, `--mode auto`).
        let resource = split
            .args
            .iter()
            .find(|a| !a.starts_with('-'))
            .map_or("the resource", String::as_str);
        let ui = Ui::new(cfg).with_theme(&settings.theme);
        let question = format!(
            "Are you sure you want to undo the rollout for {}?",
            crate::kube::quote::terminal_safe(resource)
        );
        if !ui.confirm(&question)? {
            ui.note("Operation cancelled");
            return Ok(ExitCode::SUCCESS);
        }
    }
    if split.vibe.is_none() {
        if style == Style::Edit {
            // Plain edit opens kubectl's editor on this terminal, as kubectl does.
            return Ok(exit(kubectl.run_attached(&argv)?));
        }
        if !settings.show_vibe && !use_live {
            // --no-show-vibe: kubectl's output, no model needed.
            let out = kubectl.run(&argv, None).await?;
            crate::ui::write_stdout(&out.stdout, false);
            eprint!("{}", out.stderr);
            return Ok(exit(out.code.unwrap_or(124)));
        }
    }
    let model = crate::model::open(cfg, &global).await?;
    let mut session = session(cfg, &global, settings, &*model, &kubectl);
    let result = match split.vibe {
        Some(request) => {
            if request.trim().is_empty() {
                anyhow::bail!(
                    "missing request after `vibe`\n  example: vibectl {verb} vibe \"the nginx deployment in default\""
                );
            }
            session.verb = Some(verb.to_owned());
            match style {
                Style::Apply if session.settings.intelligent_apply => {
                    session.intelligent_apply(&request).await.map(outcome)
                }
                Style::Edit if session.settings.intelligent_edit => {
                    session.intelligent_edit(&request).await.map(outcome)
                }
                Style::Edit => {
                    // Without intelligent edit, the edit is planned as a patch.
                    session.verb = Some("patch".to_owned());
                    session.step(&request).await.map(outcome)
                }
                _ => session.step(&request).await.map(outcome),
            }
        }
        None if use_live => session.run_live(&argv, None).await.map(exit),
        // `kubectl diff` exits 1 when there are differences: its answer (summarised, and the exit
        // code), not a failure.
        None if verb == "diff" => session
            .run_and_summarize(&argv, None, &[0, 1], Hint::None, None)
            .await
            .map(exit),
        None => session
            .run_and_summarize(&argv, None, &[0], Hint::None, None)
            .await
            .map(exit),
    };
    session.print_total_metrics();
    Ok(result?)
}

/// How `vibe_loop` runs: one step (`vibe`), or a loop (`auto`, `semiauto`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Loop {
    /// Loop until DONE (auto, semiauto) instead of one step.
    pub looped: bool,
    /// Confirm every step, with an exit choice.
    pub semiauto: bool,
    /// Most steps.
    pub limit: Option<u32>,
    /// Seconds between steps.
    pub interval: u64,
}

/// `vibe`, `auto`, `semiauto`.
pub async fn vibe_loop(
    request: &str,
    how: Loop,
    common: &CommonArgs,
    global: &GlobalArgs,
    cfg: &Config,
) -> Result<ExitCode> {
    let Loop {
        looped,
        semiauto,
        limit,
        interval,
    } = how;
    let mut settings = settings(cfg, global, common)?;
    if semiauto && !settings.mode_chosen {
        settings.mode = Mode::Semiauto;
    } else if looped && !semiauto && !settings.mode_chosen {
        // `auto` runs mutating commands without asking; refused ones stay refused.
        settings.mode = Mode::Auto;
    }
    let kubectl = Kubectl::new(cfg, global);
    let model = crate::model::open(cfg, global).await?;
    let session = session(cfg, global, settings, &*model, &kubectl);
    let code = if looped {
        run_loop(&session, request, limit, interval).await
    } else {
        session.step(request).await.map(outcome)
    };
    session.print_total_metrics();
    Ok(code?)
}

async fn run_loop(
    session: &Session<'_>,
    request: &str,
    limit: Option<u32>,
    interval: u64,
) -> Result<ExitCode, VibeError> {
    let name = if session.semiauto() {
        "semiauto"
    } else {
        "auto"
    };
    let mut step = 0u32;
    loop {
        step += 1;
        if limit.is_some_and(|l| step > l.max(1)) {
            session.ui.note(&format!(
                "{name}: stopped after {} steps without DONE",
                step - 1
            ));
            return Ok(ExitCode::SUCCESS);
        }
        if session.settings.show_iterations {
            match limit {
                Some(l) => session
                    .ui
                    .note(&format!("{name}: step {step} of at most {l}")),
                None => session.ui.note(&format!("{name}: step {step}")),
            }
        }
        let result = tokio::select! {
            r = session.step(request) => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("Interrupted.");
                return Ok(exit(130));
            }
        };
        match result? {
            StepOutcome::Done(c) => return Ok(exit(c)),
            StepOutcome::Exit => return Ok(ExitCode::SUCCESS),
            StepOutcome::Continue | StepOutcome::Failed(_) => {}
        }
        let more = limit.is_none_or(|l| step < l);
        if interval > 0 && more && !session.semiauto() {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("Interrupted.");
                    return Ok(exit(130));
                }
            }
        }
    }
}

/// `check PREDICATE`.
pub async fn check(
    predicate: &str,
    common: &CommonArgs,
    global: &GlobalArgs,
    cfg: &Config,
) -> Result<ExitCode> {
    let settings = settings(cfg, global, common)?;
    let kubectl = Kubectl::new(cfg, global);
    let model = crate::model::open(cfg, global).await?;
    let session = session(cfg, global, settings, &*model, &kubectl);
    let code = match session.check(predicate).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            crate::vibe::check::CANNOT_DETERMINE
        }
    };
    session.print_total_metrics();
    Ok(exit(code))
}

/// `memory update TEXT`.
pub async fn memory_update(text: &str, global: &GlobalArgs, cfg: &Config) -> Result<ExitCode> {
    let mut settings = settings(cfg, global, &CommonArgs::default())?;
    // Asked for explicitly: runs even when memory updates are frozen.
    settings.memory_enabled = true;
    let kubectl = Kubectl::new(cfg, global);
    let model = crate::model::open(cfg, global).await?;
    let session = session(cfg, global, settings, &*model, &kubectl);
    let memory = session.memory_update(text).await?;
    crate::outln!("Memory updated:\n{memory}");
    session.print_total_metrics();
    Ok(ExitCode::SUCCESS)
}
