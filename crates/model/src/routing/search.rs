//! Step 3: local search over granular neighbourhoods, to a local optimum.

use super::problem::{Problem, Solution};

/// A solution being improved, with each node's place and each route's load.
pub(super) struct State<'p> {
    pub(super) problem: &'p Problem,
    pub(super) routes: Vec<Vec<usize>>,
    pub(super) load: Vec<i64>,
    pub(super) unrouted: Vec<usize>,
    pub(super) route_of: Vec<usize>,
    pub(super) pos_of: Vec<usize>,
}

/// `route_of`/`pos_of` of a node in no route.
pub(super) const NONE: usize = usize::MAX;
/// The least gain that counts as an improvement (km).
pub(super) const EPS: f64 = 1e-9;

impl<'p> State<'p> {
    pub(super) fn new(problem: &'p Problem, s: Solution) -> Self {
        let mut st = Self {
            problem,
            load: vec![0; s.routes.len()],
            routes: s.routes,
            unrouted: s.unrouted,
            route_of: vec![NONE; problem.nodes],
            pos_of: vec![NONE; problem.nodes],
        };
        for v in 0..st.routes.len() {
            st.reindex(v);
        }
        st
    }

    pub(super) fn solution(&self) -> Solution {
        Solution {
            routes: self.routes.clone(),
            unrouted: self.unrouted.clone(),
        }
    }

    pub(super) fn cost(&self) -> f64 {
        (0..self.routes.len())
            .map(|v| self.problem.route_cost(v, &self.routes[v]))
            .sum()
    }

    pub(super) fn reindex(&mut self, v: usize) {
        self.load[v] = 0;
        for (i, &n) in self.routes[v].iter().enumerate() {
            self.route_of[n] = v;
            self.pos_of[n] = i;
            self.load[v] += self.problem.demand[n];
        }
    }

    /// Matrix index of the point before position `i` of route `v` (the depot at the start).
    pub(super) fn before(&self, v: usize, i: usize) -> usize {
        if i == 0 {
            self.problem.depot_index(v)
        } else {
            self.problem.node_index(self.routes[v][i - 1])
        }
    }

    /// Matrix index of the point after position `i` of route `v` (the depot at the end).
    pub(super) fn after(&self, v: usize, i: usize) -> usize {
        if i + 1 >= self.routes[v].len() {
            self.problem.depot_index(v)
        } else {
            self.problem.node_index(self.routes[v][i + 1])
        }
    }

    /// Improves until no move in the neighbourhood shortens the routes. Only the visits in
    /// `work` are examined at first; every applied move puts the visits of the routes it
    /// changed back on the list, so after a ruin-and-recreate only the disturbed region is
    /// searched again.
    pub(super) fn local_search(
        &mut self,
        neighbours: usize,
        work: impl IntoIterator<Item = usize>,
    ) {
        let problem = self.problem;
        let k = neighbours.min(problem.nodes.saturating_sub(1));
        let mut queued = vec![false; problem.nodes];
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
                let v = problem.near[u][ni];
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
}
