//! Dispatch planning: from a batch of restock demands to truck routes.
//!
//! 1. **Split.** A demand larger than the biggest truck is cut into near-equal pieces that each
//!    fit; the pieces depend only on the demand and the fleet, so their ids are stable when the
//!    same alert is planned again. A store's pieces are packed into visits (first-fit
//!    decreasing), each at most one truckload.
//! 2. **Construct.** Clarke-Wright savings per depot (each visit goes to its nearest depot), then
//!    routes are matched to the depot's free trucks, largest load to largest truck; what does not
//!    fit is inserted where it costs least, in any truck with room.
//! 3. **Improve.** Local search over granular neighbourhoods (each visit's nearest visits):
//!    relocate a visit or a pair of visits (also reversed), swap visits, 2-opt within a route and
//!    2-opt* between routes, to a local optimum; then an iterated ruin-and-recreate (remove a
//!    cluster of nearby visits, reinsert each at its cheapest place, search again), accepting by
//!    record-to-record travel, for a bounded number of rounds.
//!
//! Everything is deterministic: the same input and options give the same routes. Distances are
//! great-circle km; times are distance over the truck's speed plus the service time per stop.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::places::{Fleet, GeoPoint, SplitMix64, Stores, Truck};

/// Units a store needs for one alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    /// The alert id.
    pub demand_id: String,
    /// Store to deliver to.
    pub store_id: String,
    /// Units.
    pub quantity: i64,
    /// Numbers of the pieces already dispatched (by an earlier batch), left out now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispatched_pieces: Vec<u32>,
}

/// A demand, or one piece of a demand cut to fit a truck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// The demand (alert) id.
    pub demand_id: String,
    /// 1-based piece number.
    pub piece: u32,
    /// How many pieces the demand was cut into.
    pub pieces: u32,
    /// Units in this piece.
    pub quantity: i64,
}

impl Piece {
    /// The dispatch id: the alert id for a whole demand, `<alert id>~<k>of<n>` for a piece.
    pub fn dispatch_id(&self) -> String {
        if self.pieces == 1 {
            self.demand_id.clone()
        } else {
            format!("{}~{}of{}", self.demand_id, self.piece, self.pieces)
        }
    }
}

/// One stop of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    /// Store visited.
    pub store_id: String,
    /// What is unloaded there.
    pub pieces: Vec<Piece>,
    /// Units unloaded.
    pub load: i64,
    /// km from the previous stop (or the depot).
    pub leg_km: f64,
    /// Seconds from departure to arrival at this stop.
    pub arrive_after_s: i64,
}

/// A truck's route: depot, stops, depot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// The truck.
    pub truck_id: String,
    /// Where it starts and ends.
    pub depot_id: String,
    /// Stops in order.
    pub stops: Vec<Stop>,
    /// Units loaded.
    pub load: i64,
    /// The truck's capacity.
    pub capacity: i64,
    /// Total km, back to the depot included.
    pub distance_km: f64,
    /// Seconds from departure until the truck is back at its depot.
    pub duration_s: i64,
}

/// A demand that could not be put on a truck, and why. It stays queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unassigned {
    /// The demand (alert) id.
    pub demand_id: String,
    /// Its store.
    pub store_id: String,
    /// Units not assigned.
    pub quantity: i64,
    /// Why.
    pub reason: String,
}

/// Routes for a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutePlan {
    /// One route per truck used.
    pub routes: Vec<Route>,
    /// Demands left for a later batch.
    pub unassigned: Vec<Unassigned>,
}

impl RoutePlan {
    /// Total km of every route.
    pub fn total_km(&self) -> f64 {
        self.routes.iter().map(|r| r.distance_km).sum()
    }
}

/// How hard the improvement phase works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingOptions {
    /// Ruin-and-recreate rounds after the first local optimum.
    pub rounds: usize,
    /// Neighbours considered per visit by the local search.
    pub neighbours: usize,
    /// Seed of the ruin choices.
    pub seed: u64,
}

impl Default for RoutingOptions {
    fn default() -> Self {
        Self {
            rounds: 300,
            neighbours: 16,
            seed: 0x5eed,
        }
    }
}

/// A visit: pieces for one store, at most one truckload.
#[derive(Debug, Clone)]
struct Visit {
    store: usize,
    pieces: Vec<Piece>,
    load: i64,
}

/// Cuts a demand into near-equal pieces no larger than `cap`.
pub fn split_demand(demand: &Demand, cap: i64) -> Vec<Piece> {
    let n = ((demand.quantity + cap - 1) / cap).max(1);
    let (base, extra) = (demand.quantity / n, demand.quantity % n);
    (0..n)
        .map(|k| Piece {
            demand_id: demand.demand_id.clone(),
            piece: (k + 1) as u32,
            pieces: n as u32,
            quantity: base + i64::from(k < extra),
        })
        .collect()
}

