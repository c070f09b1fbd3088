//! The `cally` subcommands: each parses its arguments, calls the library and
//! formats the result.
//!
//! This module is the binary's edge, kept in the library only so the
//! end-to-end tests can build the same binary: it is the one place that uses
//! `anyhow`, and nothing else in the library calls into it.

mod audit;
mod limits;
mod manifest;
mod serve;
mod simulate;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code when the input (a file, a flag) is wrong.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when a simulated plugin failed; the trace says why.
pub const EXIT_PLUGIN_FAILED: u8 = 3;
/// Exit code for anything else.
pub const EXIT_INTERNAL: u8 = 1;

/// Cally: run tenant call-flow plugins in a WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(name = "cally", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a scripted call (or a call summary, for a lead tagger) through a
    /// plugin in the real sandbox and print what happened.
    Simulate(simulate::SimulateArgs),
    /// List the example plugins bundled into this binary.
    Examples,
    /// Check, inspect and diff plugins' capability manifests (for security reviewers).
    Manifest(manifest::ManifestArgs),
    /// Verify and export the hash-chained audit log.
    Audit(audit::AuditArgs),
    /// Serve the HTTP API (tenants, plugins, calls, leads, consents, audit).
    Serve(serve::ServeArgs),
}

/// The whole `cally` program: parse arguments, run, map errors to exit codes.
pub fn main() -> ExitCode {
    let args = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit_code_for(&error))
        }
    }
}

/// Runs the chosen subcommand.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => simulate::run(args).await,
        Command::Examples => {
            let mut list = String::new();
            for example in crate::examples::BUNDLED {
                list.push_str(&format!("{:<24} {}\n", example.name, example.world));
            }
            emit(&list)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Manifest(args) => manifest::run(args),
        Command::Audit(args) => audit::run(args).await,
        Command::Serve(args) => serve::run(args).await,
    }
}

/// An error caused by the user's input rather than by the host.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// Maps an error to the exit code documented in the README.
fn exit_code_for(error: &anyhow::Error) -> u8 {
    let input = error.chain().any(|cause| {
        cause.is::<BadInput>()
            || cause.is::<crate::simulate::SimulateError>()
            || cause.is::<crate::component::ComponentError>()
            || cause.is::<crate::session::StartError>()
            || cause.is::<crate::sandbox::LimitError>()
    });
    if input { EXIT_BAD_INPUT } else { EXIT_INTERNAL }
}

/// Logs to stderr; `RUST_LOG` chooses what (default: warnings). Colour only
/// when stderr is a terminal: a file or a pipe gets plain lines.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Writes `text` to stdout and flushes it. A closed pipe (`cally ... | head -1`)
/// is not an error: the reader has all it wanted, and the command ends with
/// the exit code its result calls for, without a panic.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

/// [`emit`] with a newline after `text`.
pub(crate) fn emit_line(text: &str) -> anyhow::Result<()> {
    emit(&format!("{text}\n"))
}

/// Reads a file, naming it if it cannot be read.
fn read_file(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())).into())
}
