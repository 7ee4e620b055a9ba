//! The planning rules: latest readings and the ledger in, alerts and reasons out.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{ALERT_TEXT, Alert, AlertStatus, LatestReading, ReorderPolicy, alert_id};
use crate::policy::{OrderExplanation, OrderMethod};

/// Why a low reading produced no alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// This very reading was already answered by an alert.
    AlreadyAlerted,
    /// Earlier alerts still on their way lift the projected stock to the reorder point.
    CoveredByOutstanding,
}

/// A low reading that produced no alert, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    /// Store id.
    pub store_id: String,
    /// Product id.
    pub product_id: String,
    /// Stock of the latest reading.
    pub current_stock: i64,
    /// Stock plus what is on its way.
    pub projected_stock: i64,
    /// Why no alert was sent.
    pub reason: SuppressReason,
}

/// What one planning pass decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanDecision {
    /// New alerts, most urgent first: soonest out of stock, then largest shortfall below the
    /// reorder point.
    pub alerts: Vec<Alert>,
    /// Low readings already covered.
    pub suppressed: Vec<Suppressed>,
    /// Known stores that sent no reading in the window.
    pub silent_stores: Vec<String>,
}

/// Everything [`plan`] needs besides the readings.
#[derive(Debug, Clone)]
pub struct PlanContext<'a> {
    /// The reorder policy.
    pub policy: &'a ReorderPolicy,
    /// Alerts in the ledger that may still count, with their delivery status.
    pub ledger: &'a [AlertStatus],
    /// Now, epoch seconds.
    pub now: i64,
    /// Id of this planning run.
    pub query_id: &'a str,
    /// The stores expected to report (from the store locations); those without a reading in
    /// the window are reported as silent.
    pub known_stores: &'a [String],
}

/// Quantity already on its way to a store for a product, as of a reading's time: see
/// [`AlertStatus::on_the_way`]. `sent` holds the alerts of the reading's store and product.
pub fn outstanding_quantity<'s>(
    reading: &LatestReading,
    sent: impl IntoIterator<Item = &'s AlertStatus>,
    policy: &ReorderPolicy,
    now: i64,
) -> i64 {
    let expiry = policy.alert_expiry_seconds();
    sent.into_iter()
        .map(|s| s.on_the_way(reading.check_timestamp, now, expiry))
        .sum()
}

/// Units sold per hour between the first and the latest reading of the window: the stock drop
/// plus what was delivered in between. `None` with fewer than two readings, no time between
/// them, or stock that rose more than recorded deliveries explain (an unrecorded restock).
pub fn sales_per_hour<'s>(
    reading: &LatestReading,
    sent: impl IntoIterator<Item = &'s AlertStatus>,
) -> Option<f64> {
    let span = reading.check_timestamp - reading.first_timestamp;
    if reading.readings < 2 || span <= 0 {
        return None;
    }
    let delivered: i64 = sent
        .into_iter()
        .flat_map(|s| &s.deliveries)
        .filter(|d| {
            d.delivered_at >= reading.first_timestamp && d.delivered_at < reading.check_timestamp
        })
        .map(|d| d.quantity)
        .sum();
    let sold = reading.first_stock + delivered - reading.current_stock;
    (sold >= 0).then(|| sold as f64 * 3600.0 / span as f64)
}

/// Hours from each alert of the ledger to its first delivery: the lead times the forecast rule
/// measures.
pub fn lead_times(ledger: &[AlertStatus]) -> Vec<f64> {
    ledger
        .iter()
        .filter_map(|s| {
            let first = s.deliveries.iter().map(|d| d.delivered_at).min()?;
            Some((first - s.alert.planned_at).max(0) as f64 / 3600.0)
        })
        .collect()
}

/// Orders of the chain's share a store's join share starts from: with few orders of its own
/// a store leans on the chain's share, with many on its own.
pub const JOIN_SHARE_PRIOR: f64 = 4.0;

/// The share of recent forecast orders that joined a delivery their store got anyway, per
/// store, from the ledger's alerts (see [`crate::forecast::own_service_level`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinedShares {
    /// The chain's share.
    pub chain: f64,
    /// Each store's, shrunk toward the chain's by [`JOIN_SHARE_PRIOR`] orders.
    pub stores: HashMap<String, f64>,
}

