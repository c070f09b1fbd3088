//! `cally simulate`: the tenant developer's local runner.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::audit::AuditRecord;
use crate::capabilities::gate::DataUse;
use crate::component::{ComponentCache, ComponentInterface, World};
use crate::examples;
use crate::manifest::Manifest;
use crate::protocol::{Action, CallEvent};
use crate::sandbox::{LogLine, Sandbox, SandboxConfig};
use crate::session::CallOptions;
use crate::simulate::{self, CallScript, CallTrace, LeadFixture, SimulationData, TaggerTrace};

use super::{BadInput, EXIT_PLUGIN_FAILED, emit_line, read_file};

/// Arguments of `cally simulate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 the call ran; 2 bad input; 3 the plugin failed (the trace says why)."
)]
pub struct SimulateArgs {
    /// The plugin: a component built for wasm32-wasip2.
    #[arg(required_unless_present = "example", conflicts_with = "example")]
    component: Option<PathBuf>,
    /// Use a bundled example plugin instead (see `cally examples`); its sample
    /// call or summary is used unless --script or --summary is given.
    #[arg(long)]
    example: Option<String>,
    /// A call script (JSON): the events of one call, for a call-flow plugin.
    #[arg(long, conflicts_with = "summary")]
    script: Option<PathBuf>,
    /// A call summary (JSON), for a lead-tagger plugin.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Print the trace as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Per-event deadline in milliseconds (default 20; platform maximum 200).
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Memory limit in MiB (default 16; platform maximum 64).
    #[arg(long)]
    memory_mib: Option<usize>,
    /// The plugin's manifest (cally.toml): its purpose, the data it declares,
    /// its limits and fallback. Without it, `cally.toml` beside the component
    /// or in the current directory is used; with none, nothing is declared.
    /// The manifest must fit the component exactly as an upload must (world,
    /// imports, limits).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// A lead record and its consents (JSON): the call's lead, so the plugin's
    /// reads, messages and tags are decided and audited for real.
    #[arg(long)]
    lead: Option<PathBuf>,
    /// Keep the simulation's database (and audit log) in this directory
    /// instead of a temporary one.
    #[arg(long, requires = "lead")]
    data_dir: Option<PathBuf>,
}

