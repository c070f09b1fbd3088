//! What one event may spend: the plugin's own CPU time (what the per-event
//! deadline limits), the host's time on its behalf (reported apart), the
//! wall clock since the event began (what the hard per-event limit bounds),
//! and how many host calls and audited data uses it made.
//!
//! # Why CPU time, and how it stays cheap
//!
//! A plugin's deadline must not depend on its neighbours: on a busy host a
//! well-behaved plugin's thread waits for a core, and wall-clock accounting
//! would charge that wait to the plugin. So the deadline counts the CPU time
//! of the thread running the plugin. Reading a thread's CPU clock is a system
//! call (about half a microsecond here, a tenth of a warm event), so it is not
//! read at the start of every event: each stretch of plugin code (a *segment*:
//! from the event's start, or from a host call's return, to the next host call
//! or the event's end) is timed by the wall clock until the first epoch tick
//! inside it, and by the thread's CPU clock from then on. Before that first
//! tick a plugin can have run at most one tick of CPU, so that part is counted
//! as its wall time capped at one tick. Events shorter than a tick (nearly all)
//! never read the CPU clock.
//!
//! The cap is only sound while the segment runs plugin code: a synchronous
//! host call that is not accounted as host time (WASI, the log) sees no tick,
//! so a long one at a segment's start would be charged as one tick whatever
//! it cost. Two things bound that: WASI's costly calls are capped in size
//! (see `wasi::MAX_RANDOM_BYTES`), and a segment that begins when a data-gate
//! call returns is on the CPU clock from its first instruction (that call
//! already costs far more than one clock read), so a plugin cannot start
//! hundreds of fresh segments in one event to hide a tick's worth in each.
//!
//! # Yields
//!
//! Every few ticks a plugin's fiber yields its thread to other tasks (see
//! [`EventBudget::yield_point`]), so one tenant's long events do not keep
//! other tenants' requests waiting for a worker thread. The segment ends at
//! the yield, and the next one starts on the CPU clock of the thread that
//! resumes the plugin, marked as it resumes: the wait is not the plugin's.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Ticks of a stretch of plugin code between two yields of its thread to
/// other tasks: a plugin's own code never awaits anything, so without these
/// yields it would keep its worker thread for its whole event.
const YIELD_EVERY_TICKS: u32 = 5;

/// The CPU mark a paused plugin's clock resumes from, set on the thread that
/// resumes it (see [`EventBudget::yield_point`]).
type ResumeMark = Arc<Mutex<Option<CpuMark>>>;

/// The future a plugin's fiber awaits at a yield point.
pub type YieldNow = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Occurs when a plugin makes more host calls, or more audited data uses, in
/// one event than the platform allows. It ends the plugin's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "plugin made more than {limit} {what} in one event; read several fields in one call with get-many, or spread the work over several events"
)]
pub struct HostCallLimitExceeded {
    /// What was counted: `host calls` or `audited data uses`.
    pub what: &'static str,
    /// The cap in force.
    pub limit: u32,
}

/// Caps on what one event may ask of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCallCaps {
    /// Most calls into `cally:plugin/personal-data` per event.
    pub host_calls: u32,
    /// Most audited uses (each field read, transcript, recording) per event.
    pub audited_uses: u32,
}

/// Time and call accounting for the event in progress.
#[derive(Debug)]
pub struct EventBudget {
    /// How much CPU time the plugin's own code may use per event.
    pub deadline: Duration,
    /// How often the epoch advances: the most CPU a segment can use before
    /// its first tick.
    tick: Duration,
    /// When the event began; the hard wall-clock limit counts from here.
    event_started: Instant,
    /// Plugin time of the segments already closed in this event.
    closed: Duration,
    /// The segment of plugin code running now; `None` while the host works.
    segment: Option<Segment>,
    /// When the host call in progress began, if one is.
    host_entered: Option<Instant>,
    /// Time the host spent on the plugin's behalf in this event.
    host_time: Duration,
    /// Host calls and audited uses made in this event.
    host_calls: u32,
    audited_uses: u32,
    caps: HostCallCaps,
    /// Set when the deadline check interrupted the plugin.
    pub exceeded: bool,
    /// Set when the plugin went past a host-call cap; names the cap.
    pub calls_exceeded: Option<HostCallLimitExceeded>,
    /// Ticks seen since the plugin last yielded its thread.
    ticks_since_yield: u32,
    /// Set while the plugin is paused at a yield point.
    paused: Option<ResumeMark>,
}

