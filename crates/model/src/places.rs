//! Places and the fleet: depots, trucks and store locations, from configuration files.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ConfigFile, parse_toml};
use crate::random::SplitMix64;

/// Mean Earth radius in km (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A point on Earth, WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
}

impl GeoPoint {
    /// Great-circle distance in km (haversine).
    pub fn km_to(self, other: GeoPoint) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }

    fn check(self, place: &str) -> Result<(), String> {
        if (-90.0..=90.0).contains(&self.lat) && (-180.0..=180.0).contains(&self.lon) {
            Ok(())
        } else {
            Err(format!(
                "{place}: coordinates ({}, {}) are not a latitude and longitude",
                self.lat, self.lon
            ))
        }
    }
}

/// A depot trucks start from and return to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Depot {
    /// Depot id.
    pub depot_id: String,
    /// Name, for people.
    pub name: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

impl Depot {
    /// Where it is.
    pub fn point(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// Longest truck id.
pub const MAX_TRUCK_ID_CHARS: usize = 64;

/// Whether `id` can be a truck id: it is one segment of a ledger key.
pub fn is_truck_id(id: &str) -> bool {
    (1..=MAX_TRUCK_ID_CHARS).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The longest service time at a stop, in minutes: a day.
pub const MAX_SERVICE_MINUTES: f64 = 24.0 * 60.0;
/// The longest batch window, in seconds: an hour (alerts wait no longer to be routed together).
pub const MAX_BATCH_WINDOW_SECONDS: u64 = 3600;
/// The largest truck, in units.
pub const MAX_TRUCK_CAPACITY: i64 = 1_000_000;
/// The slowest average speed, km/h: with it, the longest route on Earth still takes under a
/// month, so every time of a trip fits the clock's range many times over.
pub const MIN_SPEED_KMH: f64 = 1.0;
/// The fastest average speed, km/h.
pub const MAX_SPEED_KMH: f64 = 300.0;

/// A truck of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truck {
    /// Truck id.
    pub truck_id: String,
    /// Units it can carry.
    pub capacity: i64,
    /// Average speed in km/h.
    pub speed_kmh: f64,
    /// Its home depot.
    pub depot_id: String,
}

/// The fleet file (`config/fleet.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// Minutes spent at each stop.
    pub service_minutes: f64,
    /// Seconds the truck app gathers alerts before routing them together.
    pub batch_window_seconds: u64,
    /// Depots.
    #[serde(rename = "depot")]
    pub depots: Vec<Depot>,
    /// Trucks.
    #[serde(rename = "truck")]
    pub trucks: Vec<Truck>,
}

impl ConfigFile for Fleet {
    const SHIPPED: &'static str = include_str!("../../../config/fleet.toml");

    fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let fleet: Self = parse_toml(text, origin)?;
        fleet.validate().map_err(|m| ConfigError::new(origin, m))?;
        Ok(fleet)
    }
}

