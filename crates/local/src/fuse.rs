//! Fuses `max_by`s (and `min_by`s) that share a key into one aggregate over a struct of their
//! values: the planning SQL asks for five columns of the latest reading, each `max_by(x, ord)`,
//! and five accumulators would each compare and copy the key of every row. Fused, the key is
//! compared and kept once per group and the five values ride along; a projection takes the
//! fields back out under the original names, so nothing above the aggregate sees a difference.
//! The SQL text stays the one Athena runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::functions::core::expr_fn::{get_field, named_struct};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, Projection, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The rule; register it with `SessionContext::add_optimizer_rule`.
#[derive(Debug, Default)]
pub struct FuseMaxBy;

/// The prefix of a fused aggregate's output column.
const FUSED: &str = "__fused_by_";

/// A fusable aggregate: `max_by` or `min_by` with a plain (value, key), unaliased.
fn fusable(expr: &Expr) -> Option<(&AggregateFunction, &Expr)> {
    let Expr::AggregateFunction(f) = expr else {
        return None;
    };
    let p = &f.params;
    let plain = !p.distinct && p.filter.is_none() && p.order_by.is_empty() && p.args.len() == 2;
    let ours = matches!(f.func.name(), "max_by" | "min_by");
    (plain && ours).then(|| (f, &p.args[1]))
}

impl OptimizerRule for FuseMaxBy {
    fn name(&self) -> &str {
        "fuse_max_by"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let families = families(aggregate);
        if families.is_empty() {
            return Ok(Transformed::no(plan));
        }

        // Which family each fused aggregate joins, and its field there.
        let fused_of: BTreeMap<usize, (usize, usize)> = families
            .values()
            .enumerate()
            .flat_map(|(family, members)| {
                members
                    .iter()
                    .enumerate()
                    .map(move |(k, &i)| (i, (family, k)))
            })
            .collect();
        // The new aggregate holds the unfused aggregates in order, then one per family; each
        // original aggregate's value comes from (its column there, the field of a fused one).
        let first_fused = aggregate.aggr_expr.len() - fused_of.len();
        let mut kept = Vec::with_capacity(first_fused + families.len());
        let mut source: Vec<(usize, Option<String>)> = Vec::new();
        for (i, e) in aggregate.aggr_expr.iter().enumerate() {
            match fused_of.get(&i) {
                Some(&(family, k)) => source.push((first_fused + family, Some(format!("f{k}")))),
                None => {
                    source.push((kept.len(), None));
                    kept.push(e.clone());
                }
            }
        }
        for (family, members) in families.values().enumerate() {
            kept.push(fused(&aggregate.aggr_expr, members).alias(format!("{FUSED}{family}")));
        }

        let groups = aggregate.group_expr.len();
        let new = Aggregate::try_new(
            Arc::clone(&aggregate.input),
            aggregate.group_expr.clone(),
            kept,
        )?;
        let new_schema = Arc::clone(&new.schema);
        let column = |i: usize| Expr::Column(Column::from(new_schema.qualified_field(i)));
        let mut exprs: Vec<Expr> = (0..groups)
            .map(|i| {
                let (qualifier, field) = aggregate.schema.qualified_field(i);
                column(i).alias_qualified(qualifier.cloned(), field.name())
            })
            .collect();
        for (i, (position, field)) in source.into_iter().enumerate() {
            let (qualifier, original) = aggregate.schema.qualified_field(groups + i);
            let value = match field {
                Some(name) => get_field(column(groups + position), name),
                None => column(groups + position),
            };
            exprs.push(value.alias_qualified(qualifier.cloned(), original.name()));
        }
        let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(new)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}

/// The fusable aggregates by (function, key), in first-seen order: the families of two or more.
fn families(aggregate: &Aggregate) -> BTreeMap<(String, String), Vec<usize>> {
    let mut families: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, e) in aggregate.aggr_expr.iter().enumerate() {
        if let Some((f, key)) = fusable(e) {
            families
                .entry((f.func.name().to_owned(), format!("{key}")))
                .or_default()
                .push(i);
        }
    }
    families.retain(|_, members| members.len() >= 2);
    families
}

