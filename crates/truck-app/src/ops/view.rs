//! What the operations page shows, computed from what the ports said. Nothing here does I/O, so
//! every rule of the page is tested without a server or a browser.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use store_model::dispatch::clock;
use store_model::places::{Fleet, Stores};
use store_model::planning::{AlertStatus, LatestReading, PlanningRun};
use store_model::ports::{OrderClosure, QueueDepth};
use store_model::{Delivery, Dispatch};

use crate::board::trips;
use crate::map::{Projection, truck_colours};

/// Most events the feed lists, newest first.
pub const FEED_LENGTH: usize = 50;

/// The state of a shelf, or of a store by its worst shelf. Declared from best to worst, so the
/// worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShelfStatus {
    /// No reading from the store in the window.
    Silent,
    /// At or above its reorder point.
    Ok,
    /// A delivery arrived after the latest reading (which does not show it yet).
    Restocked,
    /// Low, and a truck carries its restock.
    OnTheWay,
    /// Low, alerted, and waiting for a truck.
    Alerted,
    /// Low, and no alert on its way.
    Low,
}

/// A shelf's latest reading, as much of it as the page needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shelf {
    /// When it was read, epoch seconds.
    pub check_timestamp: i64,
    /// Below its reorder point.
    pub low: bool,
}

/// The latest readings, from the planning query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shelves {
    /// When the query ran, epoch seconds.
    pub read_at: i64,
    /// Which engine ran it.
    pub engine: String,
    /// Hours of readings it looked at.
    pub lookback_hours: u32,
    /// Readings in the window.
    pub readings_scanned: u64,
    /// The latest reading of each store and product.
    pub by_key: HashMap<(String, String), Shelf>,
}

impl Shelves {
    /// The shelves of a query's latest readings.
    pub fn of(
        latest: Vec<LatestReading>,
        read_at: i64,
        engine: String,
        lookback_hours: u32,
        readings_scanned: u64,
    ) -> Self {
        let by_key = latest
            .into_iter()
            .map(|r| {
                let shelf = Shelf {
                    check_timestamp: r.check_timestamp,
                    low: r.current_stock < r.threshold_level,
                };
                ((r.store_id, r.product_id), shelf)
            })
            .collect();
        Self {
            read_at,
            engine,
            lookback_hours,
            readings_scanned,
            by_key,
        }
    }
}

/// What the ports said at one moment.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Now, epoch seconds.
    pub now: i64,
    /// The latest readings (none before the first query answers).
    pub shelves: Option<Shelves>,
    /// Alerts of the window, with their deliveries.
    pub alerts: Vec<AlertStatus>,
    /// Dispatches of the window.
    pub dispatches: Vec<Dispatch>,
    /// Deliveries of the window.
    pub deliveries: Vec<Delivery>,
    /// Planning runs of the window, oldest first.
    pub runs: Vec<PlanningRun>,
    /// Orders closed without a whole delivery, with their reasons.
    pub closures: Vec<OrderClosure>,
    /// The queue (none when it could not be read).
    pub queue: Option<QueueDepth>,
    /// What could not be read, said for the page.
    pub problems: Vec<String>,
}

/// The places and rules that do not change while the page runs.
pub struct Places<'a> {
    /// Depots and trucks.
    pub fleet: &'a Fleet,
    /// Store locations.
    pub stores: &'a Stores,
    /// Where places land on the map.
    pub projection: Projection,
    /// Seconds after which an undelivered alert stops counting as on its way.
    pub alert_expiry_seconds: i64,
}

/// The page's state, sent to the browser as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    /// Now, epoch seconds: the browser moves the trucks by the server's clock.
    pub now: i64,
    /// Each store by its worst shelf, in the stores file's order.
    pub stores: Vec<StoreView>,
    /// Stores in each state.
    pub store_counts: BTreeMap<ShelfStatus, usize>,
    /// Each truck and its latest trip.
    pub trucks: Vec<TruckView>,
    /// The alert queue.
    pub queue: Option<QueueView>,
    /// The latest readings' query.
    pub readings: Option<ReadingsView>,
    /// The last planning run that sent its alerts.
    pub last_run: Option<PlanningRun>,
    /// Alerts, dispatches, deliveries and planning runs, newest first.
    pub feed: Vec<FeedEvent>,
    /// What could not be read.
    pub problems: Vec<String>,
    /// Whether the page may run the planner.
    pub allow_invoke: bool,
}

/// A store on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreView {
    /// Its id (the map's `data-store`).
    pub id: String,
    /// Its worst shelf.
    pub status: ShelfStatus,
    /// Its shelves in each state.
    pub shelves: BTreeMap<ShelfStatus, usize>,
}

/// A truck and its latest trip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruckView {
    /// Its id.
    pub id: String,
    /// Its colour on the map.
    pub colour: &'static str,
    /// The name of its depot, where it is when not on a trip.
    pub depot: String,
    /// Its latest trip.
    pub trip: Option<TripView>,
}

