//! Progress of long work, drawn on standard error only when it is a terminal: piped and logged
//! runs stay quiet. `send` shows the bytes of its input read, `simulate` the readings sent.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bar through an input of known length, and the spinner for one of unknown length.
const BYTES: [&str; 2] = [
    "{bar:30} {bytes}/{total_bytes} read, {bytes_per_sec}, {eta} left",
    "{spinner} {bytes} read, {bytes_per_sec}",
];

/// The bar through a number of readings, and the spinner for a run without an end.
const READINGS: [&str; 2] = [
    "{bar:30} {human_pos}/{human_len} readings sent, {per_sec}, {eta} left",
    "{spinner} {human_pos} readings sent, {per_sec}",
];

/// Progress through an input of `len` bytes (a spinner when the length is unknown: standard
/// input).
pub fn bytes(len: Option<u64>) -> ProgressBar {
    bar(len, BYTES)
}

/// Progress through `count` readings (a spinner for a run without an end).
pub fn readings(count: Option<u64>) -> ProgressBar {
    bar(count, READINGS)
}

fn bar(len: Option<u64>, [bounded, unbounded]: [&str; 2]) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr_with_hz(4));
    let template = if len.is_some() { bounded } else { unbounded };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_are_valid() {
        for t in BYTES.into_iter().chain(READINGS) {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
