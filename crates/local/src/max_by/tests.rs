//! Tests of `max_by`.

use super::*;
use datafusion::arrow::array::{AsArray, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::Int32Type;
use datafusion::assert_batches_eq;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;

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

/// One row fed straight to the accumulator: its group and its key (`None`: a null key).
type Row = (usize, Option<(i64, &'static str)>);

const GROUPS: usize = 6;

/// The value of row `id`: its number, and a text long enough to live in a view's buffer.
fn value_text(id: i32) -> String {
    format!("the value of row number {id}")
}

/// A batch of `rows` whose first row is row `first`: the values (a struct of the row's number
/// and text) and the keys (`row(BIGINT, string)`).
fn arrays(rows: &[Row], first: i32) -> Vec<ArrayRef> {
    use datafusion::arrow::array::StringViewArray;
    use datafusion::arrow::datatypes::Fields;
    let ids: Vec<i32> = (first..).take(rows.len()).collect();
    let values = StructArray::new(
        value_fields(),
        vec![
            Arc::new(Int32Array::from(ids.clone())),
            Arc::new(StringViewArray::from_iter_values(
                ids.iter().map(|&i| value_text(i)),
            )),
        ],
        None,
    );
    let keys = StructArray::new(
        Fields::from(vec![
            Field::new("c0", DataType::Int64, true),
            Field::new("c1", DataType::Utf8View, true),
        ]),
        vec![
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1.map_or(0, |k| k.0)),
            )),
            Arc::new(StringViewArray::from_iter_values(
                rows.iter().map(|r| r.1.map_or("", |k| k.1)),
            )),
        ],
        Some(rows.iter().map(|r| r.1.is_some()).collect()),
    );
    vec![Arc::new(values), Arc::new(keys)]
}

fn value_fields() -> datafusion::arrow::datatypes::Fields {
    datafusion::arrow::datatypes::Fields::from(vec![
        Field::new("id", DataType::Int32, true),
        Field::new("text", DataType::Utf8View, true),
    ])
}

/// A fresh accumulator that compacts as soon as its held rows pass twice its candidates.
fn eager(wins: Ordering) -> MaxByGroups {
    let mut groups = MaxByGroups::new(&DataType::Struct(value_fields()), wins).unwrap();
    groups.compact_slack = 0;
    groups
}

/// Feeds `batches` (whose rows are numbered from `first`) to `groups`, checking after each that
/// the held rows are at most twice the candidates.
fn feed(groups: &mut MaxByGroups, batches: &[Vec<Row>], mut first: i32) {
    for rows in batches {
        let indices: Vec<usize> = rows.iter().map(|r| r.0).collect();
        groups
            .update_batch(&arrays(rows, first), &indices, None, GROUPS)
            .unwrap();
        assert!(groups.held_rows <= 2 * groups.live);
        first += rows.len() as i32;
    }
}

/// The row number each group's value comes from, checking the text came with it.
fn winners(values: &[ArrayRef]) -> Vec<Option<i32>> {
    let mut out = Vec::new();
    for array in values {
        let s = array.as_struct();
        let (ids, texts) = (s.column(0).as_primitive::<Int32Type>(), s.column(1));
        for i in 0..s.len() {
            let id = s.is_valid(i).then(|| ids.value(i));
            let text = s
                .is_valid(i)
                .then(|| texts.as_string_view().value(i).to_owned());
            assert_eq!(text, id.map(value_text));
            out.push(id);
        }
    }
    out
}

/// The first row of each group whose key no later row beats.
fn reference(rows: &[Row], wins: Ordering) -> Vec<Option<i32>> {
    let mut best: Vec<Option<((i64, &str), i32)>> = vec![None; GROUPS];
    for (id, &(group, key)) in rows.iter().enumerate() {
        let Some(key) = key else { continue };
        if best[group].is_none_or(|(b, _)| key.cmp(&b) == wins) {
            best[group] = Some((key, id as i32));
        }
    }
    best.into_iter().map(|b| b.map(|(_, id)| id)).collect()
}

fn row_strategy() -> impl Strategy<Value = Row> {
    let key =
        proptest::option::weighted(0.9, (0_i64..6, prop_oneof![Just(""), Just("a"), Just("b")]));
    (0..GROUPS, key)
}

proptest! {
    #[test]
    fn held_rows_give_the_values_a_copying_reference_gives(
        batches in proptest::collection::vec(proptest::collection::vec(row_strategy(), 0..12), 0..10),
        greatest in any::<bool>(),
        first_out in 0..=GROUPS,
        split in 0_usize..10,
    ) {
        let wins = if greatest { Ordering::Greater } else { Ordering::Less };
        let rows: Vec<Row> = batches.concat();
        let want = reference(&rows, wins);

        // Fed in one place, emitted in two parts.
        let mut groups = eager(wins);
        feed(&mut groups, &batches, 0);
        groups.ensure(GROUPS);
        let first = groups.evaluate(EmitTo::First(first_out)).unwrap();
        let rest = groups.evaluate(EmitTo::All).unwrap();
        prop_assert_eq!(winners(&[first, rest]), want.clone());
        prop_assert_eq!((groups.live, groups.held_rows), (0, 0));

        // Fed in two places, whose states are merged in order.
        let split = split.min(batches.len());
        let at = batches[..split].iter().map(Vec::len).sum::<usize>() as i32;
        let (mut left, mut right, mut merged) = (eager(wins), eager(wins), eager(wins));
        feed(&mut left, &batches[..split], 0);
        feed(&mut right, &batches[split..], at);
        for part in [&mut left, &mut right] {
            part.ensure(GROUPS);
            let state = part.state(EmitTo::All).unwrap();
            let indices: Vec<usize> = (0..GROUPS).collect();
            merged.merge_batch(&state, &indices, GROUPS).unwrap();
        }
        prop_assert_eq!(winners(&[merged.evaluate(EmitTo::All).unwrap()]), want);
    }
}
