//! Readings from files: NDJSON (the seed's format or ours) or CSV with a header row.
//!
//! Every line is validated against the reading contract. A bad line becomes a [`Rejected`] naming
//! its source, line number, field and reason, with the original text, so nothing is dropped
//! silently and the line can be fixed and sent again.

use std::io::BufRead;

use serde::Serialize;
use serde_json::{Map, Value};
use store_model::reading::MAX_RECORD_BYTES;
use store_model::{Reading, ValidationError};

/// A line that was not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The file (or `-` for standard input).
    pub source: String,
    /// 1-based line number in the source.
    pub line: usize,
    /// The field that broke a rule.
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// The line as it was.
    pub record: String,
}

/// The input format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row naming the fields.
    Csv,
}

/// Integer columns of the contract, converted from CSV text.
const INT_FIELDS: [&str; 4] = [
    "current_stock",
    "threshold_level",
    "check_timestamp",
    "max_stock",
];
/// Boolean columns of the contract, converted from CSV text.
const BOOL_FIELDS: [&str; 2] = ["is_stock_low", "notification_sent"];

fn reject(source: &str, line: usize, err: ValidationError, record: &str) -> Rejected {
    Rejected {
        source: source.to_owned(),
        line,
        field: err.field.to_owned(),
        reason: err.reason,
        record: record.to_owned(),
    }
}

/// What every reading must pass at the door besides its own rules: a check time not before 2000
/// and not more than the allowed skew ahead of this machine's clock.
#[derive(Debug, Clone, Copy)]
pub struct Door {
    /// This machine's clock, epoch seconds.
    pub now: i64,
    /// How far ahead of `now` a check time may be, seconds.
    pub skew_seconds: i64,
}

impl Door {
    fn admit(&self, reading: Reading) -> Result<Reading, ValidationError> {
        reading.check_time(self.now, self.skew_seconds)?;
        Ok(reading)
    }
}

/// One line read with a bounded buffer: its text, or how long it was when it was too long.
#[derive(Debug, PartialEq, Eq)]
pub enum RawLine {
    /// The line's bytes, without its `\n` (or `\r\n`).
    Bytes(Vec<u8>),
    /// A line longer than the limit: its length, and its first bytes for the reject file.
    TooLong {
        /// Bytes in the line.
        bytes: usize,
        /// Its start.
        head: Vec<u8>,
    },
}

/// Reads lines of at most `max` bytes, however long the input's lines are: a longer line is
/// skipped to its end without being held, so one huge line costs no more memory than `max`.
pub struct LineReader<R> {
    reader: R,
    max: usize,
}

