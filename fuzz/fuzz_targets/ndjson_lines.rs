//! The planning scan's NDJSON line decoder against arrow-json, line by line, under a projection
//! the first byte chooses: the same rows, or an error from both (a scan stops at its first
//! error, so the run does too).
#![no_main]

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use libfuzzer_sys::fuzz_target;
use store_ndjson::LineDecoder;

/// Every column type the decoder reads, under short names the inputs can hit.
const COLUMNS: [(&str, DataType); 4] = [
    ("s", DataType::Utf8),
    ("i", DataType::Int32),
    ("l", DataType::Int64),
    ("b", DataType::Boolean),
];

/// The columns whose bits are set in `selector`, in an order its high bit may reverse.
fn schema(selector: u8) -> SchemaRef {
    let mut fields: Vec<Field> = (COLUMNS.iter().enumerate())
        .filter(|(i, _)| selector & (1 << i) != 0)
        .map(|(_, (name, ty))| Field::new(*name, ty.clone(), true))
        .collect();
    if selector & 0x80 != 0 {
        fields.reverse();
    }
    Arc::new(Schema::new(fields))
}

/// arrow-json's rows for one line (inputs are at most 4 KiB: fewer objects than a batch holds).
fn general(schema: &SchemaRef, line: &[u8]) -> Result<Option<RecordBatch>, ArrowError> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(4096)
        .build_decoder()?;
    let read = decoder.decode(line)?;
    assert_eq!(
        read,
        line.len(),
        "one batch holds every object of a 4 KiB line"
    );
    decoder.flush()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let schema = schema(selector);
    let mut decoder = LineDecoder::new(schema.clone()).expect("the decoder reads these types");
    for line in text.split(|&b| b == b'\n') {
        let want = general(&schema, line);
        let got = decoder.decode_line(line).and_then(|()| decoder.flush());
        match (got, want) {
            (Ok(got), Ok(want)) => {
                assert_eq!(got, want, "line {:?}", String::from_utf8_lossy(line))
            }
            (Err(_), Err(_)) => return,
            (got, want) => panic!(
                "line {:?}: the decoder gave {got:?}, arrow-json {want:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }
});
