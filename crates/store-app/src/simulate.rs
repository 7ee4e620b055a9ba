//! Simulated stores: each sells its products at its own pace, and reports stock after each round.
//!
//! Paces and sales come from the simulator's demand model ([`store_model::demand`]): a shelf's
//! pace per round is drawn as `store-sim` draws a shelf's daily rate (log-normal around
//! [`PACE`]: many slow shelves, a few fast ones), and each round's sales are a negative binomial
//! draw around it.
//!
//! The defaults mirror the seed workshop: stores `STORE_1`..`STORE_10` and products `PRD_1`..`PRD_5`
//! named "Rau cải", "Thịt gà", "Sữa tươi", "Cơm hộp", "Bánh mì". With a seed the whole run,
//! event ids included, is reproducible.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store_model::Reading;
use store_model::demand::{DemandSettings, mix};
use store_model::random::SplitMix64;

pub use store_model::demand::SEED_PRODUCTS;

/// How the simulated chain looks.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Number of stores.
    pub stores: usize,
    /// Number of products per store.
    pub products: usize,
    /// Seed of the random generator; `None` for a different run every time.
    pub seed: Option<u64>,
}

struct Shelf {
    store_id: String,
    product_id: String,
    product_name: String,
    stock: i32,
    threshold: i32,
    max_stock: i32,
    /// Mean units sold per round.
    pace: f64,
    last_time: i64,
}

/// The median shelf's units sold per round.
pub const PACE: f64 = 1.0;

/// The demand model's settings for a round: log-normal paces around [`PACE`] (sigma 0.8: two
/// shelves in five under half the median or over twice it), negative binomial sales.
fn round_demand() -> DemandSettings {
    DemandSettings {
        median_per_day: PACE,
        spread: 0.8,
        ..DemandSettings::default()
    }
}

/// The simulated chain: one shelf per store and product.
pub struct Chain {
    shelves: Vec<Shelf>,
    rng: StdRng,
    demand: DemandSettings,
    /// Seeds every shelf's sales draws.
    seed: u64,
    rounds: u64,
}

impl Chain {
    /// A chain with every shelf stocked between its reorder point and its order-up-to level.
    pub fn new(config: &ChainConfig) -> Self {
        let mut rng = match config.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        let demand = round_demand();
        let seed = rng.random::<u64>();
        let mut shelves = Vec::with_capacity(config.stores * config.products);
        for s in 1..=config.stores {
            for p in 1..=config.products {
                let threshold = rng.random_range(10..=20);
                let max_stock = threshold * 3;
                shelves.push(Shelf {
                    store_id: format!("STORE_{s}"),
                    product_id: format!("PRD_{p}"),
                    product_name: store_model::demand::product_name(p),
                    stock: rng.random_range(threshold..=max_stock),
                    threshold,
                    max_stock,
                    pace: demand.shelf(seed, shelves.len() as u64, 0, 0).per_day,
                    last_time: i64::MIN,
                });
            }
        }
        Self {
            shelves,
            rng,
            demand,
            seed,
            rounds: 0,
        }
    }

    /// Number of shelves (store and product pairs): one reading each per round.
    pub fn shelves(&self) -> usize {
        self.shelves.len()
    }

    /// Adds delivered units to a shelf, so stock rises when a truck arrives. Returns the
    /// stock before and after, or `None` for a shelf this chain does not have.
    pub fn deliver(
        &mut self,
        store_id: &str,
        product_id: &str,
        quantity: i64,
    ) -> Option<(i32, i32)> {
        let shelf = self
            .shelves
            .iter_mut()
            .find(|s| s.store_id == store_id && s.product_id == product_id)?;
        let before = shelf.stock;
        shelf.stock = shelf
            .stock
            .saturating_add(i32::try_from(quantity.max(0)).unwrap_or(i32::MAX));
        Some((before, shelf.stock))
    }