/// Runs `cally simulate`.
pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SandboxConfig {
        max_concurrent_calls: 4,
        ..SandboxConfig::default()
    };
    let (component, example, name) = input_component(&args)?;
    let manifest = input_manifest(args.manifest.as_ref(), example, args.component.as_deref())?;
    if let Some((manifest, source)) = &manifest {
        check_fit(manifest, source, &component, &name)?;
    }
    let manifest = manifest.map(|(manifest, _)| manifest);
    let mut limits = match &manifest {
        Some(manifest) => manifest
            .plugin_limits(&config)
            .map_err(|e| BadInput(e.to_string()))?,
        None => config.default_limits,
    };
    if let Some(ms) = args.deadline_ms {
        limits.event_deadline = Duration::from_millis(ms);
    }
    if let Some(mib) = args.memory_mib {
        limits.memory_bytes = mib << 20;
    }
    config.check_limits(&limits)?;
    let sandbox = Sandbox::new(config)?;
    let cache = ComponentCache::new(sandbox.clone(), None);
    let plugin = cache.load(&component)?;
    let mut options = CallOptions::new(limits);
    if let Some(fallback) = manifest.as_ref().and_then(Manifest::fallback_actions) {
        options.fallback = fallback;
    }
    let data = match &args.lead {
        Some(path) => {
            let source = path.display().to_string();
            let fixture = LeadFixture::parse(&read_text(path)?, &source)?;
            Some(SimulationData::prepare(&fixture, &source, args.data_dir.as_deref()).await?)
        }
        None => None,
    };
    let sample = example.map(|e| e.sample);

    let (text, json, failed) = match plugin.world() {
        World::CallFlow => {
            let (input, source) =
                input_text(args.script.as_ref(), sample, "--script", World::CallFlow)?;
            let script = CallScript::parse(&input, &source)?;
            if let Some(data) = &data {
                let call_id = match &script.events[0] {
                    CallEvent::Started(started) => started.call_id.clone(),
                    _ => unreachable!("a parsed script begins with `started`"),
                };
                options.data = Some(data.gate(&call_id, &plugin, manifest.as_ref()));
            }
            let mut trace = simulate::run_call(sandbox, &plugin, &script, options.clone()).await?;
            if let Some(data) = &data {
                trace.audit = data.audit_records().await?;
            }
            let failed = trace.failure.is_some();
            (
                render_call(&name, &options, &trace),
                serde_json::to_string_pretty(&trace)?,
                failed,
            )
        }
        World::LeadTagger => {
            let (input, source) = input_text(
                args.summary.as_ref(),
                sample,
                "--summary",
                World::LeadTagger,
            )?;
            let input = simulate::parse_summary(&input, &source)?;
            if let Some(data) = &data {
                let gate = data.gate(&input.summary.call_id, &plugin, manifest.as_ref());
                gate.scope.set_transcript(input.transcript.clone());
                options.data = Some(gate);
            }
            let mut trace =
                simulate::run_tagger(sandbox, &plugin, &input.summary, &options).await?;
            if let Some(data) = &data {
                trace.audit = data.audit_records().await?;
            }
            let failed = trace.outcome.failure.is_some();
            (
                render_tagger(&name, &trace),
                serde_json::to_string_pretty(&trace)?,
                failed,
            )
        }
    };
    emit_line(if args.json { &json } else { &text })?;
    Ok(if failed {
        ExitCode::from(EXIT_PLUGIN_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The component's bytes, the bundled example if one was chosen, and a name for the trace.
fn input_component(
    args: &SimulateArgs,
) -> anyhow::Result<(Vec<u8>, Option<&'static examples::BundledExample>, String)> {
    if let Some(name) = &args.example {
        let example = examples::find(name).ok_or_else(|| {
            BadInput(format!(
                "unknown example {name:?}; bundled examples: {}",
                examples::names().join(", ")
            ))
        })?;
        return Ok((
            example.component.to_vec(),
            Some(example),
            example.name.to_owned(),
        ));
    }
    let path = args
        .component
        .as_ref()
        .expect("clap requires a component or --example");
    Ok((read_file(path)?, None, path.display().to_string()))
}

/// The manifest and its name: from `--manifest`, else the bundled
/// example's, else `cally.toml` beside the component or in the current
/// directory (said on stderr), else none (said loudly on stderr: every use of
/// personal data will be denied `not-declared`).
fn input_manifest(
    path: Option<&PathBuf>,
    example: Option<&'static examples::BundledExample>,
    component: Option<&Path>,
) -> anyhow::Result<Option<(Manifest, String)>> {
    let (text, source) = match (path, example) {
        (Some(path), _) => (read_text(path)?, path.display().to_string()),
        (None, Some(example)) => (
            example.manifest.to_owned(),
            format!("{}/cally.toml", example.name),
        ),
        (None, None) => match found_manifest(component) {
            Some(path) => {
                eprintln!(
                    "note: using the manifest {} (no --manifest given)",
                    path.display()
                );
                (read_text(&path)?, path.display().to_string())
            }
            None => {
                eprintln!(
                    "warning: no manifest: none given with --manifest, and no cally.toml beside \
                     the component or in the current directory. The plugin runs as \
                     \"unnamed-plugin\" with nothing declared: every read, message and tag is \
                     denied not-declared, and the limits and fallback are the host's defaults."
                );
                return Ok(None);
            }
        },
    };
    Manifest::parse(&text, &source)
        .map(|manifest| Some((manifest, source)))
        .map_err(|errors| BadInput(errors.to_string()).into())
}

/// `cally.toml` beside `component`, else in the current directory, if either exists.
fn found_manifest(component: Option<&Path>) -> Option<PathBuf> {
    let beside = component
        .and_then(Path::parent)
        .map(|dir| dir.join(MANIFEST_FILE));
    beside
        .into_iter()
        .chain([PathBuf::from(MANIFEST_FILE)])
        .find(|candidate| candidate.is_file())
}

/// The manifest's file name, as `cally simulate` looks for it.
const MANIFEST_FILE: &str = "cally.toml";

/// Refuses a manifest that does not fit the component, with the checks an
/// upload makes: the world's entry point exported (and not the other
/// world's), every import one the manifest can grant.
fn check_fit(
    manifest: &Manifest,
    source: &str,
    component: &[u8],
    component_name: &str,
) -> anyhow::Result<()> {
    let interface = ComponentInterface::read(component)?;
    let problems = crate::manifest::check_component(manifest, &interface);
    if problems.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "the manifest {source} ({} {}, world {}) does not fit the component {component_name}; an upload would be refused too:",
        manifest.name, manifest.version, manifest.world
    );
    for problem in problems {
        message.push_str(&format!("\n  {component_name}: {problem}"));
    }
    Err(BadInput(message).into())
}

/// Reads a UTF-8 text file, naming it if it cannot be read.
fn read_text(path: &PathBuf) -> anyhow::Result<String> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| BadInput(format!("{} is not UTF-8 text", path.display())).into())
}

