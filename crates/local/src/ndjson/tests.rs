use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use proptest::prelude::*;
use store_model::Reading;

use super::{LineDecoder, LineRange, ReadingsJsonFormat};
use crate::schema::reading_schema;

/// Every column, and the subsets a planning query and a count ask for.
fn projections() -> Vec<SchemaRef> {
    let all = reading_schema();
    let pick = |names: &[&str]| {
        let fields = names
            .iter()
            .map(|n| all.field_with_name(n).cloned().unwrap())
            .collect::<Vec<_>>();
        Arc::new(Schema::new(fields))
    };
    vec![
        all.clone(),
        // What a planning query reads: all but the seed's compatibility columns.
        Arc::new(Schema::new(
            all.fields()
                .iter()
                .filter(|f| {
                    !["is_stock_low", "notification_sent", "restock_status"]
                        .contains(&f.name().as_str())
                })
                .cloned()
                .collect::<Vec<_>>(),
        )),
        pick(&["check_timestamp", "is_stock_low"]),
        Arc::new(Schema::empty()),
    ]
}

/// What arrow-json, the general reader, makes of `bytes`, as one batch.
fn general(schema: &SchemaRef, bytes: &[u8]) -> Result<RecordBatch, String> {
    let reader = ReaderBuilder::new(schema.clone())
        .with_batch_size(7)
        .build(bytes)
        .map_err(|e| e.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    concat_batches(schema, &batches).map_err(|e| e.to_string())
}

/// What the line decoder makes of `bytes` split into the ranges at `cuts`, each pushed in
/// chunks of `chunk` bytes, as one batch.
fn fast(
    schema: &SchemaRef,
    bytes: &[u8],
    cuts: &[u64],
    chunk: usize,
) -> Result<RecordBatch, String> {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().map(|c| (*c).min(bytes.len() as u64)));
    bounds.push(bytes.len() as u64);
    bounds.sort_unstable();
    let mut batches = Vec::new();
    for pair in bounds.windows(2) {
        let mut decoder = LineDecoder::new(schema.clone()).map_err(|e| e.to_string())?;
        let mut range = LineRange::new(pair[0], pair[1]);
        let from = range.next_offset() as usize;
        for piece in bytes[from..].chunks(chunk.max(1)) {
            range
                .push(piece, |lines| decoder.decode(lines))
                .map_err(|e| e.to_string())?;
        }
        range
            .finish(|line| decoder.decode(line))
            .map_err(|e| e.to_string())?;
        batches.extend(decoder.flush().map_err(|e| e.to_string())?);
    }
    concat_batches(schema, &batches).map_err(|e| e.to_string())
}

fn reading(i: usize) -> Reading {
    Reading {
        store_id: format!("store-{:03}", i % 7),
        product_id: format!("p-{:04}", i % 13),
        product_name: ["Bánh mì", "Phở bò", "Cà phê \"sữa\" đá", "Trà\\xanh"][i % 4].to_owned(),
        current_stock: (i * 37 % 90) as i32,
        threshold_level: 20,
        is_stock_low: i.is_multiple_of(3),
        check_timestamp: 1_760_000_000 + (i as i64) * 61,
        notification_sent: false,
        restock_status: "none".to_owned(),
        event_id: (!i.is_multiple_of(5)).then(|| format!("{i:08x}-0000-4000-8000-000000000000")),
        max_stock: (i % 4 != 1).then_some(120),
    }
}

/// Lines as the local Firehose writes them, and lines only other writers would: escapes the
/// fast path leaves to arrow-json, other key orders, nulls, missing and unknown keys, numbers
/// written as text or with a fraction, repeated keys, blank lines and CRLF endings.
fn sample_object() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..40 {
        out.extend(serde_json::to_vec(&reading(i)).unwrap());
        out.push(b'\n');
    }
    let odd = [
        r#"{"product_id":"p-1","store_id":"s-1","current_stock":3,"threshold_level":5,"check_timestamp":1760000000}"#,
        r#"{"store_id":"s-\u00e9","product_id":"p-\ud83d\ude00","product_name":null,"current_stock":null,"check_timestamp":-5}"#,
        r#"  { "store_id" : "s-2" , "extra": {"nested": [1, 2]}, "current_stock": 7 }  "#,
        r#"{"store_id":"s-3","current_stock":"12","threshold_level":4.0,"check_timestamp":1.76e9}"#,
        r#"{"store_id":"s-4","store_id":"s-5","is_stock_low":true,"notification_sent":null}"#,
        r#"{"store_id":"tab\there","product_name":"line\nbreak \/ slash","unknown":-12,"flag":false,"none":null}"#,
        r#"{}"#,
        "",
        "   ",
        "{\"store_id\":\"crlf\",\"current_stock\":0}\r",
        r#"{"store_id":"s-6","current_stock":2147483647,"check_timestamp":-9223372036854775807}"#,
        r#"{"store_id":"s-7","current_stock":00}"#,
    ];
    for line in odd {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.extend(serde_json::to_vec(&reading(99)).unwrap());
    out
}

