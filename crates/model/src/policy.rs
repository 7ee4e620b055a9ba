//! The reorder policy: how much to order for a low reading, and why.
//!
//! Like the reorder rules of Odoo or ERPNext: an order-up-to level (the reading's `max_stock`, a
//! configured level, or a multiple of the reorder point), a minimum order quantity and a case
//! pack, with per-product, per-store and per-store-and-product overrides. Every order carries an
//! [`OrderExplanation`] naming the rule and the numbers.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigFile, parse_toml};
use crate::forecast::{ForecastLevels, LeadTime, LevelInputs, SellingHours};
use crate::latest::LatestReading;

/// The reorder policy file (`config/policy.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderPolicy {
    /// Settings every rule falls back to.
    pub default: PolicyDefaults,
    /// Overrides per store, product, or both.
    #[serde(default, rename = "rule")]
    pub rules: Vec<PolicyRule>,
    /// The `forecast` rule's settings.
    #[serde(default)]
    pub forecast: ForecastSettings,
}

/// The `[default]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDefaults {
    /// Order-up-to level as a multiple of the reorder point, for readings without `max_stock`.
    pub order_up_to_factor: i64,
    /// Orders are whole multiples of this.
    pub case_pack: i64,
    /// Orders are at least this.
    pub min_order_qty: i64,
    /// Hours after which an undelivered alert stops counting as on its way.
    pub alert_expiry_hours: i64,
    /// Orders are at most this (rounded down to whole case packs, at least one pack).
    #[serde(default = "default_max_order_qty")]
    pub max_order_qty: i64,
    /// Which rule decides when and how much to order (`threshold` when absent).
    #[serde(default)]
    pub method: OrderMethod,
    /// The `seed` rule's quantity, every time (rounded up to whole case packs).
    #[serde(default = "default_fixed_order_qty")]
    pub fixed_order_qty: i64,
}

/// The `[forecast]` table: the `forecast` rule's settings (a rule may set its own
/// `service_level` and `cover_days`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastSettings {
    /// Target cycle service level: the share of replenishment cycles without a stock-out.
    pub service_level: f64,
    /// Hours between planning runs (the review period).
    pub review_hours: f64,
    /// The lead time (alert to delivery) assumed until enough deliveries are measured.
    pub lead_time_hours: f64,
    /// The least lead time assumed, whatever is measured.
    pub min_lead_time_hours: f64,
    /// Days of demand ordered above the reorder point.
    pub cover_days: f64,
    /// A shelf this many days of demand above its reorder point, or less, is ordered too when
    /// its store gets a delivery anyway (0: never).
    pub can_order_days: f64,
    /// Hours of history a shelf needs before its forecast is used (before: the threshold rule).
    pub min_history_hours: f64,
    /// Whether the reading's `threshold_level` is a floor under the reorder point.
    pub threshold_floor: bool,
    /// The stores' first local selling hour (0-23): demand is spread over the open hours.
    pub open_hour: u32,
    /// The local hour the stores stop selling (1-24).
    pub close_hour: u32,
    /// The stores' time zone, hours east of UTC.
    pub utc_offset_hours: i32,
}

impl ForecastSettings {
    /// Checks every value, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let place = "[forecast]";
        check_service_level(self.service_level, place)?;
        check_range("review_hours", self.review_hours, 0.0, 24.0 * 30.0, place)?;
        check_range(
            "lead_time_hours",
            self.lead_time_hours,
            0.0,
            24.0 * 30.0,
            place,
        )?;
        check_range(
            "min_lead_time_hours",
            self.min_lead_time_hours,
            0.0,
            24.0 * 30.0,
            place,
        )?;
        check_range("cover_days", self.cover_days, 0.0, 365.0, place)?;
        check_range("can_order_days", self.can_order_days, 0.0, 365.0, place)?;
        check_range(
            "min_history_hours",
            self.min_history_hours,
            0.0,
            24.0 * 365.0,
            place,
        )?;
        self.selling_hours()
            .validate()
            .map_err(|e| format!("{place}: {e}"))
    }

    /// The stores' selling hours.
    pub fn selling_hours(&self) -> SellingHours {
        SellingHours {
            open_hour: self.open_hour,
            close_hour: self.close_hour,
            utc_offset_hours: self.utc_offset_hours,
        }
    }
}

