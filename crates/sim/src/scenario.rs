//! The scenario: everything a run needs, in one TOML file, so a run is reproducible from it.
//! Every table and key is optional; what is absent takes the default shown in
//! `config/scenarios/small.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use store_model::config::{ConfigError, ConfigFile, parse_toml};
use store_model::demand::DemandSettings;
use store_model::places::{Depot, Fleet, GeoPoint, HO_CHI_MINH_CITY, Stores, Truck};
use store_model::policy::{OrderMethod, ReorderPolicy};

/// The most stores, products and days a scenario may ask for.
pub const MAX_STORES: usize = 5_000;
/// The most products per store.
pub const MAX_PRODUCTS: usize = 2_000;
/// The longest run, in days.
pub const MAX_DAYS: u32 = 366;

/// A simulation scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// The chain: how many stores and products, for how long, from which seed.
    pub chain: ChainSettings,
    /// How shoppers buy.
    pub demand: DemandSettings,
    /// How shelves are sized and filled at the start.
    pub shelves: ShelfSettings,
    /// How shelf sensors report.
    pub sensors: SensorSettings,
    /// How often the planner runs.
    pub planner: PlannerSettings,
    /// The delivery fleet.
    pub fleet: FleetSettings,
}

/// `[chain]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainSettings {
    /// Stores `STORE_1..`.
    pub stores: usize,
    /// Products `PRD_1..` in every store.
    pub products: usize,
    /// Days simulated.
    pub days: u32,
    /// Seed of everything random: places, shelves, demand.
    pub seed: u64,
    /// The first day, local midnight (`YYYY-MM-DD`).
    pub start: String,
    /// Stores lie within this many km of the city centre.
    pub radius_km: f64,
    /// A stores file (as `config/stores.toml`) instead of `stores` generated ones.
    pub stores_file: Option<PathBuf>,
}

impl Default for ChainSettings {
    fn default() -> Self {
        Self {
            stores: 10,
            products: 5,
            days: 7,
            seed: 7,
            start: "2026-01-05".to_owned(),
            radius_km: 12.0,
            stores_file: None,
        }
    }
}

/// `[shelves]`: each shelf's reorder point (`threshold_level`) and capacity (`max_stock`), as
/// its store's producer would set them, from the shelf's own rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShelfSettings {
    /// The reorder point covers between this many days of average sales...
    pub threshold_days_min: f64,
    /// ...and this many (drawn per shelf: stores set them by habit, not by formula).
    pub threshold_days_max: f64,
    /// The shelf holds this many days of average sales.
    pub capacity_days: f64,
    /// No reorder point is below this.
    pub min_threshold: i32,
    /// No shelf holds less than this.
    pub min_capacity: i32,
    /// How full shelves start.
    pub initial: InitialStock,
}

/// How full shelves start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialStock {
    /// Anywhere from the reorder point to full, drawn per shelf.
    #[default]
    Random,
    /// Full.
    Full,
}

impl Default for ShelfSettings {
    fn default() -> Self {
        Self {
            threshold_days_min: 1.0,
            threshold_days_max: 3.0,
            capacity_days: 7.0,
            min_threshold: 2,
            min_capacity: 6,
            initial: InitialStock::Random,
        }
    }
}

/// `[sensors]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorSettings {
    /// A shelf reports at the end of every hour its stock changed in, and at least this often.
    pub heartbeat_hours: u32,
}

impl Default for SensorSettings {
    fn default() -> Self {
        Self { heartbeat_hours: 6 }
    }
}

/// `[planner]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlannerSettings {
    /// The planner runs every this many hours, as an operator invoking it would.
    pub every_hours: u32,
    /// Its window, in hours (the planning event's `lookback_hours`).
    pub lookback_hours: u32,
    /// The reorder policy: `seed`, `threshold`, or a policy file.
    pub policy: String,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            every_hours: 1,
            lookback_hours: 24,
            policy: "threshold".to_owned(),
        }
    }
}

/// `[fleet]`: a fleet file, or one made for the chain's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSettings {
    /// A fleet file (as `config/fleet.toml`); the settings below are then unused.
    pub file: Option<PathBuf>,
    /// One truck for every this many stores (at least two trucks).
    pub stores_per_truck: usize,
    /// Units a truck carries.
    pub capacity: i64,
    /// Average speed, km/h.
    pub speed_kmh: f64,
    /// Minutes at each stop.
    pub service_minutes: f64,
    /// Ruin-and-recreate rounds of the router.
    pub routing_rounds: usize,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            file: None,
            stores_per_truck: 10,
            capacity: 600,
            speed_kmh: 25.0,
            service_minutes: 10.0,
            routing_rounds: 100,
        }
    }
}