impl JoinedShares {
    /// Counts the ledger's forecast orders (those with the forecast rule's levels) and the
    /// ones among them that joined a delivery.
    pub fn of(ledger: &[AlertStatus]) -> Self {
        let mut counts: HashMap<&str, (f64, f64)> = HashMap::new();
        for s in ledger {
            if s.alert
                .explanation
                .as_ref()
                .is_none_or(|e| e.forecast.is_none())
            {
                continue;
            }
            let joined = s.alert.joined_delivery();
            let c = counts.entry(s.alert.store_id.as_str()).or_default();
            c.0 += 1.0;
            c.1 += f64::from(u8::from(joined));
        }
        let (orders, joins) = counts
            .values()
            .fold((0.0, 0.0), |(o, j), c| (o + c.0, j + c.1));
        let chain = if orders > 0.0 { joins / orders } else { 0.0 };
        let stores = counts
            .into_iter()
            .map(|(store, (o, j))| {
                let share = (j + JOIN_SHARE_PRIOR * chain) / (o + JOIN_SHARE_PRIOR);
                (store.to_owned(), share)
            })
            .collect();
        Self { chain, stores }
    }

    /// A store's share: its own, or the chain's when it has no recent forecast order.
    pub fn store(&self, store_id: &str) -> f64 {
        self.stores.get(store_id).copied().unwrap_or(self.chain)
    }
}

/// Hours until `stock` runs out at `per_hour`: 0 for an empty shelf, `None` when the pace is
/// unknown or nothing sells.
pub fn hours_to_stockout(stock: i64, per_hour: Option<f64>) -> Option<f64> {
    if stock <= 0 {
        return Some(0.0);
    }
    per_hour.filter(|v| *v > 0.0).map(|v| stock as f64 / v)
}

/// Applies the planning rules to the latest readings.
pub fn plan(latest: &[LatestReading], ctx: &PlanContext<'_>) -> PlanDecision {
    let by_key = AlertStatus::by_shelf(ctx.ledger);
    let known: HashSet<&str> = ctx
        .ledger
        .iter()
        .map(|s| s.alert.alert_id.as_str())
        .collect();
    let mut decision = PlanDecision::default();
    let method = ctx.policy.default.method;
    let lead =
        (method == OrderMethod::Forecast).then(|| ctx.policy.lead_time(&lead_times(ctx.ledger)));
    let joined = if lead.is_some() {
        JoinedShares::of(ctx.ledger)
    } else {
        JoinedShares::default()
    };
    // Shelves the forecast rule may add to a delivery their store gets anyway.
    let mut may_join = Vec::new();
    for reading in latest {
        // The forecast rule's levels, or why the threshold rule decides for this shelf.
        let levels = lead.map(|lead| {
            let share = joined.store(&reading.store_id);
            ctx.policy.forecast_levels(reading, lead, share)
        });
        let reorder_point = match &levels {
            Some(Ok(l)) => l.reorder_point,
            _ => reading.threshold_level,
        };
        if reading.current_stock >= reorder_point {
            if let Some(Ok(l)) = levels
                && reading.current_stock < l.can_order_point
            {
                may_join.push((reading, l));
            }
            continue;
        }
        if method == OrderMethod::Seed {
            decision.alerts.push(seed_alert(reading, ctx));
            continue;
        }
        let Shelf {
            sent,
            projected,
            id,
        } = Shelf::of(reading, &by_key, ctx);
        let suppressed = |reason| Suppressed {
            store_id: reading.store_id.clone(),
            product_id: reading.product_id.clone(),
            current_stock: reading.current_stock,
            projected_stock: projected,
            reason,
        };
        if known.contains(id.as_str()) {
            decision
                .suppressed
                .push(suppressed(SuppressReason::AlreadyAlerted));
        } else if projected >= reorder_point {
            decision
                .suppressed
                .push(suppressed(SuppressReason::CoveredByOutstanding));
        } else {
            let velocity = sales_per_hour(reading, sent.iter().copied());
            let order = match levels {
                Some(Ok(l)) => ctx.policy.forecast_order(reading, projected, l),
                Some(Err(why)) => {
                    let mut order = ctx.policy.order(reading, projected);
                    order.fallback = Some(why);
                    order
                }
                None => ctx.policy.order(reading, projected),
            };
            decision
                .alerts
                .push(new_alert(reading, id, projected, velocity, order, ctx));
        }
    }
    join_deliveries(&mut decision, may_join, &by_key, &known, ctx);
    decision.alerts.sort_by(most_urgent_first);
    let reporting: HashSet<&str> = latest.iter().map(|r| r.store_id.as_str()).collect();
    decision.silent_stores = ctx
        .known_stores
        .iter()
        .filter(|s| !reporting.contains(s.as_str()))
        .cloned()
        .collect();
    decision
}