/// The script or summary text and its name for error messages.
fn input_text(
    path: Option<&PathBuf>,
    sample: Option<&'static str>,
    flag: &str,
    world: World,
) -> anyhow::Result<(String, String)> {
    match (path, sample) {
        (Some(path), _) => Ok((read_text(path)?, path.display().to_string())),
        (None, Some(sample)) => Ok((sample.to_owned(), "the example's sample".to_owned())),
        (None, None) => Err(BadInput(format!(
            "this component targets world {world}: give its input with {flag} <file>"
        ))
        .into()),
    }
}

fn render_call(name: &str, options: &CallOptions, trace: &CallTrace) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Simulating {name} (call-flow, {}): deadline {} ms per event, memory {} MiB\n",
        short_digest(&trace.component),
        options.limits.event_deadline.as_millis(),
        options.limits.memory_bytes >> 20
    );
    let mut total = Duration::ZERO;
    for step in &trace.steps {
        total += step.outcome.plugin_time;
        let host = if step.outcome.host_time.is_zero() {
            String::new()
        } else {
            format!(", host {}", format_duration(step.outcome.host_time))
        };
        let _ = writeln!(
            out,
            "#{} {}   [plugin {}{host}]",
            step.number,
            describe_event(&step.event),
            format_duration(step.outcome.plugin_time)
        );
        render_log(&mut out, &step.outcome.log);
        render_data(&mut out, &step.outcome.data);
        if let Some(failure) = &step.outcome.failure {
            let _ = writeln!(out, "   ✗ {failure}");
            let _ = writeln!(out, "   fallback:");
        }
        for action in &step.outcome.actions {
            let _ = writeln!(out, "   → {}", describe_action(action));
        }
    }
    let actions: usize = trace.steps.iter().map(|s| s.outcome.actions.len()).sum();
    let _ = write!(
        out,
        "\n{} events, {} actions, plugin time {} in all",
        trace.steps.len(),
        actions,
        format_duration(total)
    );
    match &trace.failure {
        Some(failure) => {
            let _ = write!(out, "\nThe plugin failed: {failure}");
        }
        None => out.push_str("; the plugin did not fail."),
    }
    render_audit(&mut out, &trace.audit);
    out
}

fn render_data(out: &mut String, uses: &[DataUse]) {
    for used in uses {
        let audit = used
            .audit_seq
            .map(|seq| format!("audit #{seq}"))
            .unwrap_or_else(|| "not audited".into());
        match used.reason {
            None => {
                let consent = used
                    .consent_id
                    .map(|id| format!("consent {id}, "))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "   data {} for {}: allowed ({consent}{audit})",
                    used.resource, used.purpose
                );
            }
            Some(reason) => {
                let _ = writeln!(
                    out,
                    "   data {} for {}: denied {reason} ({audit}): {}",
                    used.resource,
                    used.purpose,
                    continued(used.message.as_deref().unwrap_or(""))
                );
            }
        }
    }
}