/// A trip as waypoints in time: the depot at departure, each stop at its ETA, the depot when
/// back. The browser places the truck between the waypoints around now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TripView {
    /// The route id.
    pub route_id: String,
    /// The waypoints, in order.
    pub waypoints: Vec<Waypoint>,
}

/// One point of a trip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Waypoint {
    /// Map x.
    pub x: f64,
    /// Map y.
    pub y: f64,
    /// When the truck is there, epoch seconds.
    pub at: i64,
    /// The store served there (none at the depot).
    pub store: Option<String>,
    /// Whether its delivery is recorded.
    pub delivered: bool,
}

/// The alert queue's depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueView {
    /// Waiting to be received.
    pub waiting: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead_letters: u64,
}

/// The latest readings' query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadingsView {
    /// When it ran, epoch seconds.
    pub read_at: i64,
    /// Which engine ran it.
    pub engine: String,
    /// Hours of readings it looked at.
    pub lookback_hours: u32,
    /// Readings in the window.
    pub readings_scanned: u64,
    /// Shelves (store and product) with a reading.
    pub shelves: usize,
}

/// One line of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedEvent {
    /// When, epoch seconds.
    pub at: i64,
    /// `alert`, `dispatch`, `delivery`, `plan` or `closed`.
    pub kind: &'static str,
    /// What happened.
    pub text: String,
}

/// The page's state from what the ports said.
pub fn view(places: &Places<'_>, seen: &Observed, allow_invoke: bool) -> View {
    let stores: Vec<StoreView> = store_views(places, seen);
    let mut store_counts = BTreeMap::new();
    for s in &stores {
        *store_counts.entry(s.status).or_insert(0) += 1;
    }
    View {
        now: seen.now,
        stores,
        store_counts,
        trucks: truck_views(places, seen),
        queue: seen.queue.map(|q| QueueView {
            waiting: q.visible,
            in_flight: q.in_flight,
            dead_letters: q.dead,
        }),
        readings: seen.shelves.as_ref().map(|s| ReadingsView {
            read_at: s.read_at,
            engine: s.engine.clone(),
            lookback_hours: s.lookback_hours,
            readings_scanned: s.readings_scanned,
            shelves: s.by_key.len(),
        }),
        last_run: seen.runs.last().cloned(),
        feed: feed(seen),
        problems: seen.problems.clone(),
        allow_invoke,
    }
}