/// A target service level: above 50% (below, the safety stock would be negative) and below 1.
fn check_service_level(v: f64, place: &str) -> Result<(), String> {
    if v.is_finite() && (0.5..1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{place}: `service_level` must be at least 0.5 and below 1 (0.97 is 97%), got {v}"
        ))
    }
}

fn check_range(name: &str, v: f64, min: f64, max: f64, place: &str) -> Result<(), String> {
    if v.is_finite() && (min..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{place}: `{name}` must be between {min} and {max}, got {v}"
        ))
    }
}

impl Default for ForecastSettings {
    fn default() -> Self {
        Self {
            service_level: 0.97,
            review_hours: 1.0,
            lead_time_hours: 4.0,
            min_lead_time_hours: 1.0,
            cover_days: 3.0,
            can_order_days: 1.0,
            min_history_hours: 48.0,
            threshold_floor: false,
            open_hour: 0,
            close_hour: 24,
            utc_offset_hours: 0,
        }
    }
}

/// The rule that decides when a shelf is reordered and how much.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderMethod {
    /// Below the reading's threshold, order up to the order-up-to level, counting what is on
    /// its way; one alert per low reading.
    #[default]
    Threshold,
    /// The seed workshop's rule, kept as a baseline to compare against: every planning run, a
    /// new alert for every reading below its threshold, of `fixed_order_qty` units, with
    /// nothing on its way counted.
    Seed,
    /// From each shelf's demand: reorder below the point that covers lead time and review
    /// period at the target service level, up to that point plus `cover_days` of demand.
    /// Shelves with too little history fall back to `threshold`.
    Forecast,
}

/// The `seed` rule's quantity when the policy sets none.
pub const DEFAULT_FIXED_ORDER_QTY: i64 = 20;

fn default_fixed_order_qty() -> i64 {
    DEFAULT_FIXED_ORDER_QTY
}

/// The largest order when the policy sets none: 10,000 units.
pub const DEFAULT_MAX_ORDER_QTY: i64 = 10_000;

/// The most units any alert may ask for, and the most any policy value may be: what the queue
/// and the dispatcher accept ([`crate::Alert::check_received`]).
pub const MAX_ORDER_QTY_LIMIT: i64 = 1_000_000;

/// The most an order-up-to factor may be.
pub const MAX_ORDER_UP_TO_FACTOR: i64 = 1_000;

fn default_max_order_qty() -> i64 {
    DEFAULT_MAX_ORDER_QTY
}

/// One `[[rule]]`: settings for a store, a product, or a product at one store.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRule {
    /// The store it applies to (any store when absent).
    pub store_id: Option<String>,
    /// The product it applies to (any product when absent).
    pub product_id: Option<String>,
    /// A fixed order-up-to level, for readings without `max_stock`.
    pub order_up_to: Option<i64>,
    /// Overrides the default factor.
    pub order_up_to_factor: Option<i64>,
    /// Overrides the default case pack.
    pub case_pack: Option<i64>,
    /// Overrides the default minimum order quantity.
    pub min_order_qty: Option<i64>,
    /// Overrides the default largest order.
    pub max_order_qty: Option<i64>,
    /// Overrides the forecast rule's target service level.
    pub service_level: Option<f64>,
    /// Overrides the forecast rule's days of cover.
    pub cover_days: Option<f64>,
}

impl PolicyRule {
    fn matches(&self, store_id: &str, product_id: &str) -> bool {
        self.store_id.as_deref().is_none_or(|s| s == store_id)
            && self.product_id.as_deref().is_none_or(|p| p == product_id)
    }

