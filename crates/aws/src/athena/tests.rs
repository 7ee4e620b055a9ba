//! Tests of `athena`.

use super::results::COLUMNS;
use super::*;

#[test]
fn parameters_are_typed_literals_with_quotes_doubled() {
    assert_eq!(parameter_literal(&SqlParam::Int(-5)), "-5");
    assert_eq!(
        parameter_literal(&SqlParam::Text("O'Brien's store".into())),
        "'O''Brien''s store'"
    );
}

#[test]
fn binding_fills_placeholders_outside_quotes_in_order() {
    let sql = "SELECT '?' FROM t WHERE a = ? AND b IN (?, ?)";
    let params = [
        SqlParam::Int(3),
        SqlParam::Text("x'y".into()),
        SqlParam::Text("z".into()),
    ];
    assert_eq!(
        bind(sql, &params),
        "SELECT '?' FROM t WHERE a = 3 AND b IN ('x''y', 'z')"
    );
}

#[test]
fn every_reviewed_statement_has_all_its_parameters_bound() {
    for (name, sql) in statements_for_review() {
        let unquoted: String = sql.split('\'').step_by(2).collect();
        assert!(!unquoted.contains('?'), "{name}: {sql}");
    }
}

#[test]
fn a_result_without_a_planning_column_is_refused() {
    let names: Vec<String> = COLUMNS[1..].iter().map(|c| c.to_string()).collect();
    let e = ResultTyping::new(&names).err().unwrap();
    assert!(e.to_string().contains("store_id"));
}
