//! StoreApp: streams store stock readings into the lake.
//!
//! - [`cli`]: the command line, each subcommand with its own `run`;
//! - [`simulate`]: stores selling products, their stock falling with every sale, as readings,
//!   and [`stream`]: the run that streams them, live or as a history;
//! - [`input`] and [`send`]: readings from NDJSON or CSV files (a POS or ERP export, or the
//!   seed's records), each line validated; a bad line is reported with its line number and reason
//!   and kept in a reject file, and the good lines are still sent;
//! - [`progress`]: the progress bars of long runs, on a terminal only.
//!
//! Depends on `store-model` (the ports) and `store-runtime` (the wiring); the binary's `main`
//! only parses the command line and runs it.

use std::time::Instant;

use store_model::ports::SinkStats;

pub mod cli;
pub mod input;
pub mod progress;
pub mod send;
pub mod simulate;
pub mod stream;

/// One line on what a run delivered, and how fast.
pub fn summary(stats: &SinkStats, started: Instant) -> String {
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut line = format!(
        "{} readings delivered in {:.2} s ({:.0}/s), {} object(s) or call(s), {:.1} KiB",
        stats.delivered,
        secs,
        stats.delivered as f64 / secs,
        stats.objects,
        stats.bytes as f64 / 1024.0
    );
    if stats.retried + stats.spooled > 0 {
        line.push_str(&format!(
            ", {} retried, {} spooled",
            stats.retried, stats.spooled
        ));
    }
    line
}
