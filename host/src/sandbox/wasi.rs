//! WASI with no ambient authority.
//!
//! Rust's standard library imports a few WASI interfaces even when a plugin
//! never uses them, so they are linked, but they grant nothing: no preopened
//! directories, no environment, no arguments, stdin closed, a wall clock frozen
//! at the call's start, a monotonic clock that never advances and whose timers
//! are ready at once (so no plugin can wait: a sleep returns immediately),
//! fixed "random" bytes, and stdout/stderr captured into the call's log with a
//! size cap. Filesystem and socket interfaces are not linked at all. A call
//! for more than [`MAX_RANDOM_BYTES`] random bytes traps.
//!
//! Every pollable a plugin can get is therefore ready at once: stdout and
//! stderr always accept, stdin is closed, and every timer has already fired.
//! A plugin has no reason to wait, and a wait would hold its instance (and
//! pool slot) while granting nothing; so `wasi:io/poll` never blocks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::WasiCliView as _;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::{
    self, Duration as WasiDuration, Instant as WasiInstant,
};
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiView};

use super::PluginState;

/// Links the WASI interfaces a Rust guest's standard library imports: I/O
/// streams, CLI environment and stdio, clocks and random. Nothing else.
pub(super) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io;
    type T = PluginState;
    let l = linker;
    io::error::add_to_linker::<T, HasIo>(l, |t| &mut t.table)?;
    io::poll::add_to_linker::<T, HasIo>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<T, HasIo>(l, |t| &mut t.table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    monotonic_clock::add_to_linker::<T, HasFrozenTimers>(l, |t| FrozenTimers {
        table: &mut t.table,
    })?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}

/// Lets the `wasi:io` bindings reach the resource table.
struct HasIo;

impl wasmtime::component::HasData for HasIo {
    type Data<'a> = &'a mut wasmtime::component::ResourceTable;
}

/// Lets `wasi:clocks/monotonic-clock` reach the call's resource table.
struct HasFrozenTimers;

impl wasmtime::component::HasData for HasFrozenTimers {
    type Data<'a> = FrozenTimers<'a>;
}

/// `wasi:clocks/monotonic-clock` on a clock that never advances: `now` is
/// always 0, and every timer it hands out (for a duration or an instant) has
/// already fired, so a plugin that sleeps or waits on a timer goes straight on.
struct FrozenTimers<'a> {
    table: &'a mut ResourceTable,
}

impl FrozenTimers<'_> {
    fn fired(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = self.table.push(FiredTimer)?;
        wasmtime_wasi_io::poll::subscribe(self.table, timer)
    }
}

impl monotonic_clock::Host for FrozenTimers<'_> {
    fn now(&mut self) -> wasmtime::Result<WasiInstant> {
        Ok(FrozenMonotonicClock.now())
    }

    fn resolution(&mut self) -> wasmtime::Result<WasiDuration> {
        Ok(FrozenMonotonicClock.resolution())
    }

    fn subscribe_instant(&mut self, _when: WasiInstant) -> wasmtime::Result<Resource<DynPollable>> {
        self.fired()
    }

    fn subscribe_duration(
        &mut self,
        _duration: WasiDuration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.fired()
    }
}

/// A timer that has already fired: ready the moment it is polled.
struct FiredTimer;

#[wasmtime_wasi::async_trait]
impl Pollable for FiredTimer {
    async fn ready(&mut self) {}
}

/// A WASI context that grants nothing; see the module documentation.
pub(super) fn no_authority_ctx(output: &CapturedOutput, clock_ms: u64) -> WasiCtx {
    WasiCtx::builder()
        .stdout(output.clone())
        .stderr(output.clone())
        .wall_clock(FrozenWallClock(Duration::from_millis(clock_ms)))
        .monotonic_clock(FrozenMonotonicClock)
        .secure_random(Deterministic::new(vec![0]))
        .insecure_random(Deterministic::new(vec![0]))
        .insecure_random_seed(0)
        .max_random_size(MAX_RANDOM_BYTES)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

/// Most "random" bytes one call may ask for. Filling a buffer is host work
/// done before the plugin's code runs again, so the deadline can charge a
/// long fill at the start of a stretch of plugin code as at most one epoch
/// tick; the default (64 MiB, a third of a second of CPU) let a plugin spend
/// many times its deadline per event uncharged. The bytes are fixed, so no
/// plugin has a use for more than a seed's worth; past this the call traps.
pub(super) const MAX_RANDOM_BYTES: u64 = 4096;

/// A wall clock stopped at the moment the host chose (the call's start).
struct FrozenWallClock(Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never advances, so a plugin cannot time the host.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// What a plugin printed to stdout and stderr during its call, kept up to a
/// byte limit. Output past the limit is accepted and discarded, so a plugin
/// that prints too much is not killed for it, only cut short.
#[derive(Clone)]
pub struct CapturedOutput {
    buffer: Arc<Mutex<OutputBuffer>>,
}

struct OutputBuffer {
    pending: Vec<u8>,
    kept: usize,
    limit: usize,
    discarded: usize,
    reported_discard: bool,
}

impl CapturedOutput {
    /// An empty capture that keeps at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buffer: Arc::new(Mutex::new(OutputBuffer {
                pending: Vec::new(),
                kept: 0,
                limit,
                discarded: 0,
                reported_discard: false,
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let room = buffer.limit - buffer.kept;
        let kept = bytes.len().min(room);
        buffer.pending.extend_from_slice(&bytes[..kept]);
        buffer.kept += kept;
        buffer.discarded += bytes.len() - kept;
    }

    /// Lines printed since the last call, plus one note the first time output
    /// was discarded.
    pub fn take_lines(&self) -> Vec<String> {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&buffer.pending).into_owned();
        buffer.pending.clear();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if buffer.discarded > 0 && !buffer.reported_discard {
            buffer.reported_discard = true;
            lines.push(format!(
                "output truncated: the plugin printed more than {} bytes; the rest was discarded",
                buffer.limit
            ));
        }
        lines
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Most bytes a plugin may hand over in one write; it simply writes again.
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_limit_is_discarded_and_noted_once() {
        let output = CapturedOutput::new(8);
        output.append(b"hello\nworld\n");
        let lines = output.take_lines();
        assert_eq!(lines[0], "hello");
        assert_eq!(lines[1], "wo");
        assert!(lines[2].starts_with("output truncated"));
        output.append(b"more");
        assert!(output.take_lines().is_empty());
    }
}
