//! `store-app send`'s reader and line parser over any input, NDJSON and CSV: every non-blank
//! line is a reading or a reject naming its own line, with a bounded line buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/store-app/src/input.rs"]
#[allow(dead_code, missing_docs)]
mod input;

use input::{Door, InputFormat, LineParser, LineReader};

fuzz_target!(|data: &[u8]| {
    let door = Door {
        now: 1_764_000_000,
        skew_seconds: 900,
    };
    for format in [InputFormat::Ndjson, InputFormat::Csv] {
        let mut lines = LineReader::new(data, 256);
        let mut parser = LineParser::new("fuzz", format, door);
        let mut n = 0;
        while let Some(raw) = lines.next_line().expect("reading from memory") {
            n += 1;
            if let Some(Err(rej)) = parser.parse(&raw) {
                assert_eq!(rej.line, n);
                assert!(rej.record.len() <= 256 * 4 + 8);
            }
        }
    }
});