/// A scenario that cannot be run: the file (or flag) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ScenarioError {
    /// The scenario file, or `command line`.
    pub origin: String,
    /// The key and the reason.
    pub message: String,
}

impl From<ConfigError> for ScenarioError {
    fn from(e: ConfigError) -> Self {
        Self {
            origin: e.origin,
            message: e.message,
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            origin: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let scenario = Self::parse(&text, &origin)?;
        Ok(scenario.relative_to(path.parent().unwrap_or(Path::new("."))))
    }

    /// Parses and checks a scenario document.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Self = parse_toml(text, origin)?;
        scenario.validate().map_err(|message| ScenarioError {
            origin: origin.to_owned(),
            message,
        })?;
        Ok(scenario)
    }

    /// Files named in the scenario are found beside it.
    fn relative_to(mut self, dir: &Path) -> Self {
        for file in [&mut self.fleet.file, &mut self.chain.stores_file] {
            if let Some(f) = file
                && f.is_relative()
            {
                *f = dir.join(&*f);
            }
        }
        if is_policy_file(&self.planner.policy) && Path::new(&self.planner.policy).is_relative() {
            self.planner.policy = dir.join(&self.planner.policy).display().to_string();
        }
        self
    }

    /// Checks every value, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let c = &self.chain;
        let within = |key: &str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "[chain] `{key}` must be between 1 and {max}, got {v}"
                ))
            }
        };
        within("stores", c.stores, MAX_STORES)?;
        within("products", c.products, MAX_PRODUCTS)?;
        within("days", c.days as usize, MAX_DAYS as usize)?;
        self.start_day()?;
        if !(c.radius_km.is_finite() && c.radius_km > 0.0 && c.radius_km <= 500.0) {
            return Err(format!(
                "[chain] `radius_km` must be above 0 and at most 500, got {}",
                c.radius_km
            ));
        }
        self.demand
            .validate()
            .map_err(|e| format!("[demand] {e}"))?;
        let s = &self.shelves;
        let days_ok = |v: f64| v.is_finite() && v > 0.0 && v <= 365.0;
        if !(days_ok(s.threshold_days_min)
            && days_ok(s.threshold_days_max)
            && s.threshold_days_min <= s.threshold_days_max)
        {
            return Err(format!(
                "[shelves] `threshold_days_min` ({}) and `threshold_days_max` ({}) must be above 0, at most 365, in that order",
                s.threshold_days_min, s.threshold_days_max
            ));
        }
        if !days_ok(s.capacity_days) {
            return Err(format!(
                "[shelves] `capacity_days` must be above 0 and at most 365, got {}",
                s.capacity_days
            ));
        }
        if !(1..=100_000).contains(&s.min_threshold) || !(1..=1_000_000).contains(&s.min_capacity) {
            return Err(format!(
                "[shelves] `min_threshold` (1-100000) and `min_capacity` (1-1000000) out of range: {} and {}",
                s.min_threshold, s.min_capacity
            ));
        }
        if !(1..=24 * 7).contains(&self.sensors.heartbeat_hours) {
            return Err(format!(
                "[sensors] `heartbeat_hours` must be between 1 and 168, got {}",
                self.sensors.heartbeat_hours
            ));
        }
        let p = &self.planner;
        if !(1..=24 * 7).contains(&p.every_hours) {
            return Err(format!(
                "[planner] `every_hours` must be between 1 and 168, got {}",
                p.every_hours
            ));
        }
        if !(1..=store_model::planning::MAX_LOOKBACK_HOURS).contains(&p.lookback_hours) {
            return Err(format!(
                "[planner] `lookback_hours` must be between 1 and {}, got {}",
                store_model::planning::MAX_LOOKBACK_HOURS,
                p.lookback_hours
            ));
        }
        if p.lookback_hours < self.sensors.heartbeat_hours {
            return Err(format!(
                "[planner] `lookback_hours` ({}) must be at least [sensors] `heartbeat_hours` ({}), or quiet shelves drop out of the planner's window",
                p.lookback_hours, self.sensors.heartbeat_hours
            ));
        }
        if p.policy.is_empty() {
            return Err("[planner] `policy` must be `seed`, `threshold` or a policy file".into());
        }
        let f = &self.fleet;
        if f.file.is_none() {
            if !(1..=10_000).contains(&f.stores_per_truck) {
                return Err(format!(
                    "[fleet] `stores_per_truck` must be between 1 and 10000, got {}",
                    f.stores_per_truck
                ));
            }
            if !(1..=store_model::places::MAX_TRUCK_CAPACITY).contains(&f.capacity) {
                return Err(format!(
                    "[fleet] `capacity` must be between 1 and {}, got {}",
                    store_model::places::MAX_TRUCK_CAPACITY,
                    f.capacity
                ));
            }
        }
        if f.routing_rounds > 10_000 {
            return Err(format!(
                "[fleet] `routing_rounds` must be at most 10000, got {}",
                f.routing_rounds
            ));
        }
        Ok(())
    }

    /// The first simulated second: local midnight of `[chain] start`.
    pub fn start(&self) -> i64 {
        self.start_day().unwrap_or(0) * 86_400 - i64::from(self.demand.utc_offset_hours) * 3600
    }

    /// `[chain] start` as a day number since 1970-01-01.
    fn start_day(&self) -> Result<i64, String> {
        let bad = || {
            format!(
                "[chain] `start` must be a date `YYYY-MM-DD` from 2000 to 2099, got `{}`",
                store_model::planning::printable(&self.chain.start)
            )
        };
        let parts: Vec<&str> = self.chain.start.split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad());
        };
        let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) else {
            return Err(bad());
        };
        if !(2000..=2099).contains(&y) || !(1..=12).contains(&m) {
            return Err(bad());
        }
        let leap = y % 4 == 0;
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=month_days[m as usize - 1]).contains(&d) {
            return Err(bad());
        }
        let years = y - 1970;
        let leap_days = (y - 1969) / 4;
        let before_month: i64 = month_days[..m as usize - 1]
            .iter()
            .map(|x| i64::from(*x))
            .sum();
        Ok(years * 365 + leap_days + before_month + i64::from(d) - 1)
    }

    /// The stores: the stores file's, or `[chain] stores` scattered around Ho Chi Minh City.
    /// A stores file sets the number of stores.
    pub fn stores(&self) -> Result<Stores, ScenarioError> {
        match &self.chain.stores_file {
            Some(file) => Ok(Stores::load(Some(file))?),
            None => Ok(Stores::generate(
                self.chain.stores,
                self.chain.seed,
                HO_CHI_MINH_CITY,
                self.chain.radius_km,
            )),
        }
    }

    /// The fleet: the fleet file, or trucks for the chain's size at the shipped depots.
    pub fn fleet(&self) -> Result<Fleet, ScenarioError> {
        if let Some(file) = &self.fleet.file {
            return Ok(Fleet::load(Some(file))?);
        }
        let shipped = Fleet::shipped();
        let f = &self.fleet;
        let count = self.chain.stores.div_ceil(f.stores_per_truck).max(2);
        let trucks = (1..=count)
            .map(|i| Truck {
                truck_id: format!("TRUCK_{i}"),
                capacity: f.capacity,
                speed_kmh: f.speed_kmh,
                depot_id: shipped.depots[(i - 1) % shipped.depots.len()]
                    .depot_id
                    .clone(),
            })
            .collect();
        let fleet = Fleet {
            service_minutes: f.service_minutes,
            batch_window_seconds: 0,
            depots: shipped.depots.clone(),
            trucks,
        };
        fleet.validate().map_err(|message| ScenarioError {
            origin: "[fleet]".to_owned(),
            message,
        })?;
        Ok(fleet)
    }

    /// The policy the scenario names. The built-in `forecast` policy sells in the scenario's
    /// opening hours (store master data, as a planner would configure it).
    pub fn policy(&self) -> Result<ReorderPolicy, ScenarioError> {
        self.policy_named(&self.planner.policy)
    }

    /// The policy `name` ([`policy_by_name`]) in this scenario: the built-in `forecast` policy
    /// sells in the scenario's opening hours.
    pub fn policy_named(&self, name: &str) -> Result<ReorderPolicy, ScenarioError> {
        let mut policy = policy_by_name(name)?;
        if name == "forecast" {
            let f = &mut policy.forecast;
            f.open_hour = self.demand.open_hour;
            f.close_hour = self.demand.close_hour;
            f.utc_offset_hours = self.demand.utc_offset_hours;
        }
        Ok(policy)
    }
}

