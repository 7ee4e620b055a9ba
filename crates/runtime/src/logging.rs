//! Logging for the command-line apps: `STORE_LOG` (an `EnvFilter`, `warn` when unset), human
//! lines on standard error so standard output stays the apps' data. Colour only when standard
//! error is a terminal and `NO_COLOR` is unset: a log file or pipe gets plain text. (Under the
//! Lambda runtime the planner uses the runtime's own JSON subscriber instead.)

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The variable holding the log filter, e.g. `STORE_LOG=store_local=debug,info`.
pub const LOG_FILTER: &str = "STORE_LOG";

/// Installs the subscriber; call once, first thing in `main`.
pub fn init_tracing() {
    init_tracing_or("warn");
}

/// Installs the subscriber with `default` as the filter when `STORE_LOG` is unset (the
/// simulator's apps close and dead-letter orders by the thousand: `error` keeps its output to
/// its own lines).
pub fn init_tracing_or(default: &str) {
    let filter = EnvFilter::try_from_env(LOG_FILTER).unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(std::io::stderr)
        .init();
}

/// Whether log lines are coloured: on a terminal, unless `NO_COLOR` is set to anything but
/// the empty string (no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some("".into())));
        assert!(!super::colour(true, Some("1".into())));
        assert!(!super::colour(false, None));
    }
}