/// A stretch of plugin code between two host calls.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// When it began (wall clock).
    started: Instant,
    /// Where the thread's CPU clock stood at the segment's first epoch tick.
    cpu_mark: Option<CpuMark>,
}

/// A reading of the CPU clock of the thread running the plugin.
#[derive(Debug, Clone, Copy)]
struct CpuMark {
    /// The thread read; a reading on another thread is meaningless.
    thread: ThreadId,
    /// Its CPU time then, if the platform has a per-thread CPU clock.
    cpu: Option<Duration>,
    /// The wall clock then.
    wall: Instant,
}

impl CpuMark {
    fn now() -> Self {
        Self {
            thread: std::thread::current().id(),
            cpu: thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    /// CPU time used since the mark. If the plugin moved to another thread
    /// (it can only do so while the host waits) or there is no CPU clock,
    /// the wall time since the mark counts instead: never less than the truth.
    fn elapsed(&self) -> Duration {
        if std::thread::current().id() == self.thread
            && let (Some(then), Some(now)) = (self.cpu, thread_cpu_time())
        {
            return now.saturating_sub(then);
        }
        self.wall.elapsed()
    }
}

impl Segment {
    fn starting_now() -> Self {
        Self {
            started: Instant::now(),
            cpu_mark: None,
        }
    }

    /// A segment timed by the thread's CPU clock from its first instruction.
    fn on_the_cpu_clock() -> Self {
        let mark = CpuMark::now();
        Self {
            started: mark.wall,
            cpu_mark: Some(mark),
        }
    }

    /// Plugin time of this segment so far (see the module documentation).
    fn time(&self, tick: Duration) -> Duration {
        match &self.cpu_mark {
            None => self.started.elapsed(),
            Some(mark) => mark.wall.duration_since(self.started).min(tick) + mark.elapsed(),
        }
    }
}

/// The caps a budget has when none are given: generous for any real plugin.
const DEFAULT_CAPS: HostCallCaps = HostCallCaps {
    host_calls: 256,
    audited_uses: 64,
};

impl EventBudget {
    /// A budget allowing `deadline` of CPU time per event, with an epoch tick
    /// of one millisecond and the default host-call caps.
    pub fn new(deadline: Duration) -> Self {
        Self {
            deadline,
            tick: Duration::from_millis(1),
            event_started: Instant::now(),
            closed: Duration::ZERO,
            segment: Some(Segment::starting_now()),
            host_entered: None,
            host_time: Duration::ZERO,
            host_calls: 0,
            audited_uses: 0,
            caps: DEFAULT_CAPS,
            exceeded: false,
            calls_exceeded: None,
            ticks_since_yield: 0,
            paused: None,
        }
    }

    /// Sets the epoch tick the deadline is checked at.
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Sets the host-call caps.
    pub fn with_caps(mut self, caps: HostCallCaps) -> Self {
        self.caps = caps;
        self
    }

    /// Starts the clocks and counters for a new event.
    pub fn start_event(&mut self) {
        self.event_started = Instant::now();
        self.closed = Duration::ZERO;
        self.segment = Some(Segment::starting_now());
        self.host_entered = None;
        self.host_time = Duration::ZERO;
        self.host_calls = 0;
        self.audited_uses = 0;
        self.exceeded = false;
        self.calls_exceeded = None;
        self.ticks_since_yield = 0;
        self.paused = None;
    }

    /// Called at each epoch tick while the plugin runs: answers whether its
    /// CPU time has passed the deadline (and remembers that it has).
    pub fn tick_exceeded(&mut self) -> bool {
        self.resume();
        if let Some(segment) = &mut self.segment
            && segment.cpu_mark.is_none()
        {
            segment.cpu_mark = Some(CpuMark::now());
        }
        if self.plugin_time() > self.deadline {
            self.exceeded = true;
        }
        self.exceeded
    }

    /// Called at a tick the deadline was not passed at: every few ticks of
    /// plugin code, closes the running stretch and returns a future that
    /// yields the thread to other tasks, so a neighbour's request is not kept
    /// waiting for a whole event (and the wall-clock limit can fire). The
    /// plugin's fiber may resume on another thread: the future's last step,
    /// on the resuming thread, marks that thread's CPU clock, and the plugin's
    /// clock runs from there, so the time it waited for a thread is not its.
    pub fn yield_point(&mut self) -> Option<YieldNow> {
        self.ticks_since_yield += 1;
        if self.ticks_since_yield < YIELD_EVERY_TICKS {
            return None;
        }
        // No stretch is running while the host works (a host call lowering
        // its result into the plugin's memory runs plugin code): no yield.
        let segment = self.segment.take()?;
        self.ticks_since_yield = 0;
        self.closed += segment.time(self.tick);
        let mark = ResumeMark::default();
        self.paused = Some(mark.clone());
        Some(Box::pin(async move {
            tokio::task::yield_now().await;
            *mark.lock().unwrap_or_else(|e| e.into_inner()) = Some(CpuMark::now());
        }))
    }

    /// Starts the stretch a paused plugin resumed into, from the mark its
    /// resume set (or now, if it never resumed).
    fn resume(&mut self) {
        if let Some(mark) = self.paused.take() {
            let mark = *mark.lock().unwrap_or_else(|e| e.into_inner());
            self.segment = Some(match mark {
                Some(mark) => Segment {
                    started: mark.wall,
                    cpu_mark: Some(mark),
                },
                None => Segment::starting_now(),
            });
        }
    }

    /// The host starts working on the plugin's behalf: the plugin's clock stops.
    pub fn enter_host(&mut self) {
        self.resume();
        if let Some(segment) = self.segment.take() {
            self.closed += segment.time(self.tick);
        }
        self.host_entered = Some(Instant::now());
    }

    /// The host is done: its time is recorded and the plugin's clock runs
    /// again, on the thread's CPU clock from the start (see the module
    /// documentation).
    pub fn leave_host(&mut self) {
        if let Some(entered) = self.host_entered.take() {
            self.host_time += entered.elapsed();
        }
        self.segment = Some(Segment::on_the_cpu_clock());
    }

    /// Counts one host call making `uses` audited data uses, refusing it once
    /// a cap is passed (the refusal is remembered, so the failure is named).
    pub fn charge_host_call(&mut self, uses: usize) -> Result<(), HostCallLimitExceeded> {
        self.host_calls = self.host_calls.saturating_add(1);
        self.audited_uses = self
            .audited_uses
            .saturating_add(u32::try_from(uses).unwrap_or(u32::MAX));
        let exceeded = if self.host_calls > self.caps.host_calls {
            Some(HostCallLimitExceeded {
                what: "host calls",
                limit: self.caps.host_calls,
            })
        } else if self.audited_uses > self.caps.audited_uses {
            Some(HostCallLimitExceeded {
                what: "audited data uses",
                limit: self.caps.audited_uses,
            })
        } else {
            None
        };
        match exceeded {
            Some(error) => {
                self.calls_exceeded.get_or_insert(error);
                Err(error)
            }
            None => Ok(()),
        }
    }

    /// CPU time the plugin's own code has used during this event.
    pub fn plugin_time(&self) -> Duration {
        let running = match (&self.segment, &self.paused) {
            (Some(segment), _) => segment.time(self.tick),
            (None, Some(mark)) => {
                let mark = *mark.lock().unwrap_or_else(|e| e.into_inner());
                mark.map_or(Duration::ZERO, |mark| mark.elapsed())
            }
            (None, None) => Duration::ZERO,
        };
        self.closed + running
    }

    /// Time the host spent on the plugin's behalf during this event.
    pub fn host_time(&self) -> Duration {
        self.host_time
    }

    /// Wall-clock time since the event began, plugin and host together.
    pub fn wall_time(&self) -> Duration {
        self.event_started.elapsed()
    }
}

/// The CPU time the calling thread has used, where the platform tells it.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; the call only writes it.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (status == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

/// Without a per-thread CPU clock, wall time counts (see [`CpuMark::elapsed`]).
#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins the calling thread for about `cpu` of CPU time.
    fn burn(cpu: Duration) {
        let start = thread_cpu_time().unwrap();
        while thread_cpu_time().unwrap() - start < cpu {
            std::hint::black_box(0);
        }
    }

    #[test]
    fn host_time_is_not_plugin_time() {
        let mut budget = EventBudget::new(Duration::from_millis(20));
        budget.start_event();
        budget.enter_host();
        std::thread::sleep(Duration::from_millis(30));
        budget.leave_host();
        assert!(budget.host_time() >= Duration::from_millis(30));
        assert!(budget.plugin_time() < Duration::from_millis(30));
        assert!(budget.wall_time() >= Duration::from_millis(30));
    }

    #[test]
    fn after_the_first_tick_a_sleeping_thread_uses_no_plugin_time() {
        // Once a segment is on the CPU clock, time the thread spends off the
        // CPU (here, asleep; on a busy host, waiting for a core) is not the
        // plugin's: 50 ms of wall clock, almost no CPU.
        let mut budget = EventBudget::new(Duration::from_millis(20));
        budget.start_event();
        assert!(!budget.tick_exceeded());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!budget.tick_exceeded(), "{:?}", budget.plugin_time());
        assert!(budget.wall_time() >= Duration::from_millis(50));
    }