impl Fleet {
    /// Checks ids, coordinates, capacities and speeds.
    pub fn validate(&self) -> Result<(), String> {
        if self.depots.is_empty() || self.trucks.is_empty() {
            return Err("needs at least one [[depot]] and one [[truck]]".into());
        }
        if !(0.0..=MAX_SERVICE_MINUTES).contains(&self.service_minutes) {
            return Err(format!(
                "`service_minutes` must be between 0 and {MAX_SERVICE_MINUTES} (a day), got {}",
                self.service_minutes
            ));
        }
        if self.batch_window_seconds > MAX_BATCH_WINDOW_SECONDS {
            return Err(format!(
                "`batch_window_seconds` must be at most {MAX_BATCH_WINDOW_SECONDS} (an hour), got {}",
                self.batch_window_seconds
            ));
        }
        let mut depots = HashSet::new();
        for d in &self.depots {
            if d.depot_id.trim().is_empty() || !depots.insert(d.depot_id.as_str()) {
                return Err(format!("depot `{}`: empty or repeated id", d.depot_id));
            }
            d.point().check(&format!("depot `{}`", d.depot_id))?;
        }
        let mut trucks = HashSet::new();
        for t in &self.trucks {
            let place = format!("truck `{}`", t.truck_id);
            if t.truck_id.trim().is_empty() || !trucks.insert(t.truck_id.as_str()) {
                return Err(format!("{place}: empty or repeated id"));
            }
            if !is_truck_id(&t.truck_id) {
                return Err(format!(
                    "{place}: a truck id is 1 to {MAX_TRUCK_ID_CHARS} letters, digits, `_`, `-` or `.`, not starting with `.` (it names the truck's folder of trips in the ledger)"
                ));
            }
            if !(1..=MAX_TRUCK_CAPACITY).contains(&t.capacity) {
                return Err(format!(
                    "{place}: `capacity` must be between 1 and {MAX_TRUCK_CAPACITY}, got {}",
                    t.capacity
                ));
            }
            if !(MIN_SPEED_KMH..=MAX_SPEED_KMH).contains(&t.speed_kmh) {
                return Err(format!(
                    "{place}: `speed_kmh` must be between {MIN_SPEED_KMH} and {MAX_SPEED_KMH}, got {}",
                    t.speed_kmh
                ));
            }
            if !depots.contains(t.depot_id.as_str()) {
                return Err(format!("{place}: unknown depot `{}`", t.depot_id));
            }
        }
        Ok(())
    }

    /// The depot of a truck.
    pub fn depot(&self, depot_id: &str) -> Option<&Depot> {
        self.depots.iter().find(|d| d.depot_id == depot_id)
    }

    /// The largest truck's capacity: no single stop visit may carry more.
    pub fn max_capacity(&self) -> i64 {
        self.trucks.iter().map(|t| t.capacity).max().unwrap_or(0)
    }
}

/// A store's location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSite {
    /// Store id, as in the readings.
    pub store_id: String,
    /// Name, for people.
    pub name: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

impl StoreSite {
    /// Where it is.
    pub fn point(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// The store locations file (`config/stores.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stores {
    /// The stores.
    #[serde(rename = "store")]
    pub stores: Vec<StoreSite>,
}

impl ConfigFile for Stores {
    const SHIPPED: &'static str = include_str!("../../../config/stores.toml");

    fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let stores: Self = parse_toml(text, origin)?;
        stores.validate().map_err(|m| ConfigError::new(origin, m))?;
        Ok(stores)
    }
}

/// Centre of the generated stores: Ho Chi Minh City (Bến Thành).
pub const HO_CHI_MINH_CITY: GeoPoint = GeoPoint {
    lat: 10.7725,
    lon: 106.6980,
};