    /// Store and product (3) beats product (2) beats store (1).
    fn specificity(&self) -> u8 {
        match (&self.store_id, &self.product_id) {
            (Some(_), Some(_)) => 3,
            (None, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        }
    }

    /// How the rule is named in explanations: `store=STORE_1,product=PRD_5`.
    pub fn name(&self) -> String {
        let parts: Vec<String> = [("store", &self.store_id), ("product", &self.product_id)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        parts.join(",")
    }
}

/// Where an order-up-to level came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelSource {
    /// The reading's `max_stock`.
    MaxStock,
    /// A rule's `order_up_to`.
    PolicyLevel,
    /// `order_up_to_factor` x the reorder point.
    Factor,
    /// The `seed` rule's fixed quantity.
    Fixed,
    /// The forecast rule: reorder point plus days of cover.
    Forecast,
}

/// The numbers behind one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderExplanation {
    /// The rules that set something (`default` when none matched).
    pub rules: Vec<String>,
    /// The order-up-to level.
    pub order_up_to: i64,
    /// Where it came from.
    pub level_source: LevelSource,
    /// Order-up-to level minus projected stock.
    pub need: i64,
    /// The minimum order quantity applied.
    pub min_order_qty: i64,
    /// The case pack applied.
    pub case_pack: i64,
    /// The quantity ordered.
    pub quantity: i64,
    /// The largest order, when it cut the quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_at: Option<i64>,
    /// The forecast rule's numbers, when it decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastLevels>,
    /// Why the forecast rule fell back to the threshold rule for this shelf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl OrderExplanation {
    /// One line for people: `order up to 30 (max_stock) - projected 4 = 26; min 24; case 12 -> 36 [product=PRD_3]`.
    pub fn text(&self) -> String {
        let source = match self.level_source {
            LevelSource::MaxStock => "the reading's max_stock",
            LevelSource::PolicyLevel => "policy level",
            LevelSource::Factor => "factor x reorder point",
            LevelSource::Fixed => "the seed rule's fixed quantity",
            LevelSource::Forecast => "forecast: reorder point + cover",
        };
        let cap = self
            .capped_at
            .map(|c| format!(", capped at max order {c}"))
            .unwrap_or_default();
        let forecast = self
            .forecast
            .as_ref()
            .map(|f| format!("; {}, reorder point {}", f.numbers(), f.reorder_point))
            .unwrap_or_default();
        let fallback = self
            .fallback
            .as_ref()
            .map(|f| format!("; threshold rule: {f}"))
            .unwrap_or_default();
        format!(
            "order up to {} ({source}{forecast}{fallback}), need {}, min order {}, case pack {}{cap} -> {} [rule: {}]",
            self.order_up_to,
            self.need,
            self.min_order_qty,
            self.case_pack,
            self.quantity,
            self.rules.join("; ")
        )
    }
}

impl ConfigFile for ReorderPolicy {
    const SHIPPED: &'static str = include_str!("../../../config/policy.toml");

    fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let policy: Self = parse_toml(text, origin)?;
        policy.validate().map_err(|m| ConfigError::new(origin, m))?;
        Ok(policy)
    }
}

impl Default for ReorderPolicy {
    /// The shipped policy.
    fn default() -> Self {
        Self::shipped()
    }
}

impl ReorderPolicy {
    /// A policy of defaults only: order up to `factor` x the reorder point, no packs or minimums.
    pub fn plain(order_up_to_factor: i64, alert_expiry_hours: i64) -> Self {
        Self {
            default: PolicyDefaults {
                order_up_to_factor,
                case_pack: 1,
                min_order_qty: 1,
                alert_expiry_hours,
                max_order_qty: DEFAULT_MAX_ORDER_QTY,
                method: OrderMethod::Threshold,
                fixed_order_qty: DEFAULT_FIXED_ORDER_QTY,
            },
            rules: Vec::new(),
            forecast: ForecastSettings::default(),
        }
    }

