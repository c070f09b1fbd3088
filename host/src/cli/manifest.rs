//! `cally manifest check|inspect|diff`: the security reviewer's commands over
//! a component and its capability manifest.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::component::{ComponentDigest, ComponentInterface};
use crate::manifest::{self, Manifest, ManifestDigest, Problem};
use crate::sandbox::SandboxConfig;

use super::{BadInput, EXIT_BAD_INPUT, emit, read_file};

/// Exit code of `cally manifest diff --fail-on-escalation` when the new
/// version asks for more than the old one.
pub const EXIT_ESCALATION: u8 = 4;

/// Arguments of `cally manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    #[command(subcommand)]
    command: ManifestCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ManifestCommand {
    /// Check a component against its manifest: schema, semantic, import and
    /// limit checks; every problem is listed.
    #[command(
        after_help = "Exit codes: 0 the plugin may be accepted (notes name unused grants); 2 it may not: every problem is listed on stderr (or a file cannot be read)."
    )]
    Check {
        /// The component (built for wasm32-wasip2).
        component: PathBuf,
        /// Its manifest (cally.toml).
        manifest: PathBuf,
    },
    /// Print the reviewer's report: digests, personal data by sensitivity
    /// with purpose and reason, transcript and recording, channels, tags,
    /// limits, the binary's imports and unused grants.
    #[command(
        after_help = "Exit codes: 0 the report was printed and the check passes; 2 the check fails (the report lists why) or the manifest is invalid (stderr lists every problem)."
    )]
    Inspect {
        /// The component (built for wasm32-wasip2).
        component: PathBuf,
        /// Its manifest (cally.toml).
        manifest: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a new version asks for beyond the old one: grants, limits
    /// and imports added, removed, widened or narrowed, escalations marked.
    #[command(
        after_help = "Exit codes: 0 the diff was printed; 2 a file cannot be read or a manifest is invalid; 4 with --fail-on-escalation, the new version has escalations. Colored on a terminal unless NO_COLOR is set; plain when piped."
    )]
    Diff {
        /// The old version's component.
        old_component: PathBuf,
        /// The old version's manifest.
        old_manifest: PathBuf,
        /// The new version's component.
        new_component: PathBuf,
        /// The new version's manifest.
        new_manifest: PathBuf,
        /// Print the diff as JSON.
        #[arg(long)]
        json: bool,
        /// Exit with code 4 if the new version has any escalation.
        #[arg(long)]
        fail_on_escalation: bool,
    },
}

/// Runs `cally manifest <subcommand>`.
pub fn run(args: ManifestArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ManifestCommand::Check {
            component,
            manifest,
        } => check(&component, &manifest),
        ManifestCommand::Inspect {
            component,
            manifest,
            json,
        } => inspect(&component, &manifest, json),
        ManifestCommand::Diff {
            old_component,
            old_manifest,
            new_component,
            new_manifest,
            json,
            fail_on_escalation,
        } => diff(
            (&old_component, &old_manifest),
            (&new_component, &new_manifest),
            json,
            fail_on_escalation,
        ),
    }
}

/// A component and its manifest, read and parsed.
struct Plugin {
    manifest: Manifest,
    manifest_bytes: Vec<u8>,
    component_bytes: Vec<u8>,
    interface: ComponentInterface,
}

/// Reads and parses a component and its manifest. `Ok(Err(code))`: the
/// manifest is invalid, and its problems were printed.
fn load(component: &Path, manifest: &Path) -> anyhow::Result<Result<Plugin, ExitCode>> {
    let manifest_bytes = read_file(&manifest.to_path_buf())?;
    let text = std::str::from_utf8(&manifest_bytes)
        .map_err(|_| BadInput(format!("{} is not UTF-8 text", manifest.display())))?;
    let source = manifest.display().to_string();
    let parsed = match Manifest::parse(text, &source) {
        Ok(parsed) => parsed,
        Err(errors) => {
            let lines: Vec<String> = errors.to_string().lines().map(str::to_owned).collect();
            return Ok(Err(refuse(&lines)));
        }
    };
    let component_bytes = read_file(&component.to_path_buf())?;
    let interface = ComponentInterface::read(&component_bytes)?;
    Ok(Ok(Plugin {
        manifest: parsed,
        manifest_bytes,
        component_bytes,
        interface,
    }))
}

/// Prints every problem to stderr and returns exit code 2.
fn refuse(lines: &[String]) -> ExitCode {
    eprintln!("error: the plugin is refused: {} problem(s)", lines.len());
    for line in lines {
        eprintln!("  {line}");
    }
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Every reason to refuse `plugin`: imports, exports, limits against this
/// binary's default platform maxima; each line starts with the file at fault.
fn problems(plugin: &Plugin, component: &Path, manifest: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut add = |file: &Path, problems: Vec<Problem>| {
        lines.extend(problems.iter().map(|p| format!("{}: {p}", file.display())));
    };
    add(
        component,
        manifest::check_component(&plugin.manifest, &plugin.interface),
    );
    if let Err(errors) = plugin.manifest.plugin_limits(&SandboxConfig::default()) {
        add(manifest, errors.problems);
    }
    lines
}

fn check(component: &Path, manifest: &Path) -> anyhow::Result<ExitCode> {
    let plugin = match load(component, manifest)? {
        Ok(plugin) => plugin,
        Err(code) => return Ok(code),
    };
    let lines = problems(&plugin, component, manifest);
    if !lines.is_empty() {
        return Ok(refuse(&lines));
    }
    let m = &plugin.manifest;
    let mut out = format!(
        "ok: {} {} ({}, purpose {}) may be accepted\n  component {}\n  manifest  {}\n",
        m.name,
        m.version,
        m.world,
        m.purpose,
        ComponentDigest::of(&plugin.component_bytes),
        ManifestDigest::of(&plugin.manifest_bytes),
    );
    for unused in manifest::unused_grants(m, &plugin.interface) {
        out.push_str(&format!(
            "note: {} is declared but the component does not import {}: an unused grant, worth removing\n",
            unused.grant, unused.needs
        ));
    }
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn inspect(component: &Path, manifest: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let plugin = match load(component, manifest)? {
        Ok(plugin) => plugin,
        Err(code) => return Ok(code),
    };
    let report = manifest::inspect(
        &plugin.manifest,
        &plugin.manifest_bytes,
        &plugin.component_bytes,
    )?;
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&report.to_string())?;
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_BAD_INPUT)
    })
}

fn diff(
    old: (&Path, &Path),
    new: (&Path, &Path),
    json: bool,
    fail_on_escalation: bool,
) -> anyhow::Result<ExitCode> {
    let old = match load(old.0, old.1)? {
        Ok(plugin) => plugin,
        Err(code) => return Ok(code),
    };
    let new = match load(new.0, new.1)? {
        Ok(plugin) => plugin,
        Err(code) => return Ok(code),
    };
    let diff = manifest::diff(
        (&old.manifest, &old.interface),
        (&new.manifest, &new.interface),
    )
    .with_component_digests(
        ComponentDigest::of(&old.component_bytes),
        ComponentDigest::of(&new.component_bytes),
    );
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&diff)?))?;
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        emit(&diff.render(color))?;
    }
    Ok(if fail_on_escalation && diff.has_escalations() {
        ExitCode::from(EXIT_ESCALATION)
    } else {
        ExitCode::SUCCESS
    })
}