    /// One round: every shelf sells for a while and reports its stock, in a random order. Event
    /// times never go backwards for a shelf, so the latest reading is always the newest state.
    pub fn round(&mut self, time: i64) -> Vec<Reading> {
        let mut order: Vec<usize> = (0..self.shelves.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, self.rng.random_range(0..=i));
        }
        let round = self.rounds;
        self.rounds += 1;
        order
            .into_iter()
            .map(|i| {
                let mut draws = SplitMix64::new(mix(self.seed, i as u64, round));
                let sold = self.demand.draw(&mut draws, self.shelves[i].pace);
                let sold = i32::try_from(sold).unwrap_or(i32::MAX);
                let shelf = &mut self.shelves[i];
                shelf.stock = shelf.stock.saturating_sub(sold).max(0);
                shelf.last_time = time.max(shelf.last_time.saturating_add(1));
                let mut r = Reading {
                    store_id: shelf.store_id.clone(),
                    product_id: shelf.product_id.clone(),
                    product_name: shelf.product_name.clone(),
                    current_stock: shelf.stock,
                    threshold_level: shelf.threshold,
                    is_stock_low: shelf.stock < shelf.threshold,
                    check_timestamp: shelf.last_time,
                    notification_sent: false,
                    restock_status: if shelf.stock < shelf.threshold {
                        "LOW"
                    } else {
                        "OK"
                    }
                    .to_owned(),
                    event_id: None,
                    max_stock: Some(shelf.max_stock),
                };
                r.ensure_event_id();
                r
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(seed: u64) -> Chain {
        Chain::new(&ChainConfig {
            stores: 10,
            products: 5,
            seed: Some(seed),
        })
    }

    #[test]
    fn defaults_mirror_the_seed_workshop() {
        let mut c = chain(1);
        let round = c.round(1_000);
        assert_eq!(round.len(), 50);
        assert!(
            round
                .iter()
                .any(|r| r.store_id == "STORE_10" && r.product_name == "Bánh mì")
        );
        assert!(
            round
                .iter()
                .all(|r| r.current_stock >= 0 && r.max_stock == Some(r.threshold_level * 3))
        );
    }

    #[test]
    fn a_seed_makes_the_run_reproducible() {
        let (mut a, mut b) = (chain(7), chain(7));
        assert_eq!(a.round(5), b.round(5));
        assert_ne!(chain(8).round(5), chain(7).round(5));
    }

    #[test]
    fn stock_falls_with_sales_and_never_below_zero() {
        let mut c = chain(3);
        let first: i64 = c.round(0).iter().map(|r| i64::from(r.current_stock)).sum();
        let mut last = first;
        for t in 1..200 {
            last = c.round(t).iter().map(|r| i64::from(r.current_stock)).sum();
        }
        assert!(last < first);
        assert!(c.round(300).iter().any(Reading::is_low));
    }

    #[test]
    fn event_times_never_go_backwards_per_shelf() {
        let mut c = chain(4);
        let a = c.round(100);
        let b = c.round(100);
        for r in &b {
            let before = a
                .iter()
                .find(|x| x.store_id == r.store_id && x.product_id == r.product_id)
                .unwrap();
            assert!(r.check_timestamp > before.check_timestamp);
        }
    }

    #[test]
    fn deliveries_raise_stock() {
        let mut c = chain(5);
        let before = c
            .round(1)
            .into_iter()
            .find(|r| r.store_id == "STORE_1" && r.product_id == "PRD_1")
            .unwrap();
        let (was, now) = c.deliver("STORE_1", "PRD_1", 1_000).unwrap();
        assert_eq!(now, was + 1_000);
        assert!(c.deliver("STORE_99", "PRD_1", 1).is_none());
        let after = c
            .round(2)
            .into_iter()
            .find(|r| r.store_id == "STORE_1" && r.product_id == "PRD_1")
            .unwrap();
        assert!(after.current_stock > before.current_stock + 900);
    }
}
