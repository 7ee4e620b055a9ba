//! The solver's problem on indices: vehicles, nodes, distances, and the search that solves it.

use crate::places::GeoPoint;
use crate::random::SplitMix64;

use super::RoutingOptions;
use super::search::State;

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
    pub(super) vehicles: usize,
    pub(super) nodes: usize,
    pub(super) capacity: Vec<i64>,
    pub(super) demand: Vec<i64>,
    /// Row-major distances over `vehicles` depot points, then `nodes` node points.
    pub(super) dist: Vec<f64>,
    /// Each node's nearest other nodes.
    pub(super) near: Vec<Vec<usize>>,
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
        let mut problem = Self {
            vehicles,
            nodes,
            capacity,
            demand,
            dist,
            near: Vec::new(),
        };
        problem.near = (0..nodes)
            .map(|i| {
                let mut others: Vec<usize> = (0..nodes).filter(|&j| j != i).collect();
                others.sort_by(|&a, &b| {
                    problem
                        .distance(problem.node_index(i), problem.node_index(a))
                        .total_cmp(&problem.distance(problem.node_index(i), problem.node_index(b)))
                });
                others
            })
            .collect();
        problem
    }

    pub(super) fn locations(&self) -> usize {
        self.vehicles + self.nodes
    }
    pub(super) fn depot_index(&self, v: usize) -> usize {
        v
    }
    pub(super) fn node_index(&self, n: usize) -> usize {
        self.vehicles + n
    }
    pub(super) fn distance(&self, a: usize, b: usize) -> f64 {
        self.dist[a * self.locations() + b]
    }

    /// Length of one vehicle's route.
    pub fn route_cost(&self, v: usize, nodes: &[usize]) -> f64 {
        let mut at = self.depot_index(v);
        let mut c = 0.0;
        for &n in nodes {
            c += self.distance(at, self.node_index(n));
            at = self.node_index(n);
        }
        c + self.distance(at, self.depot_index(v))
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
}