/// Whether a policy name is a file rather than a built-in name.
fn is_policy_file(name: &str) -> bool {
    !matches!(name, "seed" | "threshold" | "forecast")
}

/// A policy by name: `threshold` (the shipped policy, today's rule), `seed` (the seed
/// workshop's rule, with the shipped packs), `forecast` (the shipped policy deciding from each
/// shelf's demand, at its `[forecast]` settings), or a policy file.
pub fn policy_by_name(name: &str) -> Result<ReorderPolicy, ScenarioError> {
    match name {
        "threshold" => Ok(ReorderPolicy::shipped()),
        "seed" => {
            let mut p = ReorderPolicy::shipped();
            p.default.method = OrderMethod::Seed;
            Ok(p)
        }
        "forecast" => {
            let mut p = ReorderPolicy::shipped();
            p.default.method = OrderMethod::Forecast;
            Ok(p)
        }
        file => Ok(ReorderPolicy::load(Some(Path::new(file)))?),
    }
}

/// Depots' centre, for reports.
pub fn depots_centre(depots: &[Depot]) -> GeoPoint {
    let n = depots.len().max(1) as f64;
    GeoPoint {
        lat: depots.iter().map(|d| d.lat).sum::<f64>() / n,
        lon: depots.iter().map(|d| d.lon).sum::<f64>() / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_default_scenario() {
        let s = Scenario::parse("", "s.toml").unwrap();
        assert_eq!(s, Scenario::default());
        // 2026-01-05 00:00 in Ho Chi Minh City.
        assert_eq!(s.start(), 1_767_546_000);
    }

    #[test]
    fn bad_files_name_the_file_the_key_and_the_reason() {
        let cases = [
            ("[chain]\nstores = 0\n", "stores"),
            ("[chain]\nstart = \"2026-02-30\"\n", "start"),
            ("[chain]\nshops = 3\n", "shops"),
            ("[demand]\nclose_hour = 3\n", "close_hour"),
            ("[planner]\nevery_hours = 0\n", "every_hours"),
            ("[sensors]\nheartbeat_hours = 48\n", "heartbeat_hours"),
            ("[chain]\ndays = \"many\"\n", "days"),
            ("[shelves]\ncapacity_days = -1\n", "capacity_days"),
        ];
        for (text, key) in cases {
            let e = Scenario::parse(text, "bad.toml").unwrap_err().to_string();
            assert!(
                e.starts_with("bad.toml: ") && e.contains(key),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn the_shipped_scenarios_are_valid_and_small_shows_the_defaults() {
        let small = Scenario::parse(
            include_str!("../../../config/scenarios/small.toml"),
            "small.toml",
        )
        .unwrap();
        assert_eq!(
            small,
            Scenario::default(),
            "small.toml documents every default"
        );
        let chain = Scenario::parse(
            include_str!("../../../config/scenarios/chain.toml"),
            "chain.toml",
        )
        .unwrap();
        assert_eq!(
            (chain.chain.stores, chain.chain.products, chain.chain.days),
            (100, 50, 28)
        );
        let finding = Scenario::parse(
            include_str!("../../../config/scenarios/finding.toml"),
            "finding.toml",
        )
        .unwrap();
        assert_eq!(finding.chain.stores * finding.chain.products, 600);
        let large = Scenario::parse(
            include_str!("../../../config/scenarios/large.toml"),
            "large.toml",
        )
        .unwrap();
        assert_eq!(large.chain.stores * large.chain.products, 60_000);
        // About the fleet per shelf of chain.toml (four times the products a store, a truck
        // for every three stores rather than ten).
        let shelves_per_truck = |s: &Scenario| {
            let trucks = s.fleet().unwrap().trucks.len();
            (s.chain.stores * s.chain.products) as f64 / trucks as f64
        };
        let ratio = shelves_per_truck(&large) / shelves_per_truck(&chain);
        assert!((0.8..=1.25).contains(&ratio), "{ratio}");
    }

    #[test]
    fn a_made_fleet_grows_with_the_chain() {
        let mut s = Scenario::default();
        s.chain.stores = 95;
        let fleet = s.fleet().unwrap();
        assert_eq!(fleet.trucks.len(), 10);
        assert!(fleet.trucks.iter().all(|t| t.capacity == 600));
    }

    #[test]
    fn policies_by_name() {
        assert_eq!(
            policy_by_name("seed").unwrap().default.method,
            OrderMethod::Seed
        );
        assert_eq!(
            policy_by_name("threshold").unwrap().default.method,
            OrderMethod::Threshold
        );
        let e = policy_by_name("/no/such/policy.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/policy.toml"), "{e}");
    }
}