    #[test]
    fn cpu_spent_after_the_first_tick_counts_against_the_deadline() {
        let mut budget = EventBudget::new(Duration::from_millis(5));
        budget.start_event();
        assert!(!budget.tick_exceeded());
        burn(Duration::from_millis(10));
        assert!(budget.tick_exceeded());
        assert!(budget.exceeded);
    }

    #[test]
    fn before_its_first_tick_a_segment_counts_at_most_one_tick() {
        let mut budget = EventBudget::new(Duration::from_millis(20));
        budget.start_event();
        std::thread::sleep(Duration::from_millis(30));
        // The first tick comes late (the thread was off the CPU): at most one
        // tick of it is charged.
        assert!(!budget.tick_exceeded(), "{:?}", budget.plugin_time());
        assert!(budget.plugin_time() < Duration::from_millis(20));
    }

    #[test]
    fn after_a_host_call_cpu_spent_before_the_first_tick_counts_in_full() {
        // A plugin makes a data-gate call, then at once a long synchronous
        // call the budget does not see as host time (WASI): no tick is seen
        // until it returns. Were the new segment charged its wall time capped
        // at one tick, 30 ms of CPU would cost the plugin 1 ms; a few hundred
        // such segments per event would hide hundreds of deadlines.
        let mut budget = EventBudget::new(Duration::from_millis(20));
        budget.start_event();
        budget.enter_host();
        budget.leave_host();
        burn(Duration::from_millis(30));
        assert!(budget.tick_exceeded(), "{:?}", budget.plugin_time());
        assert!(budget.plugin_time() >= Duration::from_millis(30));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_yield_pauses_the_plugins_clock_until_it_resumes() {
        // Every few ticks the plugin yields its thread; the time until it
        // resumes (another task's turn, on a busy host) is not its, and what
        // it runs after resuming is counted from the resuming thread's clock.
        let mut budget = EventBudget::new(Duration::from_millis(20));
        budget.start_event();
        let pause = loop {
            assert!(!budget.tick_exceeded());
            if let Some(pause) = budget.yield_point() {
                break pause;
            }
        };
        let before = budget.plugin_time();
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(budget.plugin_time(), before, "paused, not yet resumed");
        pause.await;
        burn(Duration::from_millis(30));
        assert!(budget.tick_exceeded(), "{:?}", budget.plugin_time());
        assert!(budget.plugin_time() >= before + Duration::from_millis(30));
    }

    #[test]
    fn host_calls_and_audited_uses_are_capped_per_event() {
        let caps = HostCallCaps {
            host_calls: 3,
            audited_uses: 4,
        };
        let mut budget = EventBudget::new(Duration::from_millis(20)).with_caps(caps);
        budget.start_event();
        assert!(budget.charge_host_call(2).is_ok());
        assert!(budget.charge_host_call(2).is_ok());
        let error = budget.charge_host_call(1).unwrap_err();
        assert_eq!(error.what, "audited data uses");
        assert_eq!(error.limit, 4);
        assert_eq!(budget.calls_exceeded, Some(error));
        // A new event starts from zero.
        budget.start_event();
        assert!(budget.charge_host_call(0).is_ok());
        assert!(budget.charge_host_call(0).is_ok());
        assert!(budget.charge_host_call(0).is_ok());
        let error = budget.charge_host_call(0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plugin made more than 3 host calls in one event; read several fields in one call with get-many, or spread the work over several events"
        );
    }
}
