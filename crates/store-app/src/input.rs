//! Readings from files: NDJSON (the seed's format or ours) or CSV with a header row.
//!
//! Every line is validated against the reading contract. A bad line becomes a [`Rejected`] naming
//! its source, line number, field and reason, with the original text, so nothing is dropped
//! silently and the line can be fixed and sent again.

use serde::Serialize;
use serde_json::{Map, Value};
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

/// Parses one NDJSON line (`line` is its 1-based number); blank lines yield `None`.
pub fn parse_ndjson_line(
    source: &str,
    line: usize,
    text: &str,
) -> Option<Result<Reading, Rejected>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(Reading::from_json_str(trimmed).map_err(|e| reject(source, line, e, text)))
}

/// The reject of a line that is not UTF-8 text (shown with the bad bytes replaced).
pub fn not_utf8(source: &str, line: usize, raw: &[u8], err: &std::str::Utf8Error) -> Rejected {
    let err = ValidationError {
        field: "record",
        reason: format!("not valid UTF-8 text: {err}"),
    };
    reject(source, line, err, String::from_utf8_lossy(raw).trim_end())
}

/// Parses CSV text with a header row into readings and rejects, in input order.
pub fn parse_csv(source: &str, text: &str) -> Vec<Result<Reading, Rejected>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Err(reject(
                source,
                1,
                ValidationError {
                    field: "record",
                    reason: format!("unreadable CSV header: {e}"),
                },
                "",
            ))];
        }
    };
    let mut out = Vec::new();
    for record in reader.records() {
        out.push(match record {
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                let err = ValidationError {
                    field: "record",
                    reason: format!("unreadable CSV row: {e}"),
                };
                Err(reject(source, line, err, ""))
            }
            Ok(row) => {
                let line = row.position().map_or(0, |p| p.line() as usize);
                let raw = row.iter().collect::<Vec<_>>().join(",");
                let mut map = Map::new();
                for (name, cell) in headers.iter().zip(row.iter()) {
                    map.insert(name.trim().to_owned(), csv_value(name.trim(), cell));
                }
                Reading::from_json_value(&Value::Object(map))
                    .map_err(|e| reject(source, line, e, &raw))
            }
        });
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

    #[test]
    fn seed_ndjson_line_is_read_and_bad_lines_are_rejected_with_their_number() {
        let good = r#"{"store_id":"STORE_4","product_id":"PRD_5","product_name":"Bánh mì","current_stock":3,"threshold_level":10,"is_stock_low":true,"check_timestamp":1764000000,"notification_sent":false,"restock_status":"PENDING"}"#;
        assert_eq!(
            parse_ndjson_line("f", 1, good)
                .unwrap()
                .unwrap()
                .product_name,
            "Bánh mì"
        );
        assert!(parse_ndjson_line("f", 2, "   ").is_none());
        let bad = parse_ndjson_line("f", 3, r#"{"store_id":"S"}"#)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (bad.line, bad.field.as_str(), bad.source.as_str()),
            (3, "product_id", "f")
        );
        assert_eq!(bad.record, r#"{"store_id":"S"}"#);
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
    fn csv_rows_are_typed_by_column_and_rejected_by_field() {
        let text = "store_id,product_id,product_name,current_stock,threshold_level,check_timestamp,notification_sent\n\
                    STORE_1,PRD_2,Thịt gà,4,10,1764000000,false\n\
                    STORE_1,PRD_3,Sữa tươi,many,10,1764000000,false\n";
        let rows = parse_csv("in.csv", text);
        assert_eq!(rows.len(), 2);
        let ok = rows[0].as_ref().unwrap();
        assert_eq!((ok.current_stock, ok.product_name.as_str()), (4, "Thịt gà"));
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.field.as_str()), (3, "current_stock"));
        assert!(bad.reason.contains("integer"), "{}", bad.reason);
    }
}
