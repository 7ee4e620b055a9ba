//! Shoppers' demand for simulated shelves: a skewed base rate per shelf (many slow,
//! intermittent movers, a few fast ones), hour-of-day and day-of-week profiles, opening hours,
//! promotions, and gamma-Poisson (negative binomial) noise.
//!
//! Every draw is a pure function of the seed, the shelf's number and the hour, so the same
//! scenario gives the same demand under every reorder policy: a comparison of policies sees the
//! same shoppers. Depends on [`crate::random`], and on [`crate::forecast`] for the check of
//! opening hours.

use serde::{Deserialize, Serialize};

use crate::random::SplitMix64;

/// The seed workshop's product names; products past the fifth get numbered names.
pub const SEED_PRODUCTS: [&str; 5] = ["Rau cải", "Thịt gà", "Sữa tươi", "Cơm hộp", "Bánh mì"];

/// The name of product `PRD_<number>` (1-based) in simulated stores.
pub fn product_name(number: usize) -> String {
    number
        .checked_sub(1)
        .and_then(|i| SEED_PRODUCTS.get(i))
        .map_or_else(|| format!("Sản phẩm {number}"), |n| (*n).to_owned())
}

/// Seconds in an hour.
const HOUR: i64 = 3600;
/// Seconds in a day.
const DAY: i64 = 24 * HOUR;

/// How shoppers buy: the demand part of a simulation scenario (`[demand]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemandSettings {
    /// The median shelf's units per day. Base rates are log-normal around it.
    pub median_per_day: f64,
    /// The spread of base rates (the log-normal's sigma): 1.2 around a median of 1 a day puts
    /// half the shelves under one unit a day and one in ten over 4.6.
    pub spread: f64,
    /// The negative binomial's shape (smaller: burstier sales); 0 for plain Poisson.
    pub dispersion: f64,
    /// First local hour the stores sell in (0-23).
    pub open_hour: u32,
    /// Local hour the stores close at (1-24; no sales from then until `open_hour`).
    pub close_hour: u32,
    /// The chain's time zone, hours east of UTC (Ho Chi Minh City: 7).
    pub utc_offset_hours: i32,
    /// Chance that a shelf runs a promotion in a given week.
    pub promo_chance: f64,
    /// Days a promotion lasts.
    pub promo_days: u32,
    /// A promotion multiplies the rate by this.
    pub promo_multiplier: f64,
    /// Relative sales by day of week, Monday first (scaled so they average 1).
    pub weekday_profile: [f64; 7],
    /// How a day's sales spread over the open hours.
    pub hour_profile: HourProfile,
    /// Whether hourly sales are drawn around their mean (`false`: the mean, rounded; for
    /// scenarios checked by hand).
    pub noise: bool,
}

/// How a day's sales spread over the open hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HourProfile {
    /// A morning rise, a midday dip and an evening peak.
    #[default]
    Retail,
    /// The same every open hour.
    Flat,
}

impl Default for DemandSettings {
    fn default() -> Self {
        Self {
            median_per_day: 1.0,
            spread: 1.2,
            dispersion: 2.0,
            open_hour: 7,
            close_hour: 22,
            utc_offset_hours: 7,
            promo_chance: 0.05,
            promo_days: 3,
            promo_multiplier: 3.0,
            weekday_profile: [0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 0.9],
            hour_profile: HourProfile::Retail,
            noise: true,
        }
    }
}

/// One shelf's demand: its base rate and its promotions.
#[derive(Debug, Clone, PartialEq)]
pub struct ShelfDemand {
    /// Units a day on an average day, without promotions.
    pub per_day: f64,
    /// Promotions as local day numbers (days since 1970-01-01, local time): `[from, to)`.
    pub promotions: Vec<(i64, i64)>,
}

/// A hash of three numbers: the seed of one independent draw.
pub fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut g = SplitMix64::new(seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let first = g.next_u64();
    SplitMix64::new(first ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)).next_u64()
}