impl<R: BufRead> LineReader<R> {
    /// Lines of `reader`, each at most `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        Self { reader, max }
    }

    /// The next line, or `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<RawLine>> {
        let mut line = Vec::new();
        let mut total = 0_usize;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, done) = match memchr_newline(available) {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            let keep = (self.max + 1).saturating_sub(line.len()).min(chunk.len());
            line.extend_from_slice(&chunk[..keep]);
            total += chunk.len();
            let used = chunk.len() + usize::from(done);
            self.reader.consume(used);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        if line.last() == Some(&b'\r') && total <= self.max + 1 {
            line.pop();
            total -= 1;
        }
        Ok(Some(if total > self.max {
            line.truncate(256);
            RawLine::TooLong {
                bytes: total,
                head: line,
            }
        } else {
            RawLine::Bytes(line)
        }))
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Turns lines of one input into readings or rejects, for either format. For CSV the first
/// non-blank line is the header; every following line is one row (a reading has no field that
/// could hold a line break, so a row never spans lines).
pub struct LineParser {
    source: String,
    format: InputFormat,
    door: Door,
    headers: Option<Vec<String>>,
    line: usize,
}

impl LineParser {
    /// A parser of `source`'s lines in `format`.
    pub fn new(source: &str, format: InputFormat, door: Door) -> Self {
        Self {
            source: source.to_owned(),
            format,
            door,
            headers: None,
            line: 0,
        }
    }

    /// The reading (or reject) of the next line; `None` for a blank line or the CSV header.
    pub fn parse(&mut self, raw: &RawLine) -> Option<Result<Reading, Rejected>> {
        self.line += 1;
        let line = self.line;
        let bytes = match raw {
            RawLine::Bytes(b) => b,
            RawLine::TooLong { bytes, head } => {
                let err = ValidationError::new(
                    "record",
                    format!(
                        "the line is {bytes} bytes; a record holds at most {MAX_RECORD_BYTES} (Firehose's limit)"
                    ),
                );
                let shown = format!("{}…", String::from_utf8_lossy(head));
                return Some(Err(reject(&self.source, line, err, &shown)));
            }
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => return Some(Err(not_utf8(&self.source, line, bytes, &e))),
        };
        let text = if line == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        if text.trim().is_empty() {
            return None;
        }
        let parsed = match self.format {
            InputFormat::Ndjson => Reading::from_json_str(text.trim()),
            InputFormat::Csv => match &self.headers {
                None => match csv_cells(text) {
                    Ok(cells) => {
                        self.headers =
                            Some(cells.into_iter().map(|c| c.trim().to_owned()).collect());
                        return None;
                    }
                    Err(reason) => Err(ValidationError::new(
                        "record",
                        format!("unreadable CSV header: {reason}"),
                    )),
                },
                Some(headers) => csv_cells(text)
                    .map_err(|reason| {
                        ValidationError::new("record", format!("unreadable CSV row: {reason}"))
                    })
                    .and_then(|cells| {
                        let mut map = Map::new();
                        for (name, cell) in headers.iter().zip(cells.iter()) {
                            map.insert(name.clone(), csv_value(name, cell));
                        }
                        Reading::from_json_value(&Value::Object(map))
                    }),
            },
        };
        Some(
            parsed
                .and_then(|r| self.door.admit(r))
                .map_err(|e| reject(&self.source, line, e, text)),
        )
    }
}

/// The cells of one CSV line.
fn csv_cells(text: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    match reader.records().next() {
        Some(Ok(row)) => Ok(row.iter().map(str::to_owned).collect()),
        Some(Err(e)) => Err(e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// The reject of a line that is not UTF-8 text (shown with the bad bytes replaced).
pub fn not_utf8(source: &str, line: usize, raw: &[u8], err: &std::str::Utf8Error) -> Rejected {
    let err = ValidationError {
        field: "record",
        reason: format!("not valid UTF-8 text: {err}"),
    };
    reject(source, line, err, String::from_utf8_lossy(raw).trim_end())
}

/// Every reading and reject of a whole text (tests and small inputs).
pub fn parse_text(
    source: &str,
    format: InputFormat,
    door: Door,
    text: &str,
) -> Vec<Result<Reading, Rejected>> {
    let mut lines = LineReader::new(text.as_bytes(), MAX_RECORD_BYTES);
    let mut parser = LineParser::new(source, format, door);
    let mut out = Vec::new();
    while let Some(raw) = lines.next_line().expect("reading from memory cannot fail") {
        out.extend(parser.parse(&raw));
    }
    out
}

/// A CSV cell as the JSON value its column expects; text that does not convert stays text, so
/// validation names the column and shows what was wrong with it.
fn csv_value(column: &str, cell: &str) -> Value {
    let cell = cell.trim();
    if cell.is_empty() {
        return Value::Null;
    }
    if INT_FIELDS.contains(&column) {
        if let Ok(n) = cell.parse::<i64>() {
            return Value::from(n);
        }
    } else if BOOL_FIELDS.contains(&column) {
        match cell.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => return Value::Bool(true),
            "false" | "0" | "no" => return Value::Bool(false),
            _ => {}
        }
    }
    Value::String(cell.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOOR: Door = Door {
        now: 1_764_000_600,
        skew_seconds: 900,
    };

    #[test]
    fn seed_ndjson_lines_are_read_and_bad_lines_are_rejected_with_their_number() {
        let good = r#"{"store_id":"STORE_4","product_id":"PRD_5","product_name":"Bánh mì","current_stock":3,"threshold_level":10,"is_stock_low":true,"check_timestamp":1764000000,"notification_sent":false,"restock_status":"PENDING"}"#;
        let text = format!("\u{feff}{good}\r\n   \r\n{{\"store_id\":\"S\"}}\r\n");
        let rows = parse_text("f", InputFormat::Ndjson, DOOR, &text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_ref().unwrap().product_name, "Bánh mì");
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!(
            (bad.line, bad.field.as_str(), bad.source.as_str()),
            (3, "product_id", "f")
        );
        assert_eq!(bad.record, r#"{"store_id":"S"}"#, "the line as it was");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_reject_naming_its_line() {
        let raw = [b"{\"store_id\": \"".as_slice(), &[0xff], b"\"}"].concat();
        let err = std::str::from_utf8(&raw).unwrap_err();
        let r = not_utf8("f", 4, &raw, &err);
        assert_eq!((r.line, r.field.as_str()), (4, "record"));
        assert!(r.reason.contains("UTF-8"));
    }

    #[test]
    fn a_huge_line_is_skipped_without_being_held_and_the_next_line_is_read() {
        let huge = "x".repeat(5_000);
        let text = format!("ab\r\n{huge}\nlast");
        let mut lines =
            LineReader::new(std::io::BufReader::with_capacity(64, text.as_bytes()), 100);
        assert_eq!(
            lines.next_line().unwrap(),
            Some(RawLine::Bytes(b"ab".to_vec()))
        );
        match lines.next_line().unwrap() {
            Some(RawLine::TooLong { bytes, head }) => {
                assert_eq!(bytes, 5_000);
                assert!(head.len() <= 256);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            lines.next_line().unwrap(),
            Some(RawLine::Bytes(b"last".to_vec()))
        );
        assert_eq!(lines.next_line().unwrap(), None);
        let mut parser = LineParser::new("f", InputFormat::Ndjson, DOOR);
        let rej = parser
            .parse(&RawLine::TooLong {
                bytes: 2_000_000,
                head: b"{".to_vec(),
            })
            .unwrap()
            .unwrap_err();
        assert_eq!((rej.line, rej.field.as_str()), (1, "record"));
        assert!(rej.reason.contains("2000000 bytes"), "{}", rej.reason);
    }

    #[test]
    fn csv_rows_are_typed_by_column_rejected_by_field_and_kept_as_written() {
        let text = "store_id,product_id,product_name,current_stock,threshold_level,check_timestamp,notification_sent\r\n\
                    STORE_1,PRD_2,Thịt gà,4,10,1764000000,false\r\n\
                    STORE_1,PRD_3,\"Sữa tươi\",many,10,1764000000,false\r\n\
                    \r\n\
                    STORE_1,PRD_4,Phở,4,10,1864000000,false\r\n";
        let rows = parse_text("in.csv", InputFormat::Csv, DOOR, text);
        assert_eq!(rows.len(), 3);
        let ok = rows[0].as_ref().unwrap();
        assert_eq!((ok.current_stock, ok.product_name.as_str()), (4, "Thịt gà"));
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.field.as_str()), (3, "current_stock"));
        assert!(bad.reason.contains("integer"), "{}", bad.reason);
        assert_eq!(
            bad.record,
            "STORE_1,PRD_3,\"Sữa tươi\",many,10,1764000000,false"
        );
        let future = rows[2].as_ref().unwrap_err();
        assert_eq!((future.line, future.field.as_str()), (5, "check_timestamp"));
        assert!(future.reason.contains("ahead"), "{}", future.reason);
    }

    fn line_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just(String::new()),
            Just("   ".to_owned()),
            (1_i64..900).prop_map(|ago| format!(
                r#"{{"store_id":"S","product_id":"P","product_name":"Phở","current_stock":1,"threshold_level":5,"check_timestamp":{}}}"#,
                DOOR.now - ago
            )),
            "[^\r\n]{0,40}",
            Just(r#"{"store_id":"S","store_id":"T"}"#.to_owned()),
            Just("[]".to_owned()),
        ]
    }

    proptest::proptest! {
        #[test]
        fn every_line_is_a_reading_or_a_reject_at_its_own_number(
            lines in proptest::collection::vec(line_strategy(), 0..40),
            crlf in proptest::bool::ANY,
        ) {
            let text: String = lines
                .iter()
                .map(|l| format!("{l}{}", if crlf { "\r\n" } else { "\n" }))
                .collect();
            let out = parse_text("p", InputFormat::Ndjson, DOOR, &text);
            // A byte-order mark before the first line is not part of it.
            let non_blank = lines
                .iter()
                .enumerate()
                .filter(|(i, l)| {
                    let l = if *i == 0 { l.strip_prefix('\u{feff}').unwrap_or(l) } else { l };
                    !l.trim().is_empty()
                })
                .count();
            proptest::prop_assert_eq!(out.len(), non_blank);
            for rej in out.iter().filter_map(|r| r.as_ref().err()) {
                let line = &lines[rej.line - 1];
                let line = if rej.line == 1 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
                proptest::prop_assert_eq!(rej.record.as_str(), line);
            }
            // The same lines as CSV never panic and keep their numbers too.
            for row in parse_text("p.csv", InputFormat::Csv, DOOR, &text) {
                if let Err(rej) = row {
                    proptest::prop_assert!(rej.line >= 1 && rej.line <= lines.len().max(1));
                }
            }
        }
    }
}
