//! The KPIs of a run: one JSON object with stable field names (documented in the README's
//! simulator section), totals first, then per day, per store and per product.

use serde::{Deserialize, Serialize};

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// The policy's name (`seed`, `threshold`, or the policy file).
    pub policy: String,
    /// The run's shape.
    pub scenario: RunShape,
    /// The whole run.
    pub totals: Totals,
    /// Day by day.
    pub days: Vec<DayKpis>,
    /// Store by store (with a day-by-day row of stock-out hours, for the heatmap).
    pub stores: Vec<GroupKpis>,
    /// Product by product.
    pub products: Vec<GroupKpis>,
    /// Alert-to-delivery lead times, in bins of one hour (the last bin holds the rest).
    pub lead_time_hours_histogram: Vec<u64>,
}

/// The run's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunShape {
    /// Stores.
    pub stores: usize,
    /// Products per store.
    pub products: usize,
    /// Shelves (stores x products).
    pub shelves: usize,
    /// Days simulated.
    pub days: u32,
    /// The seed.
    pub seed: u64,
    /// The first day (`YYYY-MM-DD`, local).
    pub start: String,
    /// Hours between planning runs.
    pub planning_every_hours: u32,
    /// Trucks in the fleet.
    pub trucks: usize,
}

/// The totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Units shoppers asked for.
    pub demand_units: u64,
    /// Units sold.
    pub sold_units: u64,
    /// Units asked for at an empty shelf.
    pub lost_units: u64,
    /// Lost units as a share of demand.
    pub lost_share: f64,
    /// Units sold as a share of demand.
    pub fill_rate: f64,
    /// Hours shelves stood empty while their store was open, summed over shelves.
    pub stockout_shelf_hours: f64,
    /// Stock-out shelf-hours as a share of open shelf-hours.
    pub stockout_share: f64,
    /// Replenishment cycles (ended by a delivery).
    pub cycles: u64,
    /// Share of cycles without a stock-out.
    pub cycle_service_level: f64,
    /// The same over the cycles a shelf's own order ended (not a join to its store's
    /// delivery): what the rule's own reorder points achieve. Absent in KPIs written before it
    /// was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_cycle_service_level: Option<f64>,
    /// Units on the shelves, averaged over the run's hours.
    pub avg_on_hand_units: f64,
    /// The same per shelf.
    pub avg_on_hand_per_shelf: f64,
    /// Average stock over average daily sales.
    pub days_of_cover: f64,
    /// Units trucks delivered.
    pub units_delivered: u64,
    /// Of those, units that did not fit on the shelf and went back.
    pub units_overflow: u64,
    /// Trips driven.
    pub trips: u64,
    /// Km driven.
    pub truck_km: f64,
    /// Km per unit put on a shelf (units sent back do not count).
    pub km_per_unit: f64,
    /// Units loaded over the capacity of the trucks that drove.
    pub truck_utilisation: f64,
    /// Planning runs.
    pub planning_runs: u64,
    /// Readings the shelves sent.
    pub readings_sent: u64,
    /// Alerts the planner sent.
    pub alerts_sent: u64,
    /// Low readings the planner left alone (already alerted, or covered by what is on its way).
    pub alerts_suppressed: u64,
    /// Alerts the dispatcher could not accept.
    pub alerts_dead_lettered: u64,
    /// Alerts for shelves still above their reorder point that joined a delivery their store
    /// got anyway (the forecast rule's can-order point): cycles the target did not decide.
    /// Absent in KPIs written before it was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts_joined: Option<u64>,
    /// Alerts delivered whole by the end.
    pub alerts_delivered: u64,
    /// Alerts still queued, open or on the road at the end.
    pub alerts_pending: u64,
    /// Alerts closed undelivered, by reason.
    pub alerts_closed: u64,
    /// Alert-to-delivery lead time, median, hours.
    pub lead_time_hours_p50: f64,
    /// Alert-to-delivery lead time, 95th percentile, hours.
    pub lead_time_hours_p95: f64,
}

/// One day of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayKpis {
    /// The date (`YYYY-MM-DD`, local).
    pub date: String,
    /// Units asked for.
    pub demand_units: u64,
    /// Units lost.
    pub lost_units: u64,
    /// Stock-out shelf-hours.
    pub stockout_shelf_hours: f64,
    /// Units on the shelves, averaged over the day's hours.
    pub avg_on_hand_units: f64,
    /// Units delivered.
    pub units_delivered: u64,
    /// Trips started.
    pub trips: u64,
    /// Km of the trips started.
    pub truck_km: f64,
    /// Alerts sent.
    pub alerts_sent: u64,
}

/// A store's or a product's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupKpis {
    /// The store or product id.
    pub id: String,
    /// Units asked for.
    pub demand_units: u64,
    /// Units lost.
    pub lost_units: u64,
    /// Stock-out shelf-hours.
    pub stockout_shelf_hours: f64,
    /// Units delivered.
    pub units_delivered: u64,
    /// Units on its shelves, averaged over the run.
    pub avg_on_hand_units: f64,
    /// Stock-out shelf-hours day by day (stores only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stockout_hours_by_day: Vec<f64>,
}

/// Rounds for the report: 4 decimals keep every figure readable and exact enough.
pub fn round4(x: f64) -> f64 {
    if x.is_finite() {
        (x * 10_000.0).round() / 10_000.0
    } else {
        0.0
    }
}

/// `part / whole`, 0 when `whole` is 0.
pub fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        round4(part / whole)
    } else {
        0.0
    }
}

/// The `q` quantile (0-1) of sorted values, nearest rank; 0 for none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// A date from a local day number.
pub fn date_of(day: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.95), 4.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn dates_from_day_numbers() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_458), "2026-01-05");
        assert_eq!(date_of(19_782), "2024-02-29");
    }
}
