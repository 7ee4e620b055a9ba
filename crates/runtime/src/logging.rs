//! Logging for the command-line apps: `STORE_LOG` (an `EnvFilter`, `warn` when unset), human
//! lines on standard error so standard output stays the apps' data. (Under the Lambda runtime
//! the planner uses the runtime's own JSON subscriber instead.)

use tracing_subscriber::EnvFilter;

/// The variable holding the log filter, e.g. `STORE_LOG=store_local=debug,info`.
pub const LOG_FILTER: &str = "STORE_LOG";

/// Installs the subscriber; call once, first thing in `main`.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_env(LOG_FILTER).unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