fn render_audit(out: &mut String, records: &[AuditRecord]) {
    if records.is_empty() {
        return;
    }
    let _ = write!(out, "\n\nAudit log ({} records):", records.len());
    for record in records {
        let _ = write!(
            out,
            "\n   #{} {} {} {} for {} by {}@{}{}",
            record.seq,
            record.lead.as_deref().unwrap_or("-"),
            record.resource,
            record.decision,
            record.purpose,
            record.plugin,
            record.plugin_version,
            record
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
}

fn render_tagger(name: &str, trace: &TaggerTrace) -> String {
    let mut out = render_tagger_outcome(name, trace);
    render_audit(&mut out, &trace.audit);
    out
}

fn render_tagger_outcome(name: &str, trace: &TaggerTrace) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Simulating {name} (lead-tagger, {}) on call {}\n",
        short_digest(&trace.component),
        trace.summary.call_id
    );
    render_log(&mut out, &trace.outcome.log);
    render_data(&mut out, &trace.outcome.data);
    match &trace.outcome.failure {
        Some(failure) => {
            let _ = write!(out, "   ✗ {failure}\nNo tags written.");
        }
        None if trace.outcome.tags.is_empty() => out.push_str("   no tags"),
        None => {
            // A tag the gate dropped is shown as dropped, never as written:
            // its reason is in the log and data lines above.
            let mut written = trace.outcome.written.clone();
            for tag in &trace.outcome.tags {
                match written.iter().position(|w| w == tag) {
                    Some(at) => {
                        written.remove(at);
                        let _ = writeln!(out, "   → tag {tag}");
                    }
                    None => {
                        let _ = writeln!(out, "   ✗ tag {tag} not written (dropped)");
                    }
                }
            }
            let _ = write!(
                out,
                "\nplugin time {}",
                format_duration(trace.outcome.plugin_time)
            );
        }
    }
    out
}

fn render_log(out: &mut String, log: &[LogLine]) {
    for line in log {
        let level = serde_json::to_value(line.level).ok();
        let level = level.as_ref().and_then(|v| v.as_str()).unwrap_or("log");
        let _ = writeln!(out, "   log {level}: {}", continued(&line.message));
    }
}

/// A message of several lines (a hint with the TOML to add, say) with its
/// later lines indented under the trace line it belongs to.
fn continued(message: &str) -> String {
    message.trim_end().replace('\n', "\n      ")
}

fn describe_event(event: &CallEvent) -> String {
    match event {
        CallEvent::Started(s) => format!(
            "started {} {}{} {}",
            s.call_id,
            s.direction,
            s.campaign
                .as_ref()
                .map(|c| format!(" campaign {c}"))
                .unwrap_or_default(),
            s.locale
        ),
        CallEvent::Speech {
            text,
            confidence,
            is_final,
        } => format!(
            "speech {text:?} (confidence {confidence:.2}{})",
            if *is_final { ", final" } else { ", partial" }
        ),
        CallEvent::Digits { digits } => format!("digits {digits}"),
        CallEvent::Silence { ms } => format!("silence {ms} ms"),
        CallEvent::Interrupted => "interrupted".into(),
        CallEvent::Ended { reason } => format!("ended ({reason})"),
    }
}

fn describe_action(action: &Action) -> String {
    match action {
        Action::Say { text } => format!("say {:?}", truncate(text)),
        Action::Play { asset } => format!("play {asset}"),
        Action::Gather {
            prompt,
            timeout_ms,
            max_digits,
            speech,
        } => {
            let mut inputs = Vec::new();
            if *speech {
                inputs.push("speech".to_owned());
            }
            if *max_digits > 0 {
                inputs.push(format!("up to {max_digits} digits"));
            }
            let prompt = prompt
                .as_deref()
                .map(|p| format!(": {:?}", truncate(p)))
                .unwrap_or_default();
            format!("gather {} for {timeout_ms} ms{prompt}", inputs.join(" or "))
        }
        Action::Transfer { target } => format!("transfer to {target}"),
        Action::HangUp => "hang up".into(),
        Action::SendMessage {
            channel,
            template,
            params,
        } => {
            let params: Vec<String> = params
                .iter()
                .map(|(name, value)| format!(" {name}={:?}", truncate(value)))
                .collect();
            format!("send {channel} message {template}{}", params.concat())
        }
        Action::TagLead { tag } => format!("tag lead {tag}"),
        Action::SetDisposition { disposition } => format!("disposition {disposition}"),
        Action::ScheduleCallback {
            after_minutes,
            reason,
        } => {
            format!("callback in {after_minutes} min ({reason})")
        }
    }
}

/// Long texts (a hostile plugin's, say) are cut for the terminal; `--json` has them whole.
fn truncate(text: &str) -> String {
    const SHOWN: usize = 160;
    if text.chars().count() <= SHOWN {
        return text.to_owned();
    }
    let cut: String = text.chars().take(SHOWN).collect();
    format!("{cut}… ({} bytes)", text.len())
}

fn short_digest(digest: &str) -> String {
    digest.chars().take(19).collect()
}

fn format_duration(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros >= 10_000 {
        format!("{:.1} ms", micros as f64 / 1000.0)
    } else {
        format!("{micros} µs")
    }
}
