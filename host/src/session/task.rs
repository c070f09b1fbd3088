//! One task per call: it owns the call's plugin instance, feeds it events in
//! order, and frees it at the end of the call or after an idle timeout.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::{CallRecord, EventOutcome, FlowInstance};
use crate::protocol::CallEvent;

/// Occurs when an event is sent to a call whose session has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call's session has ended (the call ended or was idle too long)")]
pub struct SessionClosed;

enum Command {
    Event(CallEvent, oneshot::Sender<EventOutcome>),
    Finish(oneshot::Sender<CallRecord>),
}

/// A handle to a call's session task. Events sent through it reach the plugin
/// one at a time, in the order they were sent.
#[derive(Clone)]
pub struct CallSession {
    commands: mpsc::Sender<Command>,
}

/// Events that may wait for the plugin before senders are slowed down.
const QUEUE_DEPTH: usize = 16;

impl CallSession {
    /// Starts the task that owns `instance`. It ends when the call finishes,
    /// when every handle is dropped, or after `idle_timeout` without an event.
    pub fn spawn(instance: FlowInstance, idle_timeout: Duration) -> Self {
        let (commands, receiver) = mpsc::channel(QUEUE_DEPTH);
        let span = instance.span();
        tokio::spawn(run(instance, receiver, idle_timeout).instrument(span));
        Self { commands }
    }

    /// Hands `event` to the plugin and waits for its outcome.
    pub async fn event(&self, event: CallEvent) -> Result<EventOutcome, SessionClosed> {
        let (reply, outcome) = oneshot::channel();
        self.commands
            .send(Command::Event(event, reply))
            .await
            .map_err(|_| SessionClosed)?;
        outcome.await.map_err(|_| SessionClosed)
    }

    /// Ends the call, frees its instance, and returns what happened on it.
    pub async fn finish(&self) -> Result<CallRecord, SessionClosed> {
        let (reply, record) = oneshot::channel();
        self.commands
            .send(Command::Finish(reply))
            .await
            .map_err(|_| SessionClosed)?;
        record.await.map_err(|_| SessionClosed)
    }
}

async fn run(
    mut instance: FlowInstance,
    mut commands: mpsc::Receiver<Command>,
    idle_timeout: Duration,
) {
    loop {
        match tokio::time::timeout(idle_timeout, commands.recv()).await {
            Ok(Some(Command::Event(event, reply))) => {
                let outcome = instance.handle(&event).await;
                let _ = reply.send(outcome);
                // A plugin's own code never yields to the runtime, so with
                // events queued this task would go from one to the next and
                // hold its worker thread for many events in a row; other
                // tenants' requests get the thread between two events.
                tokio::task::yield_now().await;
            }
            Ok(Some(Command::Finish(reply))) => {
                let _ = reply.send(instance.finish());
                return;
            }
            Ok(None) => return,
            Err(_) => {
                tracing::info!(
                    idle_timeout_ms = idle_timeout.as_millis() as u64,
                    "call idle too long; freeing its plugin"
                );
                let record = instance.finish();
                return keep_record_for_finish(record, commands, idle_timeout).await;
            }
        }
    }
}

/// After an idle call's instance is freed, its record is kept for one more
/// idle timeout, so the platform's late `finish` still stores what happened;
/// events get [`SessionClosed`]. Then the task ends.
async fn keep_record_for_finish(
    record: CallRecord,
    mut commands: mpsc::Receiver<Command>,
    idle_timeout: Duration,
) {
    let grace = tokio::time::sleep(idle_timeout);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Finish(reply)) => {
                    let _ = reply.send(record);
                    return;
                }
                // Dropping the reply answers the event with `SessionClosed`.
                Some(Command::Event(..)) => {}
                None => return,
            },
            () = &mut grace => return,
        }
    }
}