    /// Checks every value and that no two rules target the same store and product.
    pub fn validate(&self) -> Result<(), String> {
        let d = &self.default;
        let check = |name: &str, v: i64, min: i64, place: &str| {
            let max = match name {
                "order_up_to_factor" => MAX_ORDER_UP_TO_FACTOR,
                "alert_expiry_hours" => 24 * 90,
                _ => MAX_ORDER_QTY_LIMIT,
            };
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{place}: `{name}` must be between {min} and {max}, got {v}"
                ))
            }
        };
        check("order_up_to_factor", d.order_up_to_factor, 1, "[default]")?;
        check("case_pack", d.case_pack, 1, "[default]")?;
        check("min_order_qty", d.min_order_qty, 0, "[default]")?;
        check("alert_expiry_hours", d.alert_expiry_hours, 1, "[default]")?;
        check("max_order_qty", d.max_order_qty, 1, "[default]")?;
        check("fixed_order_qty", d.fixed_order_qty, 1, "[default]")?;
        self.forecast.validate()?;
        let mut seen = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let place = format!("rule {} ({})", i + 1, r.name());
            if r.specificity() == 0 {
                return Err(format!(
                    "rule {}: names neither `store_id` nor `product_id`; put settings for every store and product in [default]",
                    i + 1
                ));
            }
            if !seen.insert((&r.store_id, &r.product_id)) {
                return Err(format!(
                    "{place}: another rule targets the same store and product"
                ));
            }
            for (name, v, min) in [
                ("order_up_to", r.order_up_to, 0),
                ("order_up_to_factor", r.order_up_to_factor, 1),
                ("case_pack", r.case_pack, 1),
                ("min_order_qty", r.min_order_qty, 0),
                ("max_order_qty", r.max_order_qty, 1),
            ] {
                if let Some(v) = v {
                    check(name, v, min, &place)?;
                }
            }
            if let Some(v) = r.service_level {
                check_service_level(v, &place)?;
            }
            if let Some(v) = r.cover_days {
                check_range("cover_days", v, 0.0, 365.0, &place)?;
            }
        }
        Ok(())
    }

    /// Seconds after which an undelivered alert stops counting as on its way.
    pub fn alert_expiry_seconds(&self) -> i64 {
        self.default.alert_expiry_hours.saturating_mul(3600)
    }

    /// The most specific matching rule's value of one setting, with the rule's name.
    fn setting<T>(
        &self,
        store_id: &str,
        product_id: &str,
        pick: impl Fn(&PolicyRule) -> Option<T>,
    ) -> Option<(T, &PolicyRule)> {
        self.rules
            .iter()
            .filter(|r| r.matches(store_id, product_id))
            .filter_map(|r| pick(r).map(|v| (v, r)))
            .max_by_key(|(_, r)| r.specificity())
    }

    /// The `seed` rule's order for a low reading: the fixed quantity (at least one case pack,
    /// rounded up to whole packs), whatever is on its way.
    pub fn fixed_order(&self, reading: &LatestReading) -> OrderExplanation {
        let (store, product) = (reading.store_id.as_str(), reading.product_id.as_str());
        let (case_pack, rule) = match self.setting(store, product, |r| r.case_pack) {
            Some((v, r)) => (v, r.name()),
            None => (self.default.case_pack, "default".to_owned()),
        };
        let wanted = self.default.fixed_order_qty;
        let quantity = (wanted + case_pack - 1) / case_pack * case_pack;
        OrderExplanation {
            rules: vec![format!("seed ({rule})")],
            order_up_to: quantity,
            level_source: LevelSource::Fixed,
            need: wanted,
            min_order_qty: wanted,
            case_pack,
            quantity,
            capped_at: None,
            forecast: None,
            fallback: None,
        }
    }

    /// What to order for a low reading whose projected stock (stock plus what is on its way)
    /// is `projected`. The level is never below the reorder point, so a low reading orders at
    /// least one unit (rounded to the pack).
    pub fn order(&self, reading: &LatestReading, projected: i64) -> OrderExplanation {
        let mut rules = Rules::default();
        let (level, level_source) = self.threshold_level(reading, &mut rules);
        self.finish_order(
            reading,
            projected,
            level.max(reading.threshold_level),
            level_source,
            rules,
        )
    }

    /// The threshold rule's order-up-to level and where it came from.
    fn threshold_level(&self, reading: &LatestReading, rules: &mut Rules) -> (i64, LevelSource) {
        let (store, product) = (reading.store_id.as_str(), reading.product_id.as_str());
        if let Some(m) = reading.max_stock {
            (m, LevelSource::MaxStock)
        } else if let Some((v, r)) = self.setting(store, product, |r| r.order_up_to) {
            rules.note(r);
            (v, LevelSource::PolicyLevel)
        } else {
            let factor = match self.setting(store, product, |r| r.order_up_to_factor) {
                Some((v, r)) => {
                    rules.note(r);
                    v
                }
                None => self.default.order_up_to_factor,
            };
            (
                reading.threshold_level.saturating_mul(factor),
                LevelSource::Factor,
            )
        }
    }

    /// The order up to `order_up_to` from `projected`: at least one unit, the minimum order,
    /// whole case packs, at most the largest order.
    fn finish_order(
        &self,
        reading: &LatestReading,
        projected: i64,
        order_up_to: i64,
        level_source: LevelSource,
        mut rules: Rules,
    ) -> OrderExplanation {
        let (store, product) = (reading.store_id.as_str(), reading.product_id.as_str());
        let mut value = |pick: fn(&PolicyRule) -> Option<i64>, default: i64| match self
            .setting(store, product, pick)
        {
            Some((v, r)) => {
                rules.note(r);
                v
            }
            None => default,
        };
        let min_order_qty = value(|r| r.min_order_qty, self.default.min_order_qty);
        let case_pack = value(|r| r.case_pack, self.default.case_pack);
        let max_order_qty = value(|r| r.max_order_qty, self.default.max_order_qty);
        let need = order_up_to.saturating_sub(projected).max(1);
        let wanted = need.max(min_order_qty);
        // Every value is at most MAX_ORDER_QTY_LIMIT, so nothing below overflows.
        let mut quantity = (wanted.min(max_order_qty) + case_pack - 1) / case_pack * case_pack;
        if quantity > max_order_qty && quantity > case_pack {
            quantity -= case_pack;
        }
        let capped_at = (quantity < wanted).then_some(max_order_qty);
        OrderExplanation {
            rules: rules.names(),
            order_up_to,
            level_source,
            need,
            min_order_qty,
            case_pack,
            quantity,
            capped_at,
            forecast: None,
            fallback: None,
        }
    }

    /// The forecast rule's levels for a reading's shelf, whose store's recent orders joined a
    /// delivery in a share `joined_share`, or why the threshold rule decides instead (no demand
    /// state, or too little history).
    pub fn forecast_levels(
        &self,
        reading: &LatestReading,
        lead: LeadTime,
        joined_share: f64,
    ) -> Result<ForecastLevels, String> {
        let f = &self.forecast;
        let Some(state) = reading.demand else {
            return Err("no demand history in the snapshot yet".to_owned());
        };
        let history = state.history_hours();
        if history < f.min_history_hours {
            return Err(format!(
                "{history:.0} h of demand history, {:.0} h needed",
                f.min_history_hours
            ));
        }
        let (store, product) = (reading.store_id.as_str(), reading.product_id.as_str());
        let pick = |get: fn(&PolicyRule) -> Option<f64>, default: f64| {
            self.setting(store, product, get)
                .map_or(default, |(v, _)| v)
        };
        let capacity = reading.max_stock.or_else(|| {
            self.setting(store, product, |r| r.order_up_to)
                .map(|(v, _)| v)
        });
        let mut levels = crate::forecast::levels(
            &state,
            &LevelInputs {
                lead,
                review_hours: f.review_hours,
                hours: f.selling_hours(),
                service_level: pick(|r| r.service_level, f.service_level),
                joined_share,
                cover_days: pick(|r| r.cover_days, f.cover_days),
                can_order_days: f.can_order_days,
                capacity,
                draw: crate::forecast::shelf_draw(store, product, reading.check_timestamp),
            },
            reading.check_timestamp,
        );
        if f.threshold_floor && levels.reorder_point < reading.threshold_level {
            levels.reorder_point = reading.threshold_level;
            levels.order_up_to = levels.order_up_to.max(reading.threshold_level);
            levels.can_order_point = levels.can_order_point.max(reading.threshold_level);
        }
        Ok(levels)
    }

    /// The forecast rule's order for a shelf below its reorder point.
    pub fn forecast_order(
        &self,
        reading: &LatestReading,
        projected: i64,
        levels: ForecastLevels,
    ) -> OrderExplanation {
        let mut rules = Rules::default();
        rules.push("forecast");
        let (store, product) = (reading.store_id.as_str(), reading.product_id.as_str());
        for r in self.rules.iter().filter(|r| r.matches(store, product)) {
            if r.service_level.is_some() || r.cover_days.is_some() {
                rules.note(r);
            }
        }
        let mut order = self.finish_order(
            reading,
            projected,
            levels.order_up_to,
            LevelSource::Forecast,
            rules,
        );
        order.forecast = Some(levels);
        order
    }

    /// The lead time the forecast rule plans with, from measured alert-to-delivery hours.
    pub fn lead_time(&self, measured_hours: &[f64]) -> LeadTime {
        LeadTime::observe(
            measured_hours,
            self.forecast.min_lead_time_hours,
            self.forecast.lead_time_hours,
        )
    }
}