/// A low shelf as the ledger sees it: its alerts, its stock plus what is on its way, and the id
/// an alert answering its latest reading has.
struct Shelf<'l> {
    sent: &'l [&'l AlertStatus],
    projected: i64,
    id: String,
}

impl<'l> Shelf<'l> {
    fn of(
        reading: &'l LatestReading,
        by_key: &'l HashMap<(&'l str, &'l str), Vec<&'l AlertStatus>>,
        ctx: &PlanContext<'_>,
    ) -> Self {
        let sent = by_key
            .get(&(reading.store_id.as_str(), reading.product_id.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let outstanding = outstanding_quantity(reading, sent.iter().copied(), ctx.policy, ctx.now);
        Self {
            sent,
            projected: reading.current_stock + outstanding,
            id: alert_id(
                &reading.store_id,
                &reading.product_id,
                reading.event_id.as_deref(),
                reading.check_timestamp,
            ),
        }
    }
}

/// How an order that joined its store's delivery names its rule (the explanation's `rules`).
pub const JOINED_RULE: &str = "can-order";

/// Joint replenishment: a shelf below its can-order point joins a delivery its store gets in
/// this run anyway, so one stop serves it now instead of a stop of its own a little later.
fn join_deliveries(
    decision: &mut PlanDecision,
    may_join: Vec<(&LatestReading, crate::forecast::ForecastLevels)>,
    by_key: &HashMap<(&str, &str), Vec<&AlertStatus>>,
    known: &HashSet<&str>,
    ctx: &PlanContext<'_>,
) {
    let visited: HashSet<String> = decision.alerts.iter().map(|a| a.store_id.clone()).collect();
    for (reading, levels) in may_join {
        if !visited.contains(&reading.store_id) {
            continue;
        }
        let Shelf {
            sent,
            projected,
            id,
        } = Shelf::of(reading, by_key, ctx);
        if known.contains(id.as_str()) || projected >= levels.can_order_point {
            continue;
        }
        let velocity = sales_per_hour(reading, sent.iter().copied());
        let mut order = ctx.policy.forecast_order(reading, projected, levels);
        order
            .rules
            .push(format!("{JOINED_RULE}: joins the store's delivery"));
        decision
            .alerts
            .push(new_alert(reading, id, projected, velocity, order, ctx));
    }
}

/// The `seed` rule's alert: a new one every run (its id names the run's time), of the fixed
/// quantity, nothing on its way counted.
fn seed_alert(reading: &LatestReading, ctx: &PlanContext<'_>) -> Alert {
    let run_reading = format!(
        "{}@{}",
        reading.event_id.as_deref().unwrap_or_default(),
        ctx.now
    );
    let id = alert_id(
        &reading.store_id,
        &reading.product_id,
        Some(&run_reading),
        reading.check_timestamp,
    );
    new_alert(
        reading,
        id,
        reading.current_stock,
        None,
        ctx.policy.fixed_order(reading),
        ctx,
    )
}

/// The alert answering a low reading with `order`, from a projected stock of `projected`.
fn new_alert(
    reading: &LatestReading,
    alert_id: String,
    projected: i64,
    velocity: Option<f64>,
    order: OrderExplanation,
    ctx: &PlanContext<'_>,
) -> Alert {
    let cents = |x: f64| (x * 100.0).round() / 100.0;
    Alert {
        alert_id,
        store_id: reading.store_id.clone(),
        product_id: reading.product_id.clone(),
        product_name: reading.product_name.clone(),
        alert: ALERT_TEXT.to_owned(),
        current_stock: reading.current_stock,
        threshold_level: reading.threshold_level,
        projected_stock: projected,
        restock_qty: order.quantity,
        reading_time: reading.check_timestamp,
        planned_at: ctx.now,
        query_id: ctx.query_id.to_owned(),
        sales_per_hour: velocity.map(cents),
        hours_to_stockout: hours_to_stockout(reading.current_stock, velocity).map(cents),
        explanation: Some(order),
    }
}

/// Soonest out of stock first, then the largest shortfall, then by store and product.
fn most_urgent_first(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    let shortfall = |x: &Alert| x.threshold_level - x.projected_stock;
    let hours = |x: &Alert| x.hours_to_stockout.unwrap_or(f64::INFINITY);
    hours(a)
        .total_cmp(&hours(b))
        .then_with(|| shortfall(b).cmp(&shortfall(a)))
        .then_with(|| a.store_id.cmp(&b.store_id))
        .then_with(|| a.product_id.cmp(&b.product_id))
}
