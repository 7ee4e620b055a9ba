//! One simulated shelf: stock, the shoppers of the hour, deliveries, and what it counts.
//!
//! Within an hour, its `D` shoppers come evenly: shopper `k` (1..=D) at `(k - 0.5) / D` of the
//! hour. Each takes one unit if the shelf has one; otherwise the sale is lost. The shelf is out
//! of stock from the moment its last unit is taken until a delivery arrives, and that time
//! counts while the store is open. A delivery fills the shelf up to its capacity; what does not
//! fit goes back with the truck (`overflow`).

/// Seconds in an hour, as a float.
const HOUR_S: f64 = 3600.0;

/// What one stretch of an hour did at a shelf.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sales {
    /// Units shoppers asked for.
    pub demanded: u64,
    /// Units sold.
    pub sold: u64,
    /// Units asked for while the shelf was empty.
    pub lost: u64,
    /// Seconds the shelf stood empty while the store was open.
    pub stockout_s: f64,
}

/// A shelf's state and its totals.
#[derive(Debug, Clone)]
pub struct Shelf {
    /// Its store's number (0-based).
    pub store: usize,
    /// Its product's number (0-based).
    pub product: usize,
    /// The reorder point its producer reports.
    pub threshold: i32,
    /// What the shelf holds (its `max_stock`).
    pub capacity: i32,
    /// Units on the shelf now.
    pub stock: i64,
    /// Units at the start.
    pub initial: i64,
    /// Units put on the shelf by deliveries.
    pub received: u64,
    /// Units delivered that did not fit.
    pub overflow: u64,
    /// Totals of the run.
    pub total: Sales,
    /// Replenishment cycles ended by a delivery.
    pub cycles: u64,
    /// Of those, the ones without a stock-out.
    pub cycles_in_stock: u64,
    /// Whether the cycle in progress has had a stock-out.
    cycle_stocked_out: bool,
    /// The hour in progress: its start, shoppers, shoppers come so far, whether open.
    hour_start: i64,
    shoppers: u32,
    come: u32,
    open: bool,
    /// How far into the hour the shelf has been played.
    at: i64,
    /// The last stock reported, and when.
    pub reported: Option<(i64, i64)>,
}

impl Shelf {
    /// A shelf holding `stock` units.
    pub fn new(store: usize, product: usize, threshold: i32, capacity: i32, stock: i64) -> Self {
        Self {
            store,
            product,
            threshold,
            capacity,
            stock,
            initial: stock,
            received: 0,
            overflow: 0,
            total: Sales::default(),
            cycles: 0,
            cycles_in_stock: 0,
            cycle_stocked_out: false,
            hour_start: i64::MIN,
            shoppers: 0,
            come: 0,
            open: false,
            at: i64::MIN,
            reported: None,
        }
    }

    /// Starts the hour at `start` with `shoppers` shoppers, the store open or not.
    pub fn begin_hour(&mut self, start: i64, shoppers: u32, open: bool) {
        self.hour_start = start;
        self.shoppers = shoppers;
        self.come = 0;
        self.open = open;
        self.at = start;
    }

    /// Plays the hour up to `t` (within the hour, not before the last time played).
    pub fn advance(&mut self, t: i64) -> Sales {
        let t = t.clamp(self.at, self.hour_start + 3600);
        let mut out = Sales::default();
        if t <= self.at {
            return out;
        }
        let d = f64::from(self.shoppers);
        let fraction = (t - self.hour_start) as f64 / HOUR_S;
        let by_now = if self.shoppers == 0 {
            0
        } else {
            ((d * fraction + 0.5).floor() as u32).min(self.shoppers)
        };
        let new = u64::from(by_now - self.come);
        let sold = new.min(self.stock.max(0) as u64);
        out.demanded = new;
        out.sold = sold;
        out.lost = new - sold;
        if self.open {
            // When the shelf went empty within [at, t], if it did.
            let empty_from = if self.stock <= 0 {
                Some(self.at as f64)
            } else if new >= self.stock as u64 {
                // The shopper who took the last unit.
                let k = f64::from(self.come) + self.stock as f64;
                Some(self.hour_start as f64 + (k - 0.5) / d * HOUR_S)
            } else {
                None
            };
            if let Some(from) = empty_from {
                out.stockout_s = (t as f64 - from.max(self.at as f64)).max(0.0);
            }
        }
        self.stock -= sold as i64;
        self.come = by_now;
        self.at = t;
        if out.stockout_s > 0.0 {
            self.cycle_stocked_out = true;
        }
        self.total.demanded += out.demanded;
        self.total.sold += out.sold;
        self.total.lost += out.lost;
        self.total.stockout_s += out.stockout_s;
        out
    }