#[test]
fn the_line_decoder_reads_every_column_as_arrow_json_does() {
    let object = sample_object();
    for schema in projections() {
        let want = general(&schema, &object);
        for cuts in [vec![], vec![1], vec![500, 1_000, 4_321], vec![9_000]] {
            for chunk in [1, 64, 1 << 20] {
                assert_eq!(
                    fast(&schema, &object, &cuts, chunk),
                    want,
                    "columns {:?}, ranges cut at {cuts:?}, chunks of {chunk}",
                    schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn plain_lines_take_the_fast_path_and_only_unusual_ones_go_to_arrow_json() {
    let object = sample_object();
    let mut decoder = LineDecoder::new(reading_schema()).unwrap();
    decoder.decode(&object).unwrap();
    // The 41 lines as written by the local Firehose, and the plain odd ones (another key order,
    // simple escapes and unknown keys, `{}`, CRLF, the extremes of the integer types) are read by
    // the fast path; a `\u` escape, a nested value, a number as text or with a fraction, a
    // repeated key and a leading zero are left to arrow-json.
    assert_eq!(decoder.general_lines(), 5);
    assert_eq!(decoder.flush().unwrap().unwrap().num_rows(), 41 + 10);
}

#[test]
fn a_line_arrow_json_refuses_is_refused_with_its_error() {
    let schema = reading_schema();
    for line in [
        r#"{"store_id":"s","current_stock":"many"}"#,
        r#"{"store_id":"s","current_stock":99999999999}"#,
        r#"{"store_id":"s""#,
        r#"{"store_id":"bad \q escape"}"#,
    ] {
        let want = general(&schema, line.as_bytes());
        assert!(want.is_err(), "arrow-json reads {line}");
        assert_eq!(fast(&schema, line.as_bytes(), &[], 1 << 20), want, "{line}");
    }
}

proptest! {
    #[test]
    fn any_reading_is_read_as_arrow_json_reads_it(
        name in "\\PC{0,12}",
        store in "[a-z0-9\"\\\\/ \t-]{0,8}",
        stock in any::<i32>(),
        time in any::<i64>(),
        event in proptest::option::of("[0-9a-f-]{0,36}"),
        max_stock in proptest::option::of(any::<i32>()),
    ) {
        let mut r = reading(0);
        r.product_name = name;
        r.store_id = store;
        r.current_stock = stock;
        r.check_timestamp = time;
        r.event_id = event;
        r.max_stock = max_stock;
        let mut object = serde_json::to_vec(&r).unwrap();
        object.push(b'\n');
        for schema in projections() {
            prop_assert_eq!(fast(&schema, &object, &[], 1 << 20), general(&schema, &object));
        }
    }
}

/// A listing table over `dir` in `format`, split into byte ranges of about 1 KiB.
async fn scan(dir: &std::path::Path, format: Arc<dyn FileFormat>) -> Vec<RecordBatch> {
    let mut config = SessionConfig::new().with_target_partitions(3);
    config.options_mut().optimizer.repartition_file_min_size = 1024;
    let ctx = SessionContext::new_with_config(config);
    let url = ListingTableUrl::parse(format!("{}/", dir.display())).unwrap();
    let options = ListingOptions::new(format)
        .with_file_extension(".json")
        .with_table_partition_cols(vec![(
            "dt".into(),
            datafusion::arrow::datatypes::DataType::Utf8,
        )]);
    let table = ListingTable::try_new(
        ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(reading_schema()),
    )
    .unwrap();
    ctx.register_table("readings", Arc::new(table)).unwrap();
    let plan = ctx
        .sql("EXPLAIN SELECT count(*) FROM readings")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let plan = pretty_format_batches(&plan).unwrap().to_string();
    assert!(
        plan.contains("a.json:0.."),
        "objects are read in byte ranges:\n{plan}"
    );
    ctx.sql(
        "SELECT dt, store_id, count(*) AS n, sum(current_stock) AS stock, max(product_name) AS name \
         FROM readings WHERE dt >= '2026-01-02' GROUP BY dt, store_id ORDER BY dt, store_id",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_planning_scan_reads_partitions_and_ranges_as_the_general_reader_does() {
    let dir = tempfile::tempdir().unwrap();
    for (dt, readings) in [
        ("2026-01-01", 0..50),
        ("2026-01-02", 50..300),
        ("2026-01-03", 300..320),
    ] {
        let part = dir.path().join(format!("dt={dt}"));
        std::fs::create_dir_all(&part).unwrap();
        let mut object = Vec::new();
        for i in readings {
            object.extend(serde_json::to_vec(&reading(i)).unwrap());
            object.push(b'\n');
        }
        std::fs::write(part.join("a.json"), &object).unwrap();
    }
    let ours = scan(dir.path(), Arc::new(ReadingsJsonFormat::default())).await;
    let general = scan(dir.path(), Arc::new(JsonFormat::default())).await;
    assert_eq!(ours, general);
    let counts = pretty_format_batches(&ours).unwrap().to_string();
    let rows: usize = ours.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(
        rows, 14,
        "7 stores in each of the two partitions from 2026-01-02:\n{counts}"
    );
    let readings: i64 = ours
        .iter()
        .map(|b| {
            b.column_by_name("n")
                .unwrap()
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(
        readings, 270,
        "the 250 + 20 readings of the two partitions:\n{counts}"
    );
}
