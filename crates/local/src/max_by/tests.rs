//! Tests of `max_by`.

use super::*;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::assert_batches_eq;
use datafusion::prelude::SessionContext;

async fn query(sql: &str) -> Vec<RecordBatch> {
    let ctx = SessionContext::new();
    ctx.register_udaf(max_by_udaf());
    ctx.register_udaf(min_by_udaf());
    ctx.register_table("t", Arc::new(sample_table())).unwrap();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

#[tokio::test]
async fn picks_the_value_of_the_greatest_row_key_with_text_breaking_ties() {
    let out = query(
        "SELECT g, max_by(v, row(ts, coalesce(id, ''))) AS v, max_by(name, row(ts, coalesce(id, ''))) AS n
         FROM t WHERE ts IS NOT NULL GROUP BY g ORDER BY g",
    )
    .await;
    // a: ts 30 twice, id k9 > k0 -> v=3, name z. b: ts 7 > 5 -> null value kept, name q.
    assert_batches_eq!(
        [
            "+---+---+---+",
            "| g | v | n |",
            "+---+---+---+",
            "| a | 3 | z |",
            "| b |   | q |",
            "+---+---+---+",
        ],
        &out
    );
}

#[tokio::test]
async fn min_by_picks_the_value_of_the_least_row_key() {
    let out = query(
        "SELECT g, min_by(v, row(ts, coalesce(id, ''))) AS v, min_by(name, row(ts, coalesce(id, ''))) AS n
         FROM t WHERE ts IS NOT NULL GROUP BY g ORDER BY g",
    )
    .await;
    // a: ts 10 is least -> v=1, name x. b: ts 5 -> v=4, name p.
    assert_batches_eq!(
        [
            "+---+---+---+",
            "| g | v | n |",
            "+---+---+---+",
            "| a | 1 | x |",
            "| b | 4 | p |",
            "+---+---+---+",
        ],
        &out
    );
    // Ties on time go to the least event id: ts 30 holds k0 (v=2) and k9 (v=3).
    let out = query("SELECT min_by(v, row(ts, coalesce(id, ''))) AS v FROM t WHERE ts = 30").await;
    assert_batches_eq!(["+---+", "| v |", "+---+", "| 2 |", "+---+"], &out);
}

#[tokio::test]
async fn a_row_key_with_a_null_field_is_an_error_as_on_trino() {
    let ctx = SessionContext::new();
    ctx.register_udaf(max_by_udaf());
    ctx.register_table("t", Arc::new(sample_table())).unwrap();
    // Group c's only reading has a null time.
    let err = ctx
        .sql("SELECT g, max_by(v, row(ts, coalesce(id, ''))) FROM t GROUP BY g")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ROW comparison not supported for fields with null elements"),
        "{err}"
    );
    // An integer key that is null is only ignored: c has no candidate.
    let out = query("SELECT g, max_by(v, ts) AS v FROM t WHERE g = 'c' GROUP BY g").await;
    assert_batches_eq!(
        [
            "+---+---+",
            "| g | v |",
            "+---+---+",
            "| c |   |",
            "+---+---+"
        ],
        &out
    );
}

#[tokio::test]
async fn works_with_integer_keys_and_without_group_by() {
    // The greatest time, 30, is held by y and z: a tie on a plain key may go to either.
    let out = query("SELECT max_by(name, ts) AS n FROM t").await;
    let names = out[0].column(0).as_string::<i32>();
    assert_eq!(out.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    assert!(["y", "z"].contains(&names.value(0)), "{out:?}");
    let out = query("SELECT g, max_by(v, ts) AS v FROM t WHERE g = 'b' GROUP BY g").await;
    assert_batches_eq!(
        [
            "+---+---+",
            "| g | v |",
            "+---+---+",
            "| b |   |",
            "+---+---+"
        ],
        &out
    );
}

#[tokio::test]
async fn rejects_unorderable_keys_at_planning_time() {
    let ctx = SessionContext::new();
    ctx.register_udaf(max_by_udaf());
    let err = ctx
        .sql("SELECT max_by(1, 1.5)")
        .await
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("max_by")));
}

/// Groups `a`, `b` and `c` with values, names, times and event ids (ties, nulls), in two
/// partitions so partial states are merged too: the aggregate tests' table `t`.
pub(crate) fn sample_table() -> datafusion::datasource::MemTable {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::datatypes::Schema;
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, false),
        Field::new("v", DataType::Int32, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("ts", DataType::Int64, true),
        Field::new("id", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a", "a", "a", "b", "b", "c", "a"])),
            Arc::new(Int32Array::from(vec![
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                None,
                Some(6),
                Some(7),
            ])),
            Arc::new(StringArray::from(vec![
                Some("x"),
                Some("y"),
                Some("z"),
                Some("p"),
                Some("q"),
                Some("r"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![
                Some(10),
                Some(30),
                Some(30),
                Some(5),
                Some(7),
                None,
                Some(20),
            ])),
            Arc::new(StringArray::from(vec![
                Some("k1"),
                Some("k0"),
                Some("k9"),
                None,
                Some("k"),
                Some("k"),
                Some("k5"),
            ])),
        ],
    )
    .expect("sample batch");
    let (left, right) = (batch.slice(0, 4), batch.slice(4, 3));
    datafusion::datasource::MemTable::try_new(schema, vec![vec![left], vec![right]])
        .expect("sample table")
}