/// One aggregate over a family's shared key, whose value is a struct of the members' values
/// (fields `f0`, `f1`, …).
fn fused(aggregates: &[Expr], members: &[usize]) -> Expr {
    let (f, key) = fusable(&aggregates[members[0]]).expect("a family's members are fusable");
    let mut fields = Vec::with_capacity(members.len() * 2);
    for (k, &i) in members.iter().enumerate() {
        let (g, _) = fusable(&aggregates[i]).expect("a family's members are fusable");
        fields.push(lit(format!("f{k}")));
        fields.push(g.params.args[0].clone());
    }
    Expr::AggregateFunction(AggregateFunction::new_udf(
        Arc::clone(&f.func),
        vec![named_struct(fields), key.clone()],
        false,
        None,
        vec![],
        None,
    ))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::assert_batches_eq;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::max_by::tests::sample_table;
    use crate::max_by::{max_by_udaf, min_by_udaf};

    const SQL: &str = "SELECT g,
            max_by(v, row(ts, coalesce(id, ''))) AS v,
            max_by(name, row(ts, coalesce(id, ''))) AS name,
            max_by(id, row(ts, coalesce(id, ''))) AS id,
            min_by(v, row(ts, coalesce(id, ''))) AS first_v,
            count(*) AS n,
            max_by(name, ts) AS by_time
        FROM t WHERE ts IS NOT NULL GROUP BY g ORDER BY g";

    fn context(fused: bool) -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_udaf(max_by_udaf());
        ctx.register_udaf(min_by_udaf());
        if fused {
            ctx.add_optimizer_rule(Arc::new(FuseMaxBy));
        }
        ctx.register_table("t", Arc::new(sample_table())).unwrap();
        ctx
    }

    async fn run(fused: bool) -> Vec<RecordBatch> {
        let df = context(fused).sql(SQL).await.unwrap();
        df.collect().await.unwrap()
    }

    #[tokio::test]
    async fn fused_aggregates_give_the_results_of_separate_ones() {
        let (separate, fused) = (run(false).await, run(true).await);
        assert_eq!(
            pretty_format_batches(&fused).unwrap().to_string(),
            pretty_format_batches(&separate).unwrap().to_string()
        );
        // a: the latest is ts 30 with id k9; the first ts 10. c (null ts only) is left out.
        // `by_time` ties on ts 30 in a (y or z), so it is compared above, not here.
        let projected = |batches: &[RecordBatch]| -> Vec<RecordBatch> {
            batches
                .iter()
                .map(|b| b.project(&[0, 1, 2, 3, 4, 5]).unwrap())
                .collect()
        };
        assert_batches_eq!(
            [
                "+---+---+------+----+---------+---+",
                "| g | v | name | id | first_v | n |",
                "+---+---+------+----+---------+---+",
                "| a | 3 | z    | k9 | 1       | 4 |",
                "| b |   | q    | k  | 4       | 2 |",
                "+---+---+------+----+---------+---+",
            ],
            &projected(&fused)
        );
    }

    #[tokio::test]
    async fn aggregates_sharing_a_key_become_one() {
        // The three max_by over the row key are one; min_by, and max_by over `ts`, stand alone.
        let plan = context(true)
            .sql(SQL)
            .await
            .unwrap()
            .into_optimized_plan()
            .unwrap();
        let expected = [
            "Sort: t.g ASC NULLS LAST",
            r#"  Projection: t.g, get_field(__fused_by_0, Utf8("f0")) AS v, get_field(__fused_by_0, Utf8("f1")) AS name, get_field(__fused_by_0, Utf8("f2")) AS id, min_by(t.v,row(t.ts,coalesce(t.id, Utf8("")))) AS first_v, count(Int64(1)) AS n, max_by(t.name,t.ts) AS by_time"#,
            r#"    Aggregate: groupBy=[[t.g]], aggr=[[min_by(t.v, __common_expr_1 AS row(t.ts,coalesce(t.id, Utf8("")))), count(Int64(1)), max_by(t.name, t.ts), max_by(named_struct(Utf8("f0"), t.v, Utf8("f1"), t.name, Utf8("f2"), t.id), __common_expr_1 AS row(t.ts,coalesce(t.id, Utf8("")))) AS __fused_by_0]]"#,
            r#"      Projection: struct(t.ts, CASE WHEN t.id IS NOT NULL THEN t.id ELSE Utf8("") END) AS __common_expr_1, t.g, t.v, t.name, t.ts, t.id"#,
            "        Filter: t.ts IS NOT NULL",
            "          TableScan: t projection=[g, v, name, ts, id]",
        ];
        assert_eq!(plan.display_indent().to_string(), expected.join("\n"));
    }
}