/// The names of the rules an order used, each once, in the order they were used.
#[derive(Debug, Default)]
struct Rules(Vec<String>);

impl Rules {
    fn note(&mut self, rule: &PolicyRule) {
        self.push(&rule.name());
    }

    fn push(&mut self, name: &str) {
        if !self.0.iter().any(|n| n == name) {
            self.0.push(name.to_owned());
        }
    }

    /// The names, or `default` when no rule set anything.
    fn names(self) -> Vec<String> {
        if self.0.is_empty() {
            vec!["default".to_owned()]
        } else {
            self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(store: &str, product: &str, stock: i64, threshold: i64) -> LatestReading {
        LatestReading {
            store_id: store.into(),
            product_id: product.into(),
            product_name: "Bánh mì".into(),
            current_stock: stock,
            threshold_level: threshold,
            max_stock: None,
            check_timestamp: 100,
            event_id: None,
            readings: 1,
            first_stock: stock,
            first_timestamp: 100,
            demand: None,
        }
    }

    fn policy(text: &str) -> ReorderPolicy {
        ReorderPolicy::from_toml(text, "test").unwrap()
    }

    const DEFAULTS: &str = "[default]\norder_up_to_factor = 2\ncase_pack = 1\nmin_order_qty = 1\nalert_expiry_hours = 24\n";

    #[test]
    fn the_shipped_policy_is_valid() {
        let p = ReorderPolicy::shipped();
        assert_eq!(p.alert_expiry_seconds(), 24 * 3600);
        assert!(!p.rules.is_empty());
    }

    #[test]
    fn without_max_stock_the_factor_sets_the_level() {
        let o = policy(DEFAULTS).order(&reading("S", "P", 3, 10), 3);
        assert_eq!((o.order_up_to, o.need, o.quantity), (20, 17, 17));
        assert_eq!(o.level_source, LevelSource::Factor);
        assert_eq!(o.rules, ["default"]);
    }

    #[test]
    fn max_stock_beats_a_policy_level_and_never_goes_below_the_reorder_point() {
        let p = policy(&format!(
            "{DEFAULTS}[[rule]]\nproduct_id = \"P\"\norder_up_to = 70\n"
        ));
        let mut r = reading("S", "P", 2, 10);
        assert_eq!(p.order(&r, 2).quantity, 68);
        assert_eq!(p.order(&r, 2).level_source, LevelSource::PolicyLevel);
        r.max_stock = Some(50);
        assert_eq!(p.order(&r, 2).quantity, 48);
        r.max_stock = Some(4);
        let o = p.order(&r, 2);
        assert_eq!((o.order_up_to, o.quantity), (10, 8));
    }

    #[test]
    fn case_packs_round_up_and_the_minimum_applies_first() {
        let p = policy(&format!(
            "{DEFAULTS}[[rule]]\nproduct_id = \"P\"\ncase_pack = 12\nmin_order_qty = 24\n"
        ));
        // need 17 -> at least 24 -> two cases of 12
        assert_eq!(p.order(&reading("S", "P", 3, 10), 3).quantity, 24);
        // need 37 -> four cases
        let mut r = reading("S", "P", 3, 20);
        r.max_stock = Some(40);
        let o = p.order(&r, 3);
        assert_eq!((o.need, o.quantity), (37, 48));
        assert!(o.text().contains("case pack 12 -> 48"), "{}", o.text());
    }

    #[test]
    fn a_huge_order_up_to_level_is_capped_at_the_largest_order() {
        let p = policy(&format!(
            "{DEFAULTS}[[rule]]\nproduct_id = \"P\"\ncase_pack = 12\nmax_order_qty = 100\n"
        ));
        let mut r = reading("S", "P", 0, 10);
        r.max_stock = Some(i64::from(i32::MAX));
        // 100 rounded down to whole cases of 12.
        let o = p.order(&r, 0);
        assert_eq!((o.quantity, o.capped_at), (96, Some(100)));
        assert!(o.text().contains("capped at max order 100"), "{}", o.text());
        // The default cap, on any product.
        let o = policy(DEFAULTS).order(&reading("S", "Q", 0, i64::from(i32::MAX)), 0);
        assert_eq!(
            (o.quantity, o.capped_at),
            (DEFAULT_MAX_ORDER_QTY, Some(DEFAULT_MAX_ORDER_QTY))
        );
        // A pack larger than the cap still orders one pack; an order under the cap is not marked.
        let p = policy(&format!(
            "{DEFAULTS}[[rule]]\nproduct_id = \"P\"\ncase_pack = 50\nmax_order_qty = 30\n"
        ));
        assert_eq!(p.order(&reading("S", "P", 0, 10), 0).quantity, 50);
        assert_eq!(
            policy(DEFAULTS)
                .order(&reading("S", "P", 3, 10), 3)
                .capped_at,
            None
        );
    }

    #[test]
    fn every_policy_value_has_a_range() {
        for (defaults, key) in [
            (format!("{DEFAULTS}max_order_qty = 0\n"), "max_order_qty"),
            (
                format!("{DEFAULTS}max_order_qty = 1000001\n"),
                "max_order_qty",
            ),
            (
                DEFAULTS.replace("case_pack = 1", "case_pack = 9999999999"),
                "case_pack",
            ),
            (
                DEFAULTS.replace("order_up_to_factor = 2", "order_up_to_factor = 1001"),
                "order_up_to_factor",
            ),
            (
                format!("{DEFAULTS}[[rule]]\nproduct_id = \"P\"\norder_up_to = 2000000\n"),
                "order_up_to",
            ),
        ] {
            let err = ReorderPolicy::from_toml(&defaults, "p.toml").unwrap_err();
            assert!(
                err.message.contains(key) && err.message.contains("between"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_most_specific_rule_wins_per_setting() {
        let p = policy(&format!(
            "{DEFAULTS}
[[rule]]
store_id = \"S1\"
case_pack = 5
min_order_qty = 50
[[rule]]
product_id = \"P\"
case_pack = 6
[[rule]]
store_id = \"S1\"
product_id = \"P\"
order_up_to_factor = 4
"
        ));
        // S1/P: factor 4 from the store+product rule, case 6 from the product rule (beats the
        // store's 5), minimum 50 from the store rule.
        let o = p.order(&reading("S1", "P", 3, 10), 3);
        assert_eq!((o.order_up_to, o.case_pack, o.min_order_qty), (40, 6, 50));
        assert_eq!(o.quantity, 54);
        assert_eq!(o.rules, ["store=S1,product=P", "store=S1", "product=P"]);
        // Another store: only the product rule.
        let o = p.order(&reading("S2", "P", 3, 10), 3);
        assert_eq!((o.order_up_to, o.quantity, o.rules.len()), (20, 18, 1));
        // Another product at S1: only the store rule.
        assert_eq!(p.order(&reading("S1", "Q", 3, 10), 3).quantity, 50);
    }

    #[test]
    fn bad_files_name_the_place_and_the_rule() {
        let err = ReorderPolicy::from_toml("[default]\norder_up_to_factor = 0\ncase_pack = 1\nmin_order_qty = 1\nalert_expiry_hours = 24\n", "p.toml").unwrap_err();
        assert_eq!(err.origin, "p.toml");
        assert!(err.message.contains("order_up_to_factor"), "{err}");
        let err = ReorderPolicy::from_toml(&format!("{DEFAULTS}[[rule]]\ncase_pack = 2\n"), "p")
            .unwrap_err();
        assert!(err.message.contains("neither"), "{err}");
        let err = ReorderPolicy::from_toml(
            &format!("{DEFAULTS}[[rule]]\nproduct_id = \"P\"\ncase_pack = 0\n"),
            "p",
        )
        .unwrap_err();
        assert!(
            err.message.contains("rule 1 (product=P): `case_pack`"),
            "{err}"
        );
        let err = ReorderPolicy::from_toml(
            &format!("{DEFAULTS}[[rule]]\nproduct_id = \"P\"\n[[rule]]\nproduct_id = \"P\"\n"),
            "p",
        )
        .unwrap_err();
        assert!(err.message.contains("same store and product"), "{err}");
        let err = ReorderPolicy::from_toml(&format!("{DEFAULTS}typo = 1\n"), "p").unwrap_err();
        assert!(err.message.contains("typo"), "{err}");
    }
}