/// A standard normal draw (Box-Muller).
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A gamma draw of shape `k` and scale 1 (Marsaglia and Tsang; shapes under 1 boosted).
pub fn gamma(rng: &mut SplitMix64, k: f64) -> f64 {
    if k < 1.0 {
        let u = rng.unit().max(f64::MIN_POSITIVE);
        return gamma(rng, k + 1.0) * u.powf(1.0 / k);
    }
    let d = k - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.unit().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Poisson draw of mean `mean`: by inversion for small means, by a rounded normal for large
/// ones (over 60, where the two agree closely).
pub fn poisson(rng: &mut SplitMix64, mean: f64) -> u32 {
    if mean <= 0.0 || !mean.is_finite() {
        return 0;
    }
    if mean > 60.0 {
        let x = mean + mean.sqrt() * normal(rng);
        return x.round().clamp(0.0, f64::from(u32::MAX)) as u32;
    }
    let mut p = (-mean).exp();
    let mut cdf = p;
    let u = rng.unit();
    let mut k = 0_u32;
    while u > cdf && k < 10_000 {
        k += 1;
        p *= mean / f64::from(k);
        cdf += p;
    }
    k
}

impl DemandSettings {
    /// Checks every value, naming the key that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64, max: f64| {
            if v.is_finite() && v > 0.0 && v <= max {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` must be above 0 and at most {max}, got {v}"
                ))
            }
        };
        positive("median_per_day", self.median_per_day, 10_000.0)?;
        positive("promo_multiplier", self.promo_multiplier, 100.0)?;
        if !(self.spread.is_finite() && (0.0..=3.0).contains(&self.spread)) {
            return Err(format!(
                "`spread` must be between 0 and 3, got {}",
                self.spread
            ));
        }
        if !(self.dispersion.is_finite() && (0.0..=1_000.0).contains(&self.dispersion)) {
            return Err(format!(
                "`dispersion` must be between 0 (Poisson) and 1000, got {}",
                self.dispersion
            ));
        }
        crate::forecast::SellingHours {
            open_hour: self.open_hour,
            close_hour: self.close_hour,
            utc_offset_hours: self.utc_offset_hours,
        }
        .validate()?;
        if !(self.promo_chance.is_finite() && (0.0..=1.0).contains(&self.promo_chance)) {
            return Err(format!(
                "`promo_chance` must be between 0 and 1, got {}",
                self.promo_chance
            ));
        }
        if !(1..=28).contains(&self.promo_days) {
            return Err(format!(
                "`promo_days` must be between 1 and 28, got {}",
                self.promo_days
            ));
        }
        if let Some(w) = self
            .weekday_profile
            .iter()
            .find(|w| !(w.is_finite() && **w >= 0.0 && **w <= 100.0))
        {
            return Err(format!(
                "`weekday_profile` values must be between 0 and 100, got {w}"
            ));
        }
        if self.weekday_profile.iter().sum::<f64>() <= 0.0 {
            return Err("`weekday_profile` must have a day with sales".to_owned());
        }
        Ok(())
    }

    /// The local day number (days since 1970-01-01 in the chain's time zone) and hour of an
    /// epoch second.
    pub fn local_day_hour(&self, epoch: i64) -> (i64, u32) {
        let local = epoch + i64::from(self.utc_offset_hours) * HOUR;
        (
            local.div_euclid(DAY),
            u32::try_from(local.rem_euclid(DAY) / HOUR).unwrap_or(0),
        )
    }

    /// Whether the stores sell in the hour starting at `epoch`.
    pub fn is_open(&self, epoch: i64) -> bool {
        let (_, hour) = self.local_day_hour(epoch);
        (self.open_hour..self.close_hour).contains(&hour)
    }

    /// The share of a day's sales made in local `hour`: a morning rise, a midday dip, an evening
    /// peak, nothing while closed. The open hours' shares add up to 1.
    pub fn hour_share(&self, hour: u32) -> f64 {
        let weight = |h: u32| {
            if !(self.open_hour..self.close_hour).contains(&h) {
                return 0.0;
            }
            if self.hour_profile == HourProfile::Flat {
                return 1.0;
            }
            let x = f64::from(h) + 0.5;
            1.0 + 0.5 * (-(x - 10.0).powi(2) / 8.0).exp() + (-(x - 18.5).powi(2) / 6.0).exp()
                - 0.2 * (-(x - 14.0).powi(2) / 4.0).exp()
        };
        let total: f64 = (0..24).map(weight).sum();
        weight(hour) / total
    }

    /// A shelf's demand, drawn from the seed and the shelf's number: a log-normal base rate and
    /// the promotions of the `days` from local day `first_day`.
    pub fn shelf(&self, seed: u64, shelf: u64, first_day: i64, days: u32) -> ShelfDemand {
        let mut rng = SplitMix64::new(mix(seed, shelf, u64::MAX));
        let per_day = self.median_per_day * (self.spread * normal(&mut rng)).exp();
        let mut promotions = Vec::new();
        for week in 0..i64::from(days.div_ceil(7)) {
            let mut w = SplitMix64::new(mix(seed, shelf, u64::MAX - 1 - week as u64));
            if w.unit() < self.promo_chance {
                let from = first_day + week * 7 + w.below(7) as i64;
                promotions.push((from, from + i64::from(self.promo_days)));
            }
        }
        ShelfDemand {
            per_day: per_day.min(100_000.0),
            promotions,
        }
    }

    /// What every shelf shares in the hour starting at `epoch`: computed once per hour, not per
    /// shelf (the hour-of-day profile is a sum over the day).
    pub fn hour(&self, epoch: i64) -> Hour {
        let (day, hour) = self.local_day_hour(epoch);
        let share = self.hour_share(hour);
        let week_mean = self.weekday_profile.iter().sum::<f64>() / 7.0;
        let weekday = self.weekday_profile[(day + 3).rem_euclid(7) as usize] / week_mean;
        Hour {
            epoch,
            day,
            factor: share * weekday,
        }
    }

    /// Units a shelf is expected to sell in the hour starting at `epoch`.
    pub fn mean(&self, shelf: &ShelfDemand, epoch: i64) -> f64 {
        self.mean_in(shelf, &self.hour(epoch))
    }

    /// Units a shelf is expected to sell in `hour`.
    pub fn mean_in(&self, shelf: &ShelfDemand, hour: &Hour) -> f64 {
        if hour.factor == 0.0 {
            return 0.0;
        }
        let promo = if shelf
            .promotions
            .iter()
            .any(|(from, to)| (*from..*to).contains(&hour.day))
        {
            self.promo_multiplier
        } else {
            1.0
        };
        shelf.per_day * hour.factor * promo
    }

    /// Units shoppers ask for at shelf number `shelf` in the hour starting at `epoch`: a
    /// negative binomial (gamma-Poisson) draw around [`Self::mean`], the same for the same
    /// seed, shelf and hour.
    pub fn units(&self, seed: u64, shelf_number: u64, shelf: &ShelfDemand, epoch: i64) -> u32 {
        self.units_in(seed, shelf_number, shelf, &self.hour(epoch))
    }

    /// [`Self::units`] in an hour computed once for every shelf.
    pub fn units_in(&self, seed: u64, shelf_number: u64, shelf: &ShelfDemand, hour: &Hour) -> u32 {
        let mean = self.mean_in(shelf, hour);
        if mean <= 0.0 {
            return 0;
        }
        if !self.noise {
            return mean.round().min(f64::from(u32::MAX)) as u32;
        }
        let mut rng = SplitMix64::new(mix(seed, shelf_number, hour.epoch.div_euclid(HOUR) as u64));
        self.draw(&mut rng, mean)
    }

    /// A draw of the settings' noise around `mean`: negative binomial of shape `dispersion`
    /// (a Poisson draw at a gamma-distributed rate), or Poisson when `dispersion` is 0.
    pub fn draw(&self, rng: &mut SplitMix64, mean: f64) -> u32 {
        let rate = if self.dispersion > 0.0 {
            mean * gamma(rng, self.dispersion) / self.dispersion
        } else {
            mean
        };
        poisson(rng, rate)
    }
}

/// One hour as every shelf sees it: its local day and the share of a shelf's daily rate sold
/// in it (the weekday's and the hour's profile together; 0 while the stores are closed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hour {
    /// Start of the hour, epoch seconds.
    pub epoch: i64,
    /// Local day number (days since 1970-01-01 in the chain's time zone).
    pub day: i64,
    /// Multiplies a shelf's daily rate (before promotions) into the hour's mean.
    pub factor: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05 00:00 in Ho Chi Minh City (a Monday), as epoch seconds.
    const MONDAY: i64 = 1_767_546_000;

    #[test]
    fn the_open_hours_share_the_whole_day() {
        let d = DemandSettings::default();
        let total: f64 = (0..24).map(|h| d.hour_share(h)).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert_eq!(d.hour_share(3), 0.0);
        assert!(d.hour_share(18) > d.hour_share(14), "an evening peak");
        assert!(!d.is_open(MONDAY + 3 * 3600));
        assert!(d.is_open(MONDAY + 7 * 3600));
        assert_eq!(d.local_day_hour(MONDAY).1, 0);
        assert_eq!((d.local_day_hour(MONDAY).0 + 3).rem_euclid(7), 0, "Monday");
    }

    #[test]
    fn at_least_two_shelves_in_five_sell_under_one_unit_a_day() {
        let d = DemandSettings::default();
        let rates: Vec<f64> = (0..10_000).map(|s| d.shelf(7, s, 0, 28).per_day).collect();
        let slow = rates.iter().filter(|r| **r < 1.0).count() as f64 / rates.len() as f64;
        assert!((0.45..0.55).contains(&slow), "{slow}");
        let fast = rates.iter().filter(|r| **r > 4.6).count() as f64 / rates.len() as f64;
        assert!(
            (0.07..0.13).contains(&fast),
            "a long tail of fast movers: {fast}"
        );
    }

    #[test]
    fn draws_average_to_their_mean_and_repeat_with_the_seed() {
        let d = DemandSettings::default();
        let shelf = ShelfDemand {
            per_day: 12.0,
            promotions: Vec::new(),
        };
        let hours = 28 * 24;
        let total: u64 = (0..hours)
            .map(|h| u64::from(d.units(3, 1, &shelf, MONDAY + h * 3600)))
            .sum();
        let per_day = total as f64 / 28.0;
        assert!((10.0..14.0).contains(&per_day), "{per_day}");
        let night: u32 = (0..28)
            .map(|day| d.units(3, 1, &shelf, MONDAY + day * 86_400 + 2 * 3600))
            .sum();
        assert_eq!(night, 0, "no sales while closed");
        assert_eq!(
            d.units(3, 1, &shelf, MONDAY + 10 * 3600),
            d.units(3, 1, &shelf, MONDAY + 10 * 3600)
        );
        assert_eq!(d.shelf(9, 4, 0, 28), d.shelf(9, 4, 0, 28));
    }

    #[test]
    fn a_promotion_multiplies_the_rate_on_its_days() {
        let d = DemandSettings::default();
        let (day, _) = d.local_day_hour(MONDAY);
        let shelf = ShelfDemand {
            per_day: 2.0,
            promotions: vec![(day + 1, day + 2)],
        };
        let noon = MONDAY + 12 * 3600;
        let plain = d.mean(&shelf, noon);
        let promo = d.mean(&shelf, noon + 86_400);
        let weekday = |i: usize| d.weekday_profile[i];
        assert!((promo / plain - 3.0 * weekday(1) / weekday(0)).abs() < 1e-9);
    }

    #[test]
    fn poisson_and_gamma_have_their_moments() {
        let mut rng = SplitMix64::new(11);
        let n = 20_000;
        for mean in [0.3, 4.0, 90.0] {
            let draws: Vec<f64> = (0..n).map(|_| f64::from(poisson(&mut rng, mean))).collect();
            let m = draws.iter().sum::<f64>() / n as f64;
            let v = draws.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m - mean).abs() < 0.05 * mean + 0.02, "{mean}: {m}");
            assert!((v - mean).abs() < 0.1 * mean + 0.05, "{mean}: {v}");
        }
        let g: Vec<f64> = (0..n).map(|_| gamma(&mut rng, 0.5)).collect();
        let m = g.iter().sum::<f64>() / n as f64;
        assert!((m - 0.5).abs() < 0.03, "{m}");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad = DemandSettings {
            close_hour: 5,
            ..DemandSettings::default()
        };
        assert!(bad.validate().unwrap_err().contains("close_hour"));
        let bad = DemandSettings {
            median_per_day: f64::NAN,
            ..DemandSettings::default()
        };
        assert!(bad.validate().unwrap_err().contains("median_per_day"));
        assert!(DemandSettings::default().validate().is_ok());
    }
}