    /// A delivery of `quantity` units at `t`: the shelf is played up to then, filled up to its
    /// capacity, and a replenishment cycle ends. Returns the sales up to `t` and the units put
    /// on the shelf.
    pub fn deliver(&mut self, t: i64, quantity: i64) -> (Sales, u64) {
        let sales = self.advance(t);
        let room = (i64::from(self.capacity) - self.stock).max(0);
        let put = quantity.clamp(0, room);
        self.stock += put;
        self.received += put as u64;
        self.overflow += (quantity.max(0) - put) as u64;
        self.cycles += 1;
        if !self.cycle_stocked_out {
            self.cycles_in_stock += 1;
        }
        // A shelf still empty after the delivery starts its new cycle out of stock.
        self.cycle_stocked_out = self.stock <= 0 && self.open;
        (sales, put as u64)
    }

    /// Whether the conservation laws hold: start + received - sold = now, asked = sold + lost.
    pub fn balance_error(&self) -> Option<String> {
        let expected = self.initial + self.received as i64 - self.total.sold as i64;
        if expected != self.stock {
            return Some(format!(
                "stock {} but initial {} + received {} - sold {} = {expected}",
                self.stock, self.initial, self.received, self.total.sold
            ));
        }
        if self.total.demanded != self.total.sold + self.total.lost {
            return Some(format!(
                "demanded {} but sold {} + lost {}",
                self.total.demanded, self.total.sold, self.total.lost
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shoppers_come_evenly_and_an_empty_shelf_loses_them() {
        // 4 shoppers at 7.5, 22.5, 37.5 and 52.5 minutes; 2 units on the shelf.
        let mut s = Shelf::new(0, 0, 1, 10, 2);
        s.begin_hour(0, 4, true);
        let half = s.advance(1800);
        assert_eq!((half.demanded, half.sold, half.lost), (2, 2, 0));
        // The second shopper emptied it at 22.5 min: empty for 7.5 min so far.
        assert!(
            (half.stockout_s - 450.0).abs() < 1e-9,
            "{}",
            half.stockout_s
        );
        let rest = s.advance(3600);
        assert_eq!((rest.demanded, rest.sold, rest.lost), (2, 0, 2));
        assert!((rest.stockout_s - 1800.0).abs() < 1e-9);
        assert!((s.total.stockout_s - 2250.0).abs() < 1e-9);
        assert!(s.balance_error().is_none());
    }

    #[test]
    fn a_delivery_ends_the_stock_out_and_the_cycle() {
        let mut s = Shelf::new(0, 0, 1, 5, 0);
        s.begin_hour(0, 2, true);
        // Empty from the start; a delivery of 8 at 15 min fits 5.
        let (before, put) = s.deliver(900, 8);
        assert_eq!(put, 5);
        assert_eq!(s.overflow, 3);
        assert_eq!(
            (before.demanded, before.lost),
            (1, 1),
            "the shopper at 15 min came first"
        );
        assert!((before.stockout_s - 900.0).abs() < 1e-9);
        let after = s.advance(3600);
        assert_eq!((after.sold, after.stockout_s), (1, 0.0));
        assert_eq!(
            (s.cycles, s.cycles_in_stock),
            (1, 0),
            "the cycle had a stock-out"
        );
        s.begin_hour(3600, 0, true);
        s.deliver(4000, 1);
        assert_eq!((s.cycles, s.cycles_in_stock), (2, 1));
        assert_eq!(
            (s.stock, s.overflow),
            (5, 3),
            "the unit fills the last place"
        );
        assert!(s.balance_error().is_none());
    }

    #[test]
    fn a_closed_store_counts_no_stock_out() {
        let mut s = Shelf::new(0, 0, 1, 5, 0);
        s.begin_hour(0, 0, false);
        assert_eq!(s.advance(3600).stockout_s, 0.0);
    }
}
