//! The `vibectl` binary: parses the command line and dispatches.
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use clap::CommandFactory;
use vibectl_client::cli::{
    AuditCommand, Cli, Command, ConfigCommand, GlobalArgs, MemoryCommand, ProxyCommand,
};
use vibectl_client::config::Config;
use vibectl_client::kube::Kubectl;
use vibectl_client::proxy::setup;
use vibectl_client::proxy::url::ProxyUrl;
use vibectl_client::proxy::ProxyTarget;
use vibectl_client::sanitize::Hint;
use vibectl_client::ui::Ui;
use vibectl_client::vibe::{Security, Session, StepOutcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Config(cmd) => config_command(cmd),
        Command::SetupProxy(cmd) => proxy_command(cmd),
        Command::Memory(cmd) => memory_command(cmd),
        Command::Audit(cmd) => audit_command(cmd, cli.global.proxy.clone()),
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "vibectl",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Just { args } => {
            let cfg = Config::load()?;
            let code = Kubectl::new(&cfg, &cli.global).run_attached(&args)?;
            Ok(exit(code))
        }
        Command::Version => {
            vibectl_client::outln!("vibectl {}", env!("CARGO_PKG_VERSION"));
            let cfg = Config::load()?;
            let profile = cli.global.proxy.clone().or_else(|| cfg.active_profile());
            if let (Some(name), false) = (profile, cli.global.no_proxy) {
                let target = setup::target_for(&cfg, Some(&name))?;
                match runtime()?.block_on(setup::test(&target)) {
                    Ok(r) => vibectl_client::outln!(
                        "server: {} {} (profile `{name}`, {})",
                        if r.info.server_name.is_empty() {
                            "vibectl-server"
                        } else {
                            &r.info.server_name
                        },
                        r.info.server_version,
                        target.url.masked()
                    ),
                    Err(e) => vibectl_client::outln!(
                        "server: unavailable (profile `{name}`): {}",
                        e.to_string().lines().next().unwrap_or("")
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        command => {
            let cfg = Config::load()?;
            runtime()?.block_on(llm_command(command, &cli.global, &cfg))
        }
    }
}

fn config_command(cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Path => {
            vibectl_client::outln!(
                "{}",
                vibectl_client::config::config_dir()?
                    .join("config.yaml")
                    .display()
            );
        }
        ConfigCommand::Show { json } => {
            let cfg = Config::load()?;
            let eff = cfg.effective();
            if json {
                let map: serde_json::Map<String, serde_json::Value> = eff
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                        )
                    })
                    .collect();
                vibectl_client::outln!("{}", serde_json::to_string_pretty(&map)?);
            } else {
                for (k, v) in eff {
                    vibectl_client::outln!("{k}: {}", yaml_scalar(&v));
                }
            }
        }
        ConfigCommand::Get { key } => {
            let cfg = Config::load()?;
            let value = cfg.get(&key)?;
            let shown = match vibectl_client::config::schema::lookup(&key) {
                Some(spec) if spec.is_secret() && !value.is_null() => {
                    cfg.effective().get(&key).cloned().unwrap_or(value)
                }
                _ => value,
            };
            vibectl_client::outln!("{}", yaml_scalar(&shown));
        }
        ConfigCommand::Set { key, value } => {
            let mut cfg = Config::load()?;
            cfg.set(&key, &value)?;
            cfg.save().context("saving the config")?;
            vibectl_client::outln!("{key} set");
        }
        ConfigCommand::Unset { key } => {
            let mut cfg = Config::load()?;
            if cfg.unset(&key)? {
                cfg.save().context("saving the config")?;
                vibectl_client::outln!("{key} unset (back to its default)");
            } else {
                vibectl_client::outln!("{key} was not set");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn yaml_scalar(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::Null => "null".into(),
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// A single-threaded runtime, built only by commands that talk to the network.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn proxy_command(cmd: ProxyCommand) -> Result<ExitCode> {
    let mut cfg = Config::load()?;
    match cmd {
        ProxyCommand::Configure {
            profile_or_url,
            url,
            jwt_path,
            ca_bundle,
            no_test,
            activate: _,
            no_activate,
            enable_sanitization,
            enable_audit_logging,
            no_sanitization_warnings,
        } => {
            let (name, url) = setup::profile_and_url(&profile_or_url, url.as_deref())?;
            let target = setup::prepare(&cfg, &url, jwt_path.as_deref(), ca_bundle.as_deref())?;
            if !no_test {
                let report = runtime()?.block_on(setup::test(&target)).map_err(|e| {
                    anyhow::anyhow!("{e}\n  profile `{name}` was not saved; fix the problem or save it anyway with --no-test")
                })?;
                vibectl_client::outln!("{}", report.render());
            }
            let parsed = ProxyUrl::parse(&url)?;
            setup::save_profile(
                &mut cfg,
                &name,
                &parsed,
                jwt_path.as_deref(),
                ca_bundle.as_deref(),
                !no_activate,
            )?;
            let security = [
                ("sanitize_requests", enable_sanitization, "true"),
                ("audit_logging", enable_audit_logging, "true"),
                ("warn_sanitization", no_sanitization_warnings, "false"),
            ];
            if security.iter().any(|(_, on, _)| *on) {
                for (key, on, value) in security {
                    if on {
                        cfg.set(&format!("proxy.profiles.{name}.security.{key}"), value)?;
                    }
                }
                cfg.save().context("saving the config")?;
            }
            if no_activate {
                vibectl_client::outln!("Profile `{name}` saved ({}); activate it with: vibectl setup-proxy set-active {name}", parsed.masked());
            } else {
                vibectl_client::outln!("Profile `{name}` saved and active ({})", parsed.masked());
            }
        }
        ProxyCommand::Test { url, timeout } => {
            let mut target = match url {
                Some(u) => ProxyTarget::from_url(ProxyUrl::parse(&u)?, &cfg, None, None)?,
                None => setup::target_for(&cfg, None)?,
            };
            if let Some(t) = timeout {
                target.timeout = std::time::Duration::from_secs(t.clamp(1, 300));
            }
            let report = runtime()?.block_on(setup::test(&target))?;
            vibectl_client::outln!("{}", report.render());
        }
        ProxyCommand::Status => vibectl_client::outln!("{}", setup::status(&cfg)),
        ProxyCommand::List => vibectl_client::outln!("{}", setup::list(&cfg)),
        ProxyCommand::SetActive { name } => {
            setup::set_active(&mut cfg, &name)?;
            vibectl_client::outln!("Active proxy profile: {name}");
        }
        ProxyCommand::Remove { name } => {
            setup::remove(&mut cfg, &name)?;
            vibectl_client::outln!("Profile `{name}` removed");
        }
        ProxyCommand::Disable => {
            setup::disable(&mut cfg)?;
            vibectl_client::outln!(
                "Proxy disabled: LLM calls go directly to the provider (profiles kept)"
            );
        }
        ProxyCommand::Url {
            host,
            port,
            jwt,
            insecure,
        } => {
            vibectl_client::outln!(
                "{}",
                setup::build_url(&host, port, jwt.as_deref(), insecure)?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

fn audit_command(cmd: AuditCommand, proxy_profile: Option<String>) -> Result<ExitCode> {
    use vibectl_client::audit::{self, ExportFormat, InfoFormat, InfoRow};
    use vibectl_client::vibe::calls::{audit_path, security_value};
    let cfg = Config::load()?;
    let enabled = |p: Option<&str>| {
        security_value(&cfg, p, "audit_logging")
            .as_bool()
            .unwrap_or(true)
    };
    let since = |s: Option<String>| -> Result<_> {
        s.map(|s| audit::parse_since(&s, std::time::SystemTime::now()))
            .transpose()
            .map_err(Into::into)
    };
    match cmd {
        AuditCommand::Show { since: when, limit } => {
            let profile = proxy_profile.or_else(|| cfg.active_profile());
            if !enabled(profile.as_deref()) {
                eprintln!("Audit logging is disabled for this profile.");
                return Ok(ExitCode::SUCCESS);
            }
            let path = audit_path(&cfg, profile.as_deref());
            let read = audit::read_entries(&path, since(when)?, (limit > 0).then_some(limit))?;
            if read.entries.is_empty() {
                vibectl_client::outln!("No audit entries found.");
            } else {
                let name = profile.as_deref().unwrap_or("direct");
                vibectl_client::outln!("{}", audit::render_show(name, &read.entries).trim_end());
            }
            if read.skipped > 0 {
                eprintln!(
                    "({} malformed lines in {} were skipped)",
                    read.skipped,
                    path.display()
                );
            }
        }
        AuditCommand::Export {
            format,
            output,
            since: when,
        } => {
            let format: ExportFormat = format.parse()?;
            let profile = proxy_profile.or_else(|| cfg.active_profile());
            let path = audit_path(&cfg, profile.as_deref());
            let read = audit::read_entries(&path, since(when)?, None)?;
            let text = audit::render_export(&read.entries, format);
            match output {
                Some(file) => {
                    let file = vibectl_client::proxy::connect::expand_home(&file);
                    std::fs::write(&file, format!("{text}\n"))
                        .with_context(|| format!("writing {}", file.display()))?;
                    vibectl_client::outln!(
                        "Exported {} entries to {}",
                        read.entries.len(),
                        file.display()
                    );
                }
                None => vibectl_client::ui::write_stdout(&text, false),
            }
        }
        AuditCommand::Info { paths_only, format } => {
            let format: InfoFormat = format.parse()?;
            let mut names: Vec<Option<String>> = match proxy_profile {
                Some(p) => vec![Some(p)],
                None => cfg.profiles().into_keys().map(Some).collect(),
            };
            if names.is_empty() {
                names.push(None);
            }
            let rows: Vec<InfoRow> = names
                .iter()
                .map(|p| {
                    let p = p.as_deref();
                    InfoRow::new(
                        p.unwrap_or("(direct)").to_owned(),
                        enabled(p),
                        audit_path(&cfg, p),
                    )
                })
                .collect();
            vibectl_client::ui::write_stdout(&audit::render_info(&rows, format, paths_only), false);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn memory_command(cmd: MemoryCommand) -> Result<ExitCode> {
    let mut cfg = Config::load()?;
    let max = usize::try_from(cfg.int("memory.max_chars")).unwrap_or(1500);
    match cmd {
        MemoryCommand::Show => {
            let m = vibectl_client::memory::get(&cfg);
            if m.trim().is_empty() {
                vibectl_client::outln!("(memory is empty)");
            } else {
                vibectl_client::outln!("{}", m.trim_end());
            }
        }
        MemoryCommand::Set { text } => {
            vibectl_client::memory::save(&mut cfg, &text.join(" "), max)?;
            vibectl_client::outln!("Memory set");
        }
        MemoryCommand::Clear => {
            vibectl_client::memory::clear(&mut cfg)?;
            vibectl_client::outln!("Memory cleared");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Commands that talk to a model: vibe, auto, get, describe, logs, events.
async fn llm_command(command: Command, global: &GlobalArgs, cfg: &Config) -> Result<ExitCode> {
    let kubectl = Kubectl::new(cfg, global);
    let ui = Ui::new(cfg);
    // Wrappers with --raw never need a model.
    let (verb, raw_args) = match &command {
        Command::Get(a) => ("get", Some(a)),
        Command::Describe(a) => ("describe", Some(a)),
        Command::Logs(a) => ("logs", Some(a)),
        Command::Events(a) => ("events", Some(a)),
        _ => ("", None),
    };
    if let Some(a) = raw_args {
        let mut global = global.clone();
        let (rest, raw) = a.split(&mut global);
        let mut args = vec![verb.to_owned()];
        args.extend(rest);
        if raw {
            let out = kubectl.run(&args, None).await?;
            vibectl_client::ui::write_stdout(&out.stdout, false);
            eprint!("{}", out.stderr);
            return Ok(exit(out.code.unwrap_or(124)));
        }
        let model = vibectl_client::model::open(cfg, &global).await?;
        let session = session(cfg, &global, &*model, &kubectl, ui);
        let code = session
            .run_and_summarize(&args, None, &[0], Hint::None, None)
            .await?;
        return Ok(exit(code));
    }
    let model = vibectl_client::model::open(cfg, global).await?;
    let mut session = session(cfg, global, &*model, &kubectl, ui);
    match command {
        Command::Vibe { request } => match session.step(&request.join(" ")).await? {
            StepOutcome::Continue => Ok(ExitCode::SUCCESS),
            StepOutcome::Done(c) | StepOutcome::Failed(c) => Ok(exit(c)),
        },
        Command::Auto {
            request,
            limit,
            interval,
        } => {
            // Mode auto runs mutating commands without asking; refused ones stay refused.
            session.yes = true;
            let request = request.join(" ");
            for step in 1..=limit.max(1) {
                ui.note(&format!("auto: step {step} of at most {limit}"));
                let outcome = tokio::select! {
                    r = session.step(&request) => r?,
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("Interrupted.");
                        return Ok(exit(130));
                    }
                };
                if let StepOutcome::Done(c) = outcome {
                    return Ok(exit(c));
                }
                if interval > 0 && step < limit {
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
                        _ = tokio::signal::ctrl_c() => {
                            eprintln!("Interrupted.");
                            return Ok(exit(130));
                        }
                    }
                }
            }
            ui.note(&format!("auto: stopped after {limit} steps without DONE"));
            Ok(ExitCode::SUCCESS)
        }
        _ => anyhow::bail!("internal: unexpected command"),
    }
}

fn session<'a>(
    cfg: &Config,
    global: &GlobalArgs,
    model: &'a dyn vibectl_client::model::ModelAccess,
    kubectl: &'a Kubectl,
    ui: Ui,
) -> Session<'a> {
    let profile = if global.no_proxy {
        None
    } else {
        global.proxy.clone().or_else(|| cfg.active_profile())
    };
    let mode =
        vibectl_client::vibe::calls::security_value(cfg, profile.as_deref(), "confirmation_mode");
    Session {
        model,
        kubectl,
        ui,
        // confirmation_mode none: confirmations are skipped (refusals stay), as with --yes.
        yes: global.yes || mode.as_str() == Some("none"),
        show_metrics: global.show_metrics || cfg.flag("display.show_metrics"),
        stream: cfg.flag("display.stream") && cfg.flag("display.show_streaming"),
        show_raw: cfg.flag("display.show_raw_output"),
        show_kubectl: cfg.flag("display.show_kubectl"),
        custom_instructions: cfg.text("system.custom_instructions"),
        memory_chars: if cfg.flag("memory.enabled") {
            usize::try_from(cfg.int("memory.max_chars")).unwrap_or(1500)
        } else {
            0
        },
        security: Security::from_config(cfg, profile.as_deref()),
    }
}
