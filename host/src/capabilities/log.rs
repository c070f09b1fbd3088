//! `cally:plugin/log`: lines a plugin writes to its call's log.

use wasmtime::component::{HasData, Linker};

use crate::bindings::wit_log::{self, Level};
use crate::sandbox::{LogLevel, PluginLog, PluginState};

/// Adds `cally:plugin/log` to `linker`, writing into the call's [`PluginLog`].
pub fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    wit_log::add_to_linker::<PluginState, CallLog>(linker, |state| &mut state.log)
}

/// Gives the log bindings access to the call's log and nothing else.
struct CallLog;

impl HasData for CallLog {
    type Data<'a> = &'a mut PluginLog;
}

impl wit_log::Host for PluginLog {
    fn write(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.push(level, message);
    }
}