/// Every known store with the state of its shelves.
fn store_views(places: &Places<'_>, seen: &Observed) -> Vec<StoreView> {
    let alerts = AlertStatus::by_shelf(&seen.alerts);
    let dispatched: HashSet<&str> = seen
        .dispatches
        .iter()
        .map(|d| d.alert_id.as_str())
        .collect();
    let mut shelves: HashMap<&str, BTreeMap<ShelfStatus, usize>> = HashMap::new();
    for ((store, product), shelf) in seen.shelves.iter().flat_map(|s| &s.by_key) {
        let of_key = alerts
            .get(&(store.as_str(), product.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let status = shelf_status(
            shelf,
            of_key,
            &dispatched,
            seen.now,
            places.alert_expiry_seconds,
        );
        *shelves
            .entry(store.as_str())
            .or_default()
            .entry(status)
            .or_insert(0) += 1;
    }
    places
        .stores
        .stores
        .iter()
        .map(|s| {
            let shelves = shelves.remove(s.store_id.as_str()).unwrap_or_default();
            StoreView {
                id: s.store_id.clone(),
                status: shelves.keys().copied().max().unwrap_or(ShelfStatus::Silent),
                shelves,
            }
        })
        .collect()
}

/// A shelf's state: restocked when a delivery came after its latest reading; otherwise ok
/// when not low; otherwise by the alerts still on their way for it (the planner's own rule,
/// [`AlertStatus::on_the_way`]): none, low; one carried by a truck, on the way; else alerted.
pub fn shelf_status(
    shelf: &Shelf,
    alerts: &[&AlertStatus],
    dispatched: &HashSet<&str>,
    now: i64,
    expiry: i64,
) -> ShelfStatus {
    let delivered_since = alerts
        .iter()
        .flat_map(|a| &a.deliveries)
        .any(|d| d.delivered_at >= shelf.check_timestamp);
    if delivered_since {
        return ShelfStatus::Restocked;
    }
    if !shelf.low {
        return ShelfStatus::Ok;
    }
    let coming: Vec<&&AlertStatus> = alerts
        .iter()
        .filter(|a| a.on_the_way(shelf.check_timestamp, now, expiry) > 0)
        .collect();
    if coming.is_empty() {
        ShelfStatus::Low
    } else if coming
        .iter()
        .any(|a| dispatched.contains(a.alert.alert_id.as_str()))
    {
        ShelfStatus::OnTheWay
    } else {
        ShelfStatus::Alerted
    }
}

/// Each truck of the fleet with its latest trip as waypoints.
fn truck_views(places: &Places<'_>, seen: &Observed) -> Vec<TruckView> {
    let colours = truck_colours(places.fleet);
    let delivered: HashSet<&str> = seen
        .deliveries
        .iter()
        .map(|d| d.dispatch_id.as_str())
        .collect();
    let all = trips(&seen.dispatches);
    let mut latest = HashMap::new();
    for t in &all {
        latest.insert(t.truck_id, t);
    }
    places
        .fleet
        .trucks
        .iter()
        .map(|truck| {
            let depot = places.fleet.depot(&truck.depot_id);
            let depot_xy = depot.map_or((0.0, 0.0), |d| tenths(places.projection.xy(d.point())));
            let trip = latest.get(truck.truck_id.as_str()).map(|t| {
                let at_depot = |at| Waypoint {
                    x: depot_xy.0,
                    y: depot_xy.1,
                    at,
                    store: None,
                    delivered: false,
                };
                let mut waypoints = vec![at_depot(t.departed)];
                for stop in &t.stops {
                    let Some(first) = stop.first() else { continue };
                    let Some(site) = places.stores.get(&first.store_id) else {
                        continue;
                    };
                    let (x, y) = tenths(places.projection.xy(site.point()));
                    waypoints.push(Waypoint {
                        x,
                        y,
                        at: first.eta,
                        store: Some(first.store_id.clone()),
                        delivered: stop
                            .iter()
                            .all(|d| delivered.contains(d.dispatch_id.as_str())),
                    });
                }
                waypoints.push(at_depot(t.back_at));
                TripView {
                    route_id: t.route_id.to_owned(),
                    waypoints,
                }
            });
            TruckView {
                id: truck.truck_id.clone(),
                colour: colours
                    .get(truck.truck_id.as_str())
                    .copied()
                    .unwrap_or("#333"),
                depot: depot.map_or_else(|| truck.depot_id.clone(), |d| d.name.clone()),
                trip,
            }
        })
        .collect()
}

/// A map position to a tenth of a unit, as the map itself is drawn.
fn tenths((x, y): (f64, f64)) -> (f64, f64) {
    ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0)
}

/// The newest [`FEED_LENGTH`] events of the window.
fn feed(seen: &Observed) -> Vec<FeedEvent> {
    let mut events: Vec<FeedEvent> = Vec::new();
    for s in &seen.alerts {
        let a = &s.alert;
        events.push(FeedEvent {
            at: a.planned_at,
            kind: "alert",
            text: format!(
                "{} low on {} ({}): {}",
                a.store_id,
                a.product_name,
                a.product_id,
                a.why()
            ),
        });
    }
    for d in &seen.dispatches {
        events.push(FeedEvent {
            at: d.dispatched_at,
            kind: "dispatch",
            text: format!(
                "{} takes {} × {} to {} (stop {}, ETA {} UTC)",
                d.truck_id,
                d.quantity,
                d.product_name,
                d.store_id,
                d.stop,
                clock(d.eta)
            ),
        });
    }
    let names: HashMap<&str, &str> = seen
        .dispatches
        .iter()
        .map(|d| (d.dispatch_id.as_str(), d.product_name.as_str()))
        .collect();
    for d in &seen.deliveries {
        let product = names.get(d.dispatch_id.as_str()).copied();
        events.push(FeedEvent {
            at: d.delivered_at,
            kind: "delivery",
            text: format!(
                "{} delivered {} × {} to {}",
                d.truck_id,
                d.quantity,
                product.unwrap_or(&d.product_id),
                d.store_id
            ),
        });
    }
    for r in &seen.runs {
        events.push(FeedEvent {
            at: r.planned_at,
            kind: "plan",
            text: format!(
                "planning run over {} readings ({}): {} alert(s) sent, {} already on their way",
                r.readings_scanned, r.engine, r.alerts_sent, r.alerts_suppressed
            ),
        });
    }
    for c in &seen.closures {
        events.push(FeedEvent {
            at: c.closed_at,
            kind: "closed",
            text: format!(
                "order for {} × {} at {} closed ({}): {}",
                c.undelivered, c.product_id, c.store_id, c.reason, c.detail
            ),
        });
    }
    // Newest first; at the same second, the loop's later step first, as it happened last:
    // delivery (or closure), dispatch, alert, plan.
    let rank = |k: &str| match k {
        "plan" => 0,
        "alert" => 1,
        "dispatch" => 2,
        _ => 3,
    };
    events.sort_by_key(|e| std::cmp::Reverse((e.at, rank(e.kind))));
    events.truncate(FEED_LENGTH);
    events
}

#[cfg(test)]
mod tests;
