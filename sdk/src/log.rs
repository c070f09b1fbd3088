//! Lines for the call's log: the `cally:plugin/log` capability.
//!
//! The host shows them in `cally simulate` and keeps them with the call's
//! result, truncated at its limit. Never log personal data you did not need.
//!
//! ```
//! cally_sdk::log::info("caller confirmed");
//! cally_sdk::log::warn(format!("low confidence: {:.2}", 0.41));
//! ```
//!
//! Built for a native target (for example in a plugin's unit tests) there is
//! no host: the lines are kept in a per-thread buffer instead, which
//! [`take_native_lines`] hands to the test.

use crate::wit;

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Detail for the developer.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected the plugin handled.
    Warn,
    /// Something the plugin could not handle.
    Error,
}

impl Level {
    /// The level as the host's traces spell it: `debug`, `info`, `warn`, `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Prints [`Level::as_str`], as `cally simulate` shows a log line's level.
impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Write one line at `level`.
pub fn write(level: Level, message: impl AsRef<str>) {
    let message = message.as_ref();
    #[cfg(target_arch = "wasm32")]
    {
        let level = match level {
            Level::Debug => wit::log::Level::Debug,
            Level::Info => wit::log::Level::Info,
            Level::Warn => wit::log::Level::Warn,
            Level::Error => wit::log::Level::Error,
        };
        wit::log::write(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        // No host to log to: keep the line for the plugin's own unit tests.
        let _ = wit::log::write;
        NATIVE_LINES.with(|lines| lines.borrow_mut().push((level, message.to_owned())));
    }
}

/// Write a [`Level::Debug`] line.
pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message);
}

/// Write a [`Level::Info`] line.
pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message);
}

/// Write a [`Level::Warn`] line.
pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message);
}

/// Write a [`Level::Error`] line.
pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message);
}

#[cfg(not(target_arch = "wasm32"))]
std::thread_local! {
    /// Lines written on a native target, where there is no host to take them.
    static NATIVE_LINES: std::cell::RefCell<Vec<(Level, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The lines written on this thread since the last call, when built for a
/// native target (a plugin's unit tests). Always empty inside the sandbox,
/// where the host keeps the log.
///
/// ```
/// cally_sdk::log::info("hello");
/// assert_eq!(
///     cally_sdk::log::take_native_lines(),
///     vec![(cally_sdk::log::Level::Info, "hello".to_owned())]
/// );
/// ```
pub fn take_native_lines() -> Vec<(Level, String)> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        NATIVE_LINES.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
    }
    #[cfg(target_arch = "wasm32")]
    {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Level;

    #[test]
    fn levels_display_as_traces_spell_them() {
        let levels = [
            (Level::Debug, "debug"),
            (Level::Info, "info"),
            (Level::Warn, "warn"),
            (Level::Error, "error"),
        ];
        for (level, spelled) in levels {
            assert_eq!(level.to_string(), spelled);
        }
    }
}
