//! The shoppers' demand as one daily series per shelf, in the long format forecasting tools
//! read (`unique_id,ds,y`): what `store-bench forecast` and statsforecast are compared on.
//!
//! The units are those a run's shoppers ask for (the same draws as [`crate::run`]'s, from the
//! seed, the shelf's number and the hour), not what they got: the policy a run follows changes
//! sales through stock-outs, not demand, so every policy is forecast on the same series. A day
//! is a run's day (24 hours from the scenario's start), dated by its first hour's local date.

use std::io::Write;

use anyhow::{Context, Result};
use store_model::demand::DemandSettings;

use crate::Scenario;

/// Writes every shelf's daily demand as CSV with a header: `unique_id` is `STORE/PRODUCT`,
/// `ds` the local date (`YYYY-MM-DD`), `y` the units. Returns the rows written.
pub fn write_daily_demand(scenario: &Scenario, out: &mut impl Write) -> Result<u64> {
    let c = &scenario.chain;
    let demand: &DemandSettings = &scenario.demand;
    let start = scenario.start();
    let (first_day, _) = demand.local_day_hour(start);
    let stores = scenario.stores().context("the scenario's stores")?.ids();
    let days = c.days as usize;
    let hours: Vec<_> = (0..days as i64 * 24)
        .map(|h| demand.hour(start + h * 3600))
        .collect();
    let dates: Vec<String> = (0..days as i64)
        .map(|d| {
            let (day, _) = demand.local_day_hour(start + d * 86_400);
            chrono::DateTime::from_timestamp(day * 86_400, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        })
        .collect();
    writeln!(out, "unique_id,ds,y")?;
    let mut rows = 0;
    for (store, store_id) in stores.iter().enumerate() {
        for product in 0..c.products {
            let number = (store * c.products + product) as u64;
            let shelf = demand.shelf(c.seed, number, first_day, c.days);
            for (d, date) in dates.iter().enumerate() {
                let units: u64 = hours[d * 24..(d + 1) * 24]
                    .iter()
                    .map(|h| u64::from(demand.units_in(c.seed, number, &shelf, h)))
                    .sum();
                writeln!(out, "{store_id}/PRD_{},{date},{units}", product + 1)?;
                rows += 1;
            }
        }
    }
    out.flush()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series hold, day by day, the units the run's shoppers ask for.
    #[test]
    fn the_series_add_up_to_the_runs_demand() {
        let mut scenario = Scenario::default();
        scenario.chain.stores = 3;
        scenario.chain.products = 4;
        scenario.chain.days = 5;
        let mut csv = Vec::new();
        let rows = write_daily_demand(&scenario, &mut csv).unwrap();
        assert_eq!(rows, 3 * 4 * 5);
        let text = String::from_utf8(csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("unique_id,ds,y"));
        let total: u64 = lines
            .map(|l| l.rsplit(',').next().unwrap().parse::<u64>().unwrap())
            .sum();
        let start = scenario.start();
        let (first_day, _) = scenario.demand.local_day_hour(start);
        let want: u64 = (0..12u64)
            .map(|n| {
                let shelf = scenario.demand.shelf(scenario.chain.seed, n, first_day, 5);
                (0..5 * 24)
                    .map(|h| {
                        u64::from(scenario.demand.units(
                            scenario.chain.seed,
                            n,
                            &shelf,
                            start + h * 3600,
                        ))
                    })
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(total, want);
        assert!(total > 0);
        assert!(text.contains("/PRD_4,"), "{text}");
    }
}