/// Plans routes for the demands with the given trucks (the free ones; each makes one trip).
///
/// Demands are cut to the largest truck of the whole fleet, not of the free trucks, so an
/// alert is cut the same way whichever trucks happen to be free: a piece's id never changes
/// between batches, and a piece already dispatched is never sent again.
pub fn plan_routes(
    fleet: &Fleet,
    trucks: &[Truck],
    stores: &Stores,
    demands: &[Demand],
    options: &RoutingOptions,
) -> RoutePlan {
    let mut unassigned = Vec::new();
    let cap = fleet.max_capacity();
    let free_cap = trucks.iter().map(|t| t.capacity).max().unwrap_or(0);
    // Visits per store, in the order stores first appear.
    let mut store_index: HashMap<&str, usize> = HashMap::new();
    let mut store_points: Vec<(String, GeoPoint)> = Vec::new();
    let mut pieces_of: Vec<Vec<Piece>> = Vec::new();
    for d in demands {
        if d.quantity <= 0 {
            continue;
        }
        let Some(site) = stores.get(&d.store_id) else {
            unassigned.push(unassigned_of(
                d,
                format!("no location for store `{}` in the store list", d.store_id),
            ));
            continue;
        };
        if free_cap == 0 {
            unassigned.push(unassigned_of(d, "no truck is free".into()));
            continue;
        }
        let i = *store_index.entry(d.store_id.as_str()).or_insert_with(|| {
            store_points.push((d.store_id.clone(), site.point()));
            pieces_of.push(Vec::new());
            store_points.len() - 1
        });
        pieces_of[i].extend(
            split_demand(d, cap)
                .into_iter()
                .filter(|p| !d.dispatched_pieces.contains(&p.piece)),
        );
    }
    let mut visits = Vec::new();
    for (store, mut pieces) in pieces_of.into_iter().enumerate() {
        pieces.sort_by(|a, b| {
            b.quantity
                .cmp(&a.quantity)
                .then(a.demand_id.cmp(&b.demand_id))
        });
        let mut bins: Vec<Visit> = Vec::new();
        for p in pieces {
            match bins.iter_mut().find(|b| b.load + p.quantity <= cap) {
                Some(b) => {
                    b.load += p.quantity;
                    b.pieces.push(p);
                }
                None => bins.push(Visit {
                    store,
                    load: p.quantity,
                    pieces: vec![p],
                }),
            }
        }
        visits.extend(bins);
    }
    if visits.is_empty() {
        return RoutePlan {
            routes: Vec::new(),
            unassigned,
        };
    }
    let vehicles: Vec<Vehicle> = trucks
        .iter()
        .filter_map(|t| {
            fleet.depot(&t.depot_id).map(|d| Vehicle {
                depot: d.point(),
                capacity: t.capacity,
            })
        })
        .collect();
    let points: Vec<GeoPoint> = visits.iter().map(|v| store_points[v.store].1).collect();
    let loads: Vec<i64> = visits.iter().map(|v| v.load).collect();
    let problem = Problem::new(&vehicles, &points, &loads);
    let solution = problem.solve(options);
    let mut routes = Vec::new();
    for (vi, nodes) in solution.routes.iter().enumerate() {
        if nodes.is_empty() {
            continue;
        }
        let truck = &trucks[vi];
        let speed_m_per_s = truck.speed_kmh / 3.6;
        let service_s = fleet.service_minutes * 60.0;
        let (mut at, mut t, mut km) = (problem.depot_index(vi), 0.0_f64, 0.0_f64);
        let mut stops = Vec::with_capacity(nodes.len());
        for &n in nodes {
            let leg = problem.d(at, problem.node_index(n));
            km += leg;
            t += leg * 1000.0 / speed_m_per_s;
            stops.push(Stop {
                store_id: store_points[visits[n].store].0.clone(),
                pieces: visits[n].pieces.clone(),
                load: visits[n].load,
                leg_km: round3(leg),
                arrive_after_s: t.round() as i64,
            });
            t += service_s;
            at = problem.node_index(n);
        }
        let back = problem.d(at, problem.depot_index(vi));
        km += back;
        t += back * 1000.0 / speed_m_per_s;
        routes.push(Route {
            truck_id: truck.truck_id.clone(),
            depot_id: truck.depot_id.clone(),
            load: nodes.iter().map(|&n| visits[n].load).sum(),
            capacity: truck.capacity,
            stops,
            distance_km: round3(km),
            duration_s: t.round() as i64,
        });
    }
    let fleet_room: i64 = trucks.iter().map(|t| t.capacity).sum();
    for &n in &solution.unrouted {
        for p in &visits[n].pieces {
            unassigned.push(Unassigned {
                demand_id: p.demand_id.clone(),
                store_id: store_points[visits[n].store].0.clone(),
                quantity: p.quantity,
                reason: format!(
                    "no free truck has room: the batch needs {} units, the {} free truck(s) carry {fleet_room}",
                    loads.iter().sum::<i64>(),
                    trucks.len()
                ),
            });
        }
    }
    RoutePlan { routes, unassigned }
}