impl Stores {
    /// Checks ids and coordinates.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for s in &self.stores {
            if s.store_id.trim().is_empty() || !seen.insert(s.store_id.as_str()) {
                return Err(format!("store `{}`: empty or repeated id", s.store_id));
            }
            s.point().check(&format!("store `{}`", s.store_id))?;
        }
        Ok(())
    }

    /// The location of a store.
    pub fn get(&self, store_id: &str) -> Option<&StoreSite> {
        self.stores.iter().find(|s| s.store_id == store_id)
    }

    /// Every store id.
    pub fn ids(&self) -> Vec<String> {
        self.stores.iter().map(|s| s.store_id.clone()).collect()
    }

    /// `count` stores `STORE_1..STORE_<count>` scattered around `centre` within `radius_km`,
    /// denser towards the centre as a city is. The same seed gives the same stores.
    pub fn generate(count: usize, seed: u64, centre: GeoPoint, radius_km: f64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let km_per_deg_lat = 111.32;
        let km_per_deg_lon = 111.32 * centre.lat.to_radians().cos();
        let stores = (1..=count)
            .map(|i| {
                let r = radius_km * rng.unit().powf(0.75);
                let angle = rng.unit() * std::f64::consts::TAU;
                let round = |x: f64| (x * 1e5).round() / 1e5;
                StoreSite {
                    store_id: format!("STORE_{i}"),
                    name: format!("Cửa hàng {i}"),
                    lat: round(centre.lat + r * angle.sin() / km_per_deg_lat),
                    lon: round(centre.lon + r * angle.cos() / km_per_deg_lon),
                }
            })
            .collect();
        Self { stores }
    }

    /// The stores as a stores file.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("# Store locations (WGS 84), generated.\n");
        for s in &self.stores {
            let _ = write!(
                out,
                "\n[[store]]\nstore_id = {:?}\nname = {:?}\nlat = {}\nlon = {}\n",
                s.store_id, s.name, s.lat, s.lon
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_places_are_valid_and_around_ho_chi_minh_city() {
        let fleet = Fleet::shipped();
        let stores = Stores::shipped();
        assert_eq!(stores.stores.len(), 10);
        assert!(
            stores
                .stores
                .iter()
                .all(|s| s.point().km_to(HO_CHI_MINH_CITY) < 15.0)
        );
        assert!(
            fleet
                .trucks
                .iter()
                .all(|t| fleet.depot(&t.depot_id).is_some())
        );
        assert_eq!(fleet.max_capacity(), 400);
    }

    #[test]
    fn great_circle_distance_matches_known_values() {
        // One degree of latitude is about 111.2 km.
        let a = GeoPoint {
            lat: 10.0,
            lon: 106.0,
        };
        let b = GeoPoint {
            lat: 11.0,
            lon: 106.0,
        };
        assert!((a.km_to(b) - 111.195).abs() < 0.01, "{}", a.km_to(b));
        assert_eq!(a.km_to(a), 0.0);
        // Over a few km the flat approximation agrees: 0.046 deg north (5.12 km) and 0.0392 deg
        // west (4.28 km at this latitude) is 6.67 km.
        let b = GeoPoint {
            lat: 10.8185,
            lon: 106.6588,
        };
        let d = HO_CHI_MINH_CITY.km_to(b);
        assert!((6.65..6.70).contains(&d), "{d}");
    }

    #[test]
    fn generated_stores_are_deterministic_within_the_radius_and_round_trip_as_toml() {
        let a = Stores::generate(200, 7, HO_CHI_MINH_CITY, 12.0);
        assert_eq!(a, Stores::generate(200, 7, HO_CHI_MINH_CITY, 12.0));
        assert_ne!(a, Stores::generate(200, 8, HO_CHI_MINH_CITY, 12.0));
        assert_eq!(a.stores.len(), 200);
        assert!(
            a.stores
                .iter()
                .all(|s| s.point().km_to(HO_CHI_MINH_CITY) <= 12.01)
        );
        let back = Stores::from_toml(&a.to_toml(), "generated").unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn bad_fleets_and_stores_are_refused_with_the_place() {
        let mut f = Fleet::shipped();
        f.trucks[0].depot_id = "NOWHERE".into();
        assert!(
            f.validate()
                .unwrap_err()
                .contains("unknown depot `NOWHERE`")
        );
        let mut f = Fleet::shipped();
        f.trucks[1].capacity = 0;
        assert!(f.validate().unwrap_err().contains("TRUCK_2"));
        for bad in ["../x", "T 1", ".hidden", "T/1", &"T".repeat(65)] {
            let mut f = Fleet::shipped();
            f.trucks[0].truck_id = bad.to_owned();
            assert!(
                f.validate().unwrap_err().contains("a truck id is"),
                "{bad:?}"
            );
        }
        assert!(is_truck_id("TRUCK_1") && is_truck_id("van-2.b"));
        let mut s = Stores::shipped();
        s.stores[2].lat = 95.0;
        assert!(s.validate().unwrap_err().contains("STORE_3"));
        let mut s = Stores::shipped();
        s.stores[1].store_id = "STORE_1".into();
        assert!(s.validate().unwrap_err().contains("repeated"));
    }
}
