//! `cally simulate`: the tenant developer's local runner.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::component::{ComponentCache, World};
use crate::examples;
use crate::protocol::{Action, CallEvent};
use crate::sandbox::{LogLine, PluginLimits, Sandbox, SandboxConfig};
use crate::session::CallOptions;
use crate::simulate::{self, CallScript, CallTrace, TaggerTrace};

use super::{BadInput, EXIT_PLUGIN_FAILED, read_file};

/// Arguments of `cally simulate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit codes: 0 the call ran; 2 bad input; 3 the plugin failed (the trace says why).")]
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
}

/// Runs `cally simulate`.
pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SandboxConfig {
        max_concurrent_calls: 4,
        ..SandboxConfig::default()
    };
    let limits = PluginLimits {
        event_deadline: args
            .deadline_ms
            .map(Duration::from_millis)
            .unwrap_or(config.default_limits.event_deadline),
        memory_bytes: args
            .memory_mib
            .map(|mib| mib << 20)
            .unwrap_or(config.default_limits.memory_bytes),
    };
    config.check_limits(&limits)?;
    let (component, sample, name) = input_component(&args)?;
    let sandbox = Sandbox::new(config)?;
    let cache = ComponentCache::new(sandbox.clone(), None);
    let plugin = cache.load(&component)?;
    let options = CallOptions::new(limits);

    let (text, json, failed) = match plugin.world() {
        World::CallFlow => {
            let (input, source) = input_text(args.script.as_ref(), sample, "--script", World::CallFlow)?;
            let script = CallScript::parse(&input, &source)?;
            let trace = simulate::run_call(sandbox, &plugin, &script, options.clone()).await?;
            let failed = trace.failure.is_some();
            (render_call(&name, &options, &trace), serde_json::to_string_pretty(&trace)?, failed)
        }
        World::LeadTagger => {
            let (input, source) = input_text(args.summary.as_ref(), sample, "--summary", World::LeadTagger)?;
            let summary = simulate::parse_summary(&input, &source)?;
            let trace = simulate::run_tagger(sandbox, &plugin, &summary, &options).await?;
            let failed = trace.outcome.failure.is_some();
            (render_tagger(&name, &trace), serde_json::to_string_pretty(&trace)?, failed)
        }
    };
    println!("{}", if args.json { json } else { text });
    Ok(if failed {
        ExitCode::from(EXIT_PLUGIN_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The component's bytes, the bundled sample if any, and a name for the trace.
fn input_component(args: &SimulateArgs) -> anyhow::Result<(Vec<u8>, Option<&'static str>, String)> {
    if let Some(name) = &args.example {
        let example = examples::find(name).ok_or_else(|| {
            BadInput(format!(
                "unknown example {name:?}; bundled examples: {}",
                examples::names().join(", ")
            ))
        })?;
        return Ok((example.component.to_vec(), Some(example.sample), example.name.to_owned()));
    }
    let path = args.component.as_ref().expect("clap requires a component or --example");
    Ok((read_file(path)?, None, path.display().to_string()))
}

/// The script or summary text and its name for error messages.
fn input_text(
    path: Option<&PathBuf>,
    sample: Option<&'static str>,
    flag: &str,
    world: World,
) -> anyhow::Result<(String, String)> {
    match (path, sample) {
        (Some(path), _) => {
            let bytes = read_file(path)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| BadInput(format!("{} is not UTF-8 text", path.display())))?;
            Ok((text, path.display().to_string()))
        }
        (None, Some(sample)) => Ok((sample.to_owned(), "the example's sample".to_owned())),
        (None, None) => Err(BadInput(format!("this component targets world {world}: give its input with {flag} <file>")).into()),
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
        let _ = writeln!(
            out,
            "#{} {}   [{}]",
            step.number,
            describe_event(&step.event),
            format_duration(step.outcome.plugin_time)
        );
        render_log(&mut out, &step.outcome.log);
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
    out
}

fn render_tagger(name: &str, trace: &TaggerTrace) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Simulating {name} (lead-tagger, {}) on call {}\n",
        short_digest(&trace.component),
        trace.summary.call_id
    );
    render_log(&mut out, &trace.outcome.log);
    match &trace.outcome.failure {
        Some(failure) => {
            let _ = write!(out, "   ✗ {failure}\nNo tags written.");
        }
        None if trace.outcome.tags.is_empty() => out.push_str("   no tags"),
        None => {
            for tag in &trace.outcome.tags {
                let _ = writeln!(out, "   → tag {tag}");
            }
            let _ = write!(out, "\nplugin time {}", format_duration(trace.outcome.plugin_time));
        }
    }
    out
}

fn render_log(out: &mut String, log: &[LogLine]) {
    for line in log {
        let level = serde_json::to_value(line.level).ok();
        let level = level.as_ref().and_then(|v| v.as_str()).unwrap_or("log");
        let _ = writeln!(out, "   log {level}: {}", line.message);
    }
}

fn describe_event(event: &CallEvent) -> String {
    match event {
        CallEvent::Started(s) => format!(
            "started {} {:?}{} {}",
            s.call_id,
            s.direction,
            s.campaign.as_ref().map(|c| format!(" campaign {c}")).unwrap_or_default(),
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
        CallEvent::Ended { reason } => format!("ended ({reason:?})"),
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
            let prompt = prompt.as_deref().map(|p| format!(": {:?}", truncate(p))).unwrap_or_default();
            format!("gather {} for {timeout_ms} ms{prompt}", inputs.join(" or "))
        }
        Action::Transfer { target } => format!("transfer to {target}"),
        Action::HangUp => "hang up".into(),
        Action::SendMessage {
            channel,
            template,
            params,
        } => format!("send {channel:?} message {template} {params:?}"),
        Action::TagLead { tag } => format!("tag lead {tag}"),
        Action::SetDisposition { disposition } => format!("disposition {disposition}"),
        Action::ScheduleCallback { after_minutes, reason } => {
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