fn unassigned_of(d: &Demand, reason: String) -> Unassigned {
    Unassigned {
        demand_id: d.demand_id.clone(),
        store_id: d.store_id.clone(),
        quantity: d.quantity,
        reason,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A truck as the solver sees it.
#[derive(Debug, Clone, Copy)]
pub struct Vehicle {
    /// Where it starts and ends.
    pub depot: GeoPoint,
    /// Units it can carry.
    pub capacity: i64,
}

/// A capacitated vehicle-routing problem over points: every vehicle makes one trip from its
/// depot and back. Exposed for the benchmark, which compares it with other solvers.
pub struct Problem {
    vehicles: usize,
    nodes: usize,
    capacity: Vec<i64>,
    demand: Vec<i64>,
    /// Row-major distances over `vehicles` depot points, then `nodes` node points.
    dist: Vec<f64>,
    /// Each node's nearest other nodes.
    near: Vec<Vec<usize>>,
}

/// A solution: node indices per vehicle, and nodes no vehicle could take.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Nodes in visiting order, per vehicle (empty when unused).
    pub routes: Vec<Vec<usize>>,
    /// Nodes left out for lack of room.
    pub unrouted: Vec<usize>,
}

impl Problem {
    /// A problem from vehicles, node points and node demands.
    pub fn new(vehicles: &[Vehicle], points: &[GeoPoint], demand: &[i64]) -> Self {
        let all: Vec<GeoPoint> = vehicles
            .iter()
            .map(|v| v.depot)
            .chain(points.iter().copied())
            .collect();
        let m = all.len();
        let mut dist = vec![0.0; m * m];
        for i in 0..m {
            for j in (i + 1)..m {
                let d = all[i].km_to(all[j]);
                dist[i * m + j] = d;
                dist[j * m + i] = d;
            }
        }
        Self::with_distances(
            vehicles.iter().map(|v| v.capacity).collect(),
            demand.to_vec(),
            dist,
        )
    }

    /// A problem from a full distance matrix over `capacity.len()` depot points then
    /// `demand.len()` node points.
    pub fn with_distances(capacity: Vec<i64>, demand: Vec<i64>, dist: Vec<f64>) -> Self {
        let (vehicles, nodes) = (capacity.len(), demand.len());
        let m = vehicles + nodes;
        assert_eq!(dist.len(), m * m, "the matrix covers every depot and node");
        let mut p = Self {
            vehicles,
            nodes,
            capacity,
            demand,
            dist,
            near: Vec::new(),
        };
        p.near = (0..nodes)
            .map(|i| {
                let mut others: Vec<usize> = (0..nodes).filter(|&j| j != i).collect();
                others.sort_by(|&a, &b| {
                    p.d(p.node_index(i), p.node_index(a))
                        .total_cmp(&p.d(p.node_index(i), p.node_index(b)))
                });
                others
            })
            .collect();
        p
    }

    fn m(&self) -> usize {
        self.vehicles + self.nodes
    }
    fn depot_index(&self, v: usize) -> usize {
        v
    }
    fn node_index(&self, n: usize) -> usize {
        self.vehicles + n
    }
    fn d(&self, a: usize, b: usize) -> f64 {
        self.dist[a * self.m() + b]
    }

    /// Length of one vehicle's route.
    pub fn route_cost(&self, v: usize, nodes: &[usize]) -> f64 {
        let mut at = self.depot_index(v);
        let mut c = 0.0;
        for &n in nodes {
            c += self.d(at, self.node_index(n));
            at = self.node_index(n);
        }
        c + self.d(at, self.depot_index(v))
    }

    /// Total length of a solution.
    pub fn cost(&self, s: &Solution) -> f64 {
        s.routes
            .iter()
            .enumerate()
            .map(|(v, r)| self.route_cost(v, r))
            .sum()
    }

    /// Savings construction, then local search and ruin-and-recreate.
    pub fn solve(&self, options: &RoutingOptions) -> Solution {
        let mut state = State::new(self, self.construct());
        state.local_search(options.neighbours, 0..self.nodes);
        let mut best = state.solution();
        let mut best_cost = self.cost(&best);
        let mut rng = SplitMix64::new(options.seed);
        for round in 0..options.rounds {
            let mut trial = State::new(self, state.solution());
            let touched = trial.ruin_and_recreate(&mut rng);
            trial.local_search(options.neighbours, touched);
            let cost = trial.cost();
            // Record-to-record travel: accept a slightly worse solution early on, then only
            // improvements, so the search can leave a local optimum.
            let slack = 0.01 * (1.0 - round as f64 / options.rounds as f64);
            if trial.unrouted.len() <= state.unrouted.len() && cost < best_cost * (1.0 + slack) {
                state = trial;
                if cost < best_cost - 1e-9 || state.unrouted.len() < best.unrouted.len() {
                    best = state.solution();
                    best_cost = cost;
                }
            }
        }
        best
    }

    /// Clarke-Wright savings per depot, routes matched to vehicles, leftovers inserted.
    fn construct(&self) -> Solution {
        let mut by_depot: HashMap<usize, Vec<usize>> = HashMap::new();
        // Vehicles sharing a depot point form one group; each node goes to its nearest group.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for v in 0..self.vehicles {
            match (0..groups.len()).find(|&g| self.d(groups[g][0], v) < 1e-9) {
                Some(g) => groups[g].push(v),
                None => groups.push(vec![v]),
            }
        }
        for n in 0..self.nodes {
            let g = (0..groups.len())
                .min_by(|&a, &b| {
                    self.d(groups[a][0], self.node_index(n))
                        .total_cmp(&self.d(groups[b][0], self.node_index(n)))
                })
                .unwrap_or(0);
            by_depot.entry(g).or_default().push(n);
        }
        let mut routes = vec![Vec::new(); self.vehicles];
        let mut leftover = Vec::new();
        let mut group_ids: Vec<usize> = by_depot.keys().copied().collect();
        group_ids.sort_unstable();
        for g in group_ids {
            let nodes = &by_depot[&g];
            let depot = groups[g][0];
            let cap = groups[g]
                .iter()
                .map(|&v| self.capacity[v])
                .max()
                .unwrap_or(0);
            let mut built = self.savings(depot, nodes, cap);
            built
                .sort_by_key(|r| std::cmp::Reverse(r.iter().map(|&n| self.demand[n]).sum::<i64>()));
            let mut free: Vec<usize> = groups[g].clone();
            free.sort_by_key(|&v| std::cmp::Reverse(self.capacity[v]));
            for r in built {
                let load: i64 = r.iter().map(|&n| self.demand[n]).sum();
                // The smallest free truck that fits.
                match free
                    .iter()
                    .rposition(|&v| self.capacity[v] >= load && routes[v].is_empty())
                {
                    Some(i) => routes[free.remove(i)] = r,
                    None => leftover.extend(r),
                }
            }
        }
        let mut s = Solution {
            routes,
            unrouted: Vec::new(),
        };
        leftover.sort_by_key(|&n| std::cmp::Reverse(self.demand[n]));
        for n in leftover {
            if !insert_cheapest(self, &mut s.routes, n) {
                s.unrouted.push(n);
            }
        }
        s
    }

    /// Parallel savings for one depot with capacity `cap`.
    fn savings(&self, depot: usize, nodes: &[usize], cap: i64) -> Vec<Vec<usize>> {
        let mut route_of: HashMap<usize, usize> = HashMap::new();
        let mut routes: Vec<Option<(Vec<usize>, i64)>> = Vec::new();
        for &n in nodes {
            routes.push(Some((vec![n], self.demand[n])));
            route_of.insert(n, routes.len() - 1);
        }
        let mut pairs: Vec<(f64, usize, usize)> = Vec::with_capacity(nodes.len() * nodes.len() / 2);
        for (a, &i) in nodes.iter().enumerate() {
            for &j in &nodes[a + 1..] {
                let (pi, pj) = (self.node_index(i), self.node_index(j));
                pairs.push((self.d(depot, pi) + self.d(depot, pj) - self.d(pi, pj), i, j));
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (saving, i, j) in pairs {
            if saving <= 0.0 {
                break;
            }
            let (ri, rj) = (route_of[&i], route_of[&j]);
            if ri == rj {
                continue;
            }
            let (Some((a, la)), Some((b, lb))) = (&routes[ri], &routes[rj]) else {
                continue;
            };
            if la + lb > cap {
                continue;
            }
            // i and j must be ends of their routes; orient so that i ends a and j starts b.
            let mut a = a.clone();
            let mut b = b.clone();
            if a.last() != Some(&i) {
                if a.first() == Some(&i) {
                    a.reverse();
                } else {
                    continue;
                }
            }
            if b.first() != Some(&j) {
                if b.last() == Some(&j) {
                    b.reverse();
                } else {
                    continue;
                }
            }
            let load = la + lb;
            a.extend(b);
            for &n in &a {
                route_of.insert(n, ri);
            }
            routes[ri] = Some((a, load));
            routes[rj] = None;
        }
        routes.into_iter().flatten().map(|(r, _)| r).collect()
    }
}

/// Inserts `n` where it adds the least distance among routes with room (empty vehicles
/// included); false when no vehicle has room.
fn insert_cheapest(p: &Problem, routes: &mut [Vec<usize>], n: usize) -> bool {
    let mut best: Option<(f64, usize, usize)> = None;
    for (v, r) in routes.iter().enumerate() {
        let load: i64 = r.iter().map(|&x| p.demand[x]).sum();
        if load + p.demand[n] > p.capacity[v] {
            continue;
        }
        let pn = p.node_index(n);
        for pos in 0..=r.len() {
            let a = if pos == 0 {
                p.depot_index(v)
            } else {
                p.node_index(r[pos - 1])
            };
            let b = if pos == r.len() {
                p.depot_index(v)
            } else {
                p.node_index(r[pos])
            };
            let delta = p.d(a, pn) + p.d(pn, b) - p.d(a, b);
            if best.is_none_or(|(c, _, _)| delta < c - 1e-12) {
                best = Some((delta, v, pos));
            }
        }
    }
    match best {
        Some((_, v, pos)) => {
            routes[v].insert(pos, n);
            true
        }
        None => false,
    }
}

/// A solution being improved, with each node's place and each route's load.
struct State<'p> {
    p: &'p Problem,
    routes: Vec<Vec<usize>>,
    load: Vec<i64>,
    unrouted: Vec<usize>,
    route_of: Vec<usize>,
    pos_of: Vec<usize>,
}

const NONE: usize = usize::MAX;
const EPS: f64 = 1e-9;

impl<'p> State<'p> {
    fn new(p: &'p Problem, s: Solution) -> Self {
        let mut st = Self {
            p,
            load: vec![0; s.routes.len()],
            routes: s.routes,
            unrouted: s.unrouted,
            route_of: vec![NONE; p.nodes],
            pos_of: vec![NONE; p.nodes],
        };
        for v in 0..st.routes.len() {
            st.reindex(v);
        }
        st
    }

    fn solution(&self) -> Solution {
        Solution {
            routes: self.routes.clone(),
            unrouted: self.unrouted.clone(),
        }
    }

    fn cost(&self) -> f64 {
        (0..self.routes.len())
            .map(|v| self.p.route_cost(v, &self.routes[v]))
            .sum()
    }

    fn reindex(&mut self, v: usize) {
        self.load[v] = 0;
        for (i, &n) in self.routes[v].iter().enumerate() {
            self.route_of[n] = v;
            self.pos_of[n] = i;
            self.load[v] += self.p.demand[n];
        }
    }

    /// Matrix index of the point before position `i` of route `v` (the depot at the start).
    fn before(&self, v: usize, i: usize) -> usize {
        if i == 0 {
            self.p.depot_index(v)
        } else {
            self.p.node_index(self.routes[v][i - 1])
        }
    }

    /// Matrix index of the point after position `i` of route `v` (the depot at the end).
    fn after(&self, v: usize, i: usize) -> usize {
        if i + 1 >= self.routes[v].len() {
            self.p.depot_index(v)
        } else {
            self.p.node_index(self.routes[v][i + 1])
        }
    }

    /// Improves until no move in the neighbourhood shortens the routes. Only the visits in
    /// `work` are examined at first; every applied move puts the visits of the routes it
    /// changed back on the list, so after a ruin-and-recreate only the disturbed region is
    /// searched again.
    fn local_search(&mut self, neighbours: usize, work: impl IntoIterator<Item = usize>) {
        let p = self.p;
        let k = neighbours.min(p.nodes.saturating_sub(1));
        let mut queued = vec![false; p.nodes];
        let mut queue = std::collections::VecDeque::new();
        for u in work {
            if !queued[u] {
                queued[u] = true;
                queue.push_back(u);
            }
        }
        while let Some(u) = queue.pop_front() {
            queued[u] = false;
            if self.route_of[u] == NONE {
                continue;
            }
            let mut changed = None;
            for ni in 0..k {
                let v = p.near[u][ni];
                if self.route_of[v] == NONE {
                    continue;
                }
                let routes = (self.route_of[u], self.route_of[v]);
                if self.try_relocate(u, v)
                    || self.try_swap(u, v)
                    || self.try_two_opt(u, v)
                    || self.try_two_opt_star(u, v)
                {
                    changed = Some(routes);
                    break;
                }
            }
            if changed.is_none() {
                let ru = self.route_of[u];
                if let Some(w) = self.try_relocate_to_empty(u) {
                    changed = Some((ru, w));
                }
            }
            if let Some((r1, r2)) = changed {
                for r in [r1, r2] {
                    for &n in &self.routes[r] {
                        if !queued[n] {
                            queued[n] = true;
                            queue.push_back(n);
                        }
                    }
                }
                if !queued[u] {
                    queued[u] = true;
                    queue.push_back(u);
                }
            }
        }
    }

    /// Moves a segment of 1 or 2 visits starting at u (also reversed) to just after v, in the
    /// same route or another.
    fn try_relocate(&mut self, u: usize, v: usize) -> bool {
        let p = self.p;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (rv, iv) = (self.route_of[v], self.pos_of[v]);
        for len in 1..=2 {
            if iu + len > self.routes[ru].len() {
                break;
            }
            // v inside the segment, or just before it (a move that changes nothing).
            if ru == rv && iv + 1 >= iu && iv < iu + len {
                continue;
            }
            let (s0, s1) = (self.routes[ru][iu], self.routes[ru][iu + len - 1]);
            let seg_load = p.demand[s0] + if len == 2 { p.demand[s1] } else { 0 };
            if ru != rv && self.load[rv] + seg_load > p.capacity[rv] {
                continue;
            }
            let (a, b) = (self.before(ru, iu), self.after(ru, iu + len - 1));
            let (ps0, ps1) = (p.node_index(s0), p.node_index(s1));
            let removed = p.d(a, ps0) + p.d(ps1, b) - p.d(a, b);
            // Between v and its successor, which is never in the segment (skipped above).
            let c = p.node_index(v);
            let e = self.after(rv, iv);
            for reversed in [false, true] {
                if len == 1 && reversed {
                    continue;
                }
                let (first, last) = if reversed { (ps1, ps0) } else { (ps0, ps1) };
                let added = p.d(c, first) + p.d(last, e) - p.d(c, e);
                if added - removed < -EPS {
                    let mut seg = [s0, s1];
                    if reversed {
                        seg.swap(0, 1);
                    }
                    self.routes[ru].drain(iu..iu + len);
                    let at = if ru == rv && iv > iu {
                        iv - len + 1
                    } else {
                        iv + 1
                    };
                    for (k, &n) in seg[..len].iter().enumerate() {
                        self.routes[rv].insert(at + k, n);
                    }
                    self.reindex(ru);
                    if rv != ru {
                        self.reindex(rv);
                    }
                    return true;
                }
            }
        }
        false
    }

    /// Opens an unused vehicle for u when a round trip there is shorter than u's detour.
    fn try_relocate_to_empty(&mut self, u: usize) -> Option<usize> {
        let p = self.p;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (a, b) = (self.before(ru, iu), self.after(ru, iu));
        let pu = p.node_index(u);
        let removed = p.d(a, pu) + p.d(pu, b) - p.d(a, b);
        let best = (0..self.routes.len())
            .filter(|&w| self.routes[w].is_empty() && p.capacity[w] >= p.demand[u])
            .map(|w| (2.0 * p.d(p.depot_index(w), pu), w))
            .min_by(|x, y| x.0.total_cmp(&y.0));
        if let Some((added, w)) = best
            && added - removed < -EPS
        {
            self.routes[ru].remove(iu);
            self.routes[w].push(u);
            self.reindex(ru);
            self.reindex(w);
            return Some(w);
        }
        None
    }

    /// Exchanges u and v (in different routes).
    fn try_swap(&mut self, u: usize, v: usize) -> bool {
        let p = self.p;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (rv, iv) = (self.route_of[v], self.pos_of[v]);
        if ru == rv {
            return false;
        }
        let (du, dv) = (p.demand[u], p.demand[v]);
        if self.load[ru] - du + dv > p.capacity[ru] || self.load[rv] - dv + du > p.capacity[rv] {
            return false;
        }
        let (pu, pv) = (p.node_index(u), p.node_index(v));
        let (a, b) = (self.before(ru, iu), self.after(ru, iu));
        let (c, e) = (self.before(rv, iv), self.after(rv, iv));
        let delta = p.d(a, pv) + p.d(pv, b) - p.d(a, pu) - p.d(pu, b) + p.d(c, pu) + p.d(pu, e)
            - p.d(c, pv)
            - p.d(pv, e);
        if delta < -EPS {
            self.routes[ru][iu] = v;
            self.routes[rv][iv] = u;
            self.reindex(ru);
            self.reindex(rv);
            return true;
        }
        false
    }

    /// Within one route, reverses the stretch between u and v so that they become adjacent.
    fn try_two_opt(&mut self, u: usize, v: usize) -> bool {
        let p = self.p;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (rv, iv) = (self.route_of[v], self.pos_of[v]);
        if ru != rv {
            return false;
        }
        // Edges (i-1, i) and (j, j+1) become (i-1, j) and (i, j+1).
        let (i, j) = if iu < iv { (iu + 1, iv) } else { (iv + 1, iu) };
        if i >= j {
            return false;
        }
        let a = self.before(ru, i);
        let b = self.after(ru, j);
        let (pi, pj) = (
            p.node_index(self.routes[ru][i]),
            p.node_index(self.routes[ru][j]),
        );
        let delta = p.d(a, pj) + p.d(pi, b) - p.d(a, pi) - p.d(pj, b);
        if delta < -EPS {
            self.routes[ru][i..=j].reverse();
            self.reindex(ru);
            return true;
        }
        false
    }

    /// Between two routes, exchanges the tails after u and from v on, so that u is followed by
    /// v. Each tail then returns to its new route's depot.
    fn try_two_opt_star(&mut self, u: usize, v: usize) -> bool {
        let p = self.p;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (rv, iv) = (self.route_of[v], self.pos_of[v]);
        if ru == rv {
            return false;
        }
        let head_u: i64 = self.routes[ru][..=iu].iter().map(|&n| p.demand[n]).sum();
        let head_v: i64 = self.routes[rv][..iv].iter().map(|&n| p.demand[n]).sum();
        let (tail_u, tail_v) = (self.load[ru] - head_u, self.load[rv] - head_v);
        if head_u + tail_v > p.capacity[ru] || head_v + tail_u > p.capacity[rv] {
            return false;
        }
        let (dep_u, dep_v) = (p.depot_index(ru), p.depot_index(rv));
        let pu = p.node_index(u);
        let pv = p.node_index(v);
        let before_v = self.before(rv, iv);
        let last_v = p.node_index(*self.routes[rv].last().expect("v is in it"));
        let tail_u_ends = (iu + 1 < self.routes[ru].len()).then(|| {
            (
                p.node_index(self.routes[ru][iu + 1]),
                p.node_index(*self.routes[ru].last().expect("non-empty")),
            )
        });
        let (old, new) = match tail_u_ends {
            Some((first, last)) => (
                p.d(pu, first) + p.d(last, dep_u) + p.d(before_v, pv) + p.d(last_v, dep_v),
                p.d(pu, pv) + p.d(last_v, dep_u) + p.d(before_v, first) + p.d(last, dep_v),
            ),
            None => (
                p.d(pu, dep_u) + p.d(before_v, pv) + p.d(last_v, dep_v),
                p.d(pu, pv) + p.d(last_v, dep_u) + p.d(before_v, dep_v),
            ),
        };
        if new < old - EPS {
            let tail_of_v = self.routes[rv].split_off(iv);
            let tail_of_u = self.routes[ru].split_off(iu + 1);
            self.routes[ru].extend(tail_of_v);
            self.routes[rv].extend(tail_of_u);
            self.reindex(ru);
            self.reindex(rv);
            return true;
        }
        false
    }

    /// Removes a cluster of nearby visits and puts each back at its cheapest place.
    /// Returns the visits to search again: those moved and their neighbours.
    fn ruin_and_recreate(&mut self, rng: &mut SplitMix64) -> Vec<usize> {
        let p = self.p;
        if p.nodes < 2 {
            return Vec::new();
        }
        let centre = (rng.next_u64() % p.nodes as u64) as usize;
        let most = (p.nodes / 4).clamp(4, 30).min(p.nodes);
        let count = 2 + (rng.next_u64() % (most as u64 - 1)) as usize;
        // A cluster around a random visit, or (one time in four) visits picked at random.
        let mut removed: Vec<usize> = if rng.next_u64().is_multiple_of(4) {
            let mut picked = Vec::with_capacity(count);
            for _ in 0..count * 2 {
                let n = (rng.next_u64() % p.nodes as u64) as usize;
                if self.route_of[n] != NONE && !picked.contains(&n) {
                    picked.push(n);
                }
                if picked.len() == count {
                    break;
                }
            }
            picked
        } else {
            std::iter::once(centre)
                .chain(p.near[centre].iter().copied())
                .filter(|&n| self.route_of[n] != NONE)
                .take(count)
                .collect()
        };
        for &n in &removed {
            let r = self.route_of[n];
            self.routes[r].retain(|&x| x != n);
            self.route_of[n] = NONE;
        }
        removed.append(&mut self.unrouted);
        // Reinsert in a random order (largest first half the time), each at its cheapest place.
        if rng.next_u64().is_multiple_of(2) {
            removed.sort_by_key(|&n| std::cmp::Reverse(p.demand[n]));
        } else {
            for i in (1..removed.len()).rev() {
                removed.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
        }
        let mut touched = Vec::with_capacity(removed.len() * 9);
        for &n in &removed {
            touched.push(n);
            touched.extend(p.near[n].iter().take(8).copied());
        }
        for n in removed {
            if !insert_cheapest(p, &mut self.routes, n) {
                self.unrouted.push(n);
            }
        }
        self.route_of.fill(NONE);
        self.pos_of.fill(NONE);
        for v in 0..self.routes.len() {
            self.reindex(v);
        }
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use crate::places::{Depot, HO_CHI_MINH_CITY};

    fn one_depot_fleet(trucks: usize, capacity: i64) -> Fleet {
        Fleet {
            service_minutes: 10.0,
            batch_window_seconds: 1,
            depots: vec![Depot {
                depot_id: "D".into(),
                name: "Depot".into(),
                lat: HO_CHI_MINH_CITY.lat,
                lon: HO_CHI_MINH_CITY.lon,
            }],
            trucks: (1..=trucks)
                .map(|i| Truck {
                    truck_id: format!("T{i}"),
                    capacity,
                    speed_kmh: 30.0,
                    depot_id: "D".into(),
                })
                .collect(),
        }
    }

    fn demands(stores: &Stores, seed: u64, max: i64) -> Vec<Demand> {
        let mut rng = SplitMix64::new(seed);
        stores
            .stores
            .iter()
            .enumerate()
            .map(|(i, s)| Demand {
                demand_id: format!("a{i}"),
                store_id: s.store_id.clone(),
                quantity: 1 + (rng.next_u64() % max as u64) as i64,
                dispatched_pieces: vec![],
            })
            .collect()
    }

    /// Every demand's units are served exactly once (or reported), no truck is over capacity,
    /// and every route leaves from and returns to its truck's depot.
    fn assert_valid(plan: &RoutePlan, fleet: &Fleet, stores: &Stores, demands: &[Demand]) {
        let mut served: HashMap<&str, i64> = HashMap::new();
        let mut piece_ids = std::collections::HashSet::new();
        for r in &plan.routes {
            let truck = fleet
                .trucks
                .iter()
                .find(|t| t.truck_id == r.truck_id)
                .unwrap();
            assert_eq!(truck.depot_id, r.depot_id);
            assert!(r.load <= truck.capacity, "{} over capacity", r.truck_id);
            assert_eq!(r.load, r.stops.iter().map(|s| s.load).sum::<i64>());
            let depot = fleet.depot(&r.depot_id).unwrap().point();
            let mut at = depot;
            let mut km = 0.0;
            for s in &r.stops {
                let p = stores.get(&s.store_id).unwrap().point();
                km += at.km_to(p);
                at = p;
                assert_eq!(s.load, s.pieces.iter().map(|x| x.quantity).sum::<i64>());
                for piece in &s.pieces {
                    assert!(piece_ids.insert(piece.dispatch_id()), "piece served twice");
                    *served.entry(piece.demand_id.as_str()).or_default() += piece.quantity;
                }
            }
            km += at.km_to(depot);
            assert!(
                (km - r.distance_km).abs() < 0.01,
                "the route ends at its depot"
            );
            assert!(
                r.stops
                    .windows(2)
                    .all(|w| w[0].arrive_after_s < w[1].arrive_after_s)
            );
        }
        for u in &plan.unassigned {
            *served.entry(u.demand_id.as_str()).or_default() += u.quantity;
        }
        for d in demands {
            assert_eq!(
                served.get(d.demand_id.as_str()),
                Some(&d.quantity),
                "{}",
                d.demand_id
            );
        }
    }

    #[test]
    fn a_demand_larger_than_a_truck_is_split_into_near_equal_pieces() {
        let d = Demand {
            demand_id: "a".into(),
            store_id: "S".into(),
            quantity: 1001,
            dispatched_pieces: vec![],
        };
        let pieces = split_demand(&d, 400);
        assert_eq!(
            pieces.iter().map(|p| p.quantity).collect::<Vec<_>>(),
            [334, 334, 333]
        );
        assert_eq!(pieces[1].dispatch_id(), "a~2of3");
        let whole = split_demand(&Demand { quantity: 400, ..d }, 400);
        assert_eq!((whole.len(), whole[0].dispatch_id().as_str()), (1, "a"));
    }

    #[test]
    fn pieces_dispatched_earlier_are_not_sent_again() {
        let fleet = one_depot_fleet(3, 100);
        let stores = Stores::shipped();
        let demands = vec![Demand {
            demand_id: "big".into(),
            store_id: "STORE_4".into(),
            quantity: 250,
            dispatched_pieces: vec![1, 3],
        }];
        let plan = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        let pieces: Vec<String> = plan
            .routes
            .iter()
            .flat_map(|r| &r.stops)
            .flat_map(|s| &s.pieces)
            .map(Piece::dispatch_id)
            .collect();
        assert_eq!(pieces, ["big~2of3"]);
        // Cut to the fleet's biggest truck even when only smaller ones are free.
        let mut mixed = one_depot_fleet(2, 100);
        mixed.trucks[1].capacity = 50;
        let small_only = &mixed.trucks[1..];
        let plan = plan_routes(
            &mixed,
            small_only,
            &stores,
            &demands[..1],
            &RoutingOptions::default(),
        );
        assert!(plan.routes.is_empty());
        assert!(plan.unassigned.iter().all(|u| u.quantity == 83));
    }

    #[test]
    fn shipped_fleet_routes_the_default_stores_validly() {
        let fleet = Fleet::shipped();
        let stores = Stores::shipped();
        let demands = demands(&stores, 1, 150);
        let plan = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        assert_valid(&plan, &fleet, &stores, &demands);
        assert!(plan.unassigned.is_empty(), "{:?}", plan.unassigned);
    }

    #[test]
    fn capacity_splitting_serves_a_store_with_several_truckloads() {
        let fleet = one_depot_fleet(4, 100);
        let stores = Stores::shipped();
        let demands = vec![
            Demand {
                demand_id: "big".into(),
                store_id: "STORE_4".into(),
                quantity: 250,
                dispatched_pieces: vec![],
            },
            Demand {
                demand_id: "small".into(),
                store_id: "STORE_4".into(),
                quantity: 30,
                dispatched_pieces: vec![],
            },
            Demand {
                demand_id: "other".into(),
                store_id: "STORE_9".into(),
                quantity: 40,
                dispatched_pieces: vec![],
            },
        ];
        let plan = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        assert_valid(&plan, &fleet, &stores, &demands);
        assert!(plan.unassigned.is_empty());
        let visits_to_4 = plan
            .routes
            .iter()
            .flat_map(|r| &r.stops)
            .filter(|s| s.store_id == "STORE_4")
            .count();
        assert_eq!(
            visits_to_4, 4,
            "280 units at 100 a truck: pieces of 84, 83, 83 and 30"
        );
    }

    #[test]
    fn work_beyond_the_fleet_or_without_a_location_is_reported_with_its_reason() {
        let fleet = one_depot_fleet(1, 100);
        let stores = Stores::shipped();
        let demands = vec![
            Demand {
                demand_id: "a".into(),
                store_id: "STORE_1".into(),
                quantity: 80,
                dispatched_pieces: vec![],
            },
            Demand {
                demand_id: "b".into(),
                store_id: "STORE_9".into(),
                quantity: 70,
                dispatched_pieces: vec![],
            },
            Demand {
                demand_id: "c".into(),
                store_id: "STORE_404".into(),
                quantity: 5,
                dispatched_pieces: vec![],
            },
        ];
        let plan = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        assert_valid(&plan, &fleet, &stores, &demands);
        assert_eq!(plan.routes.len(), 1);
        let reasons: Vec<&str> = plan.unassigned.iter().map(|u| u.reason.as_str()).collect();
        assert_eq!(plan.unassigned.len(), 2, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("STORE_404")));
        assert!(reasons.iter().any(|r| r.contains("no free truck has room")));
        let none = plan_routes(
            &fleet,
            &[],
            &stores,
            &demands[..1],
            &RoutingOptions::default(),
        );
        assert_eq!(none.unassigned[0].reason, "no truck is free");
    }

    #[test]
    fn generated_instances_are_routed_validly_and_better_than_savings_alone() {
        for (n, seed) in [(10, 1), (50, 2), (200, 3)] {
            let stores = Stores::generate(n, seed, HO_CHI_MINH_CITY, 12.0);
            let fleet = one_depot_fleet(n, 100);
            let demands = demands(&stores, seed, 40);
            let plan = plan_routes(
                &fleet,
                &fleet.trucks,
                &stores,
                &demands,
                &RoutingOptions::default(),
            );
            assert_valid(&plan, &fleet, &stores, &demands);
            assert!(plan.unassigned.is_empty());
            let savings_only = plan_routes(
                &fleet,
                &fleet.trucks,
                &stores,
                &demands,
                &RoutingOptions {
                    rounds: 0,
                    neighbours: 0,
                    seed: 0,
                },
            );
            assert_valid(&savings_only, &fleet, &stores, &demands);
            assert!(plan.total_km() <= savings_only.total_km() + 1e-9);
            // Deterministic.
            let again = plan_routes(
                &fleet,
                &fleet.trucks,
                &stores,
                &demands,
                &RoutingOptions::default(),
            );
            assert_eq!(again, plan);
        }
    }

    #[test]
    fn routes_leave_from_the_trucks_own_depots() {
        let fleet = Fleet::shipped();
        let stores = Stores::generate(40, 9, HO_CHI_MINH_CITY, 10.0);
        let demands = demands(&stores, 9, 30);
        let plan = plan_routes(
            &fleet,
            &fleet.trucks,
            &stores,
            &demands,
            &RoutingOptions::default(),
        );
        assert_valid(&plan, &fleet, &stores, &demands);
        let total: i64 = demands.iter().map(|d| d.quantity).sum();
        let routed: i64 = plan.routes.iter().map(|r| r.load).sum();
        assert_eq!(
            routed + plan.unassigned.iter().map(|u| u.quantity).sum::<i64>(),
            total
        );
        assert!(routed <= fleet.trucks.iter().map(|t| t.capacity).sum::<i64>());
    }
}
