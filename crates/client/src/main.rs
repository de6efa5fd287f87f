//! The `vibectl` binary: parses the command line and dispatches.
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use clap::CommandFactory;
use vibectl_client::cli::{AuditCommand, Cli, Command, ConfigCommand, MemoryCommand, ProxyCommand};
use vibectl_client::commands::{self, exit, local, Loop, Style};
use vibectl_client::config::Config;
use vibectl_client::kube::Kubectl;
use vibectl_client::proxy::setup;
use vibectl_client::proxy::url::ProxyUrl;
use vibectl_client::proxy::ProxyTarget;

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
    let global = cli.global;
    match cli.command {
        Command::Config(ConfigCommand::Info) => local::config_info(),
        Command::Config(cmd) => config_command(cmd),
        Command::SetupProxy(cmd) => proxy_command(cmd),
        Command::Memory(MemoryCommand::Update { text }) => {
            let cfg = Config::load()?;
            runtime()?.block_on(commands::memory_update(&text.join(" "), &global, &cfg))
        }
        Command::Memory(cmd) => local::memory(cmd),
        Command::Instructions(cmd) => local::instructions(cmd),
        Command::Theme(cmd) => local::theme(cmd),
        Command::Plugin(cmd) => local::plugin(cmd),
        Command::Audit(cmd) => audit_command(cmd, global.proxy.clone()),
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
            let code = Kubectl::new(&cfg, &global).run_attached(&args)?;
            Ok(exit(code))
        }
        Command::Version(a) if a.args.is_empty() => version(&global),
        command => {
            let cfg = Config::load()?;
            runtime()?.block_on(llm_command(command, &global, &cfg))
        }
    }
}

/// `vibectl version`: ours, and the server's when a proxy is active.
fn version(global: &vibectl_client::cli::GlobalArgs) -> Result<ExitCode> {
    vibectl_client::outln!("vibectl {}", env!("CARGO_PKG_VERSION"));
    let cfg = Config::load()?;
    let profile = global.proxy.clone().or_else(|| cfg.active_profile());
    if let (Some(name), false) = (profile, global.no_proxy) {
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

/// The commands that talk to a model.
async fn llm_command(
    command: Command,
    global: &vibectl_client::cli::GlobalArgs,
    cfg: &Config,
) -> Result<ExitCode> {
    match &command {
        Command::Vibe { request, common } => {
            commands::vibe_loop(&request.join(" "), Loop::default(), common, global, cfg).await
        }
        Command::Auto {
            request,
            limit,
            interval,
            common,
        } => {
            let how = Loop {
                looped: true,
                semiauto: false,
                limit: *limit,
                interval: *interval,
            };
            commands::vibe_loop(&request.join(" "), how, common, global, cfg).await
        }
        Command::Semiauto {
            request,
            limit,
            common,
        } => {
            let how = Loop {
                looped: true,
                semiauto: true,
                limit: *limit,
                interval: 0,
            };
            commands::vibe_loop(&request.join(" "), how, common, global, cfg).await
        }
        Command::Check { predicate, common } => {
            commands::check(&predicate.join(" "), common, global, cfg).await
        }
        Command::Get(a) => {
            commands::kubectl_style("get", Style::Summary, a, None, global, cfg).await
        }
        Command::Describe(a) => {
            commands::kubectl_style("describe", Style::Summary, a, None, global, cfg).await
        }
        Command::Events(a) => {
            commands::kubectl_style("events", Style::Summary, a, None, global, cfg).await
        }
        Command::Create(a) => {
            commands::kubectl_style("create", Style::Summary, a, None, global, cfg).await
        }
        Command::Delete(a) => {
            commands::kubectl_style("delete", Style::Summary, a, None, global, cfg).await
        }
        Command::Scale(a) => {
            commands::kubectl_style("scale", Style::Summary, a, None, global, cfg).await
        }
        Command::Patch(a) => {
            commands::kubectl_style("patch", Style::Summary, a, None, global, cfg).await
        }
        Command::Diff(a) => {
            commands::kubectl_style("diff", Style::Summary, a, None, global, cfg).await
        }
        Command::ClusterInfo(a) => {
            commands::kubectl_style("cluster-info", Style::Summary, a, None, global, cfg).await
        }
        Command::Version(a) => {
            commands::kubectl_style("version", Style::Summary, a, None, global, cfg).await
        }
        Command::Apply(a) => {
            commands::kubectl_style("apply", Style::Apply, a, None, global, cfg).await
        }
        Command::Edit(a) => {
            commands::kubectl_style("edit", Style::Edit, a, None, global, cfg).await
        }
        Command::Logs(l) => {
            commands::kubectl_style("logs", Style::Live, &l.kube, Some(l), global, cfg).await
        }
        Command::Wait(l) => {
            commands::kubectl_style("wait", Style::Live, &l.kube, Some(l), global, cfg).await
        }
        Command::PortForward(l) => {
            commands::kubectl_style("port-forward", Style::Live, &l.kube, Some(l), global, cfg)
                .await
        }
        Command::Rollout(r) => {
            let (sub, a) = r.command.parts();
            let mut a = a.clone();
            a.common.merge(&r.common);
            // `rollout vibe REQUEST`: any rollout subcommand, planned (the reference's spelling).
            let verb = if sub == "vibe" {
                a.args.insert(0, "vibe".to_owned());
                "rollout".to_owned()
            } else {
                format!("rollout {sub}")
            };
            commands::kubectl_style(&verb, Style::Summary, &a, None, global, cfg).await
        }
        _ => anyhow::bail!("internal: unexpected command"),
    }
}

fn config_command(cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Info => return local::config_info(),
        ConfigCommand::Path => {
            vibectl_client::outln!(
                "{}",
                vibectl_client::config::config_dir()?
                    .join("config.yaml")
                    .display()
            );
        }
        ConfigCommand::Show { section, json } => {
            let cfg = Config::load()?;
            let mut eff = cfg.effective();
            if let Some(sec) = &section {
                let prefix = format!("{sec}.");
                eff.retain(|k, _| k == sec || k.starts_with(&prefix));
                if eff.is_empty() {
                    anyhow::bail!(
                        "no config section `{sec}`\n  see all keys with: vibectl config show"
                    );
                }
            }
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
        ProxyCommand::Test {
            url,
            timeout,
            jwt_path,
        } => {
            let url = match (url, &jwt_path) {
                (Some(u), _) => Some(u),
                // --jwt-path alone: the active profile's server with this token file.
                (None, Some(_)) => cfg
                    .active_profile()
                    .and_then(|p| cfg.profiles().get(&p).map(|p| p.server_url.clone())),
                (None, None) => None,
            };
            let mut target = match url {
                Some(u) => {
                    ProxyTarget::from_url(ProxyUrl::parse(&u)?, &cfg, jwt_path.as_deref(), None)?
                }
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
