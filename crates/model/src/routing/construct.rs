//! Step 2: Clarke-Wright savings per depot, routes matched to vehicles, leftovers inserted.

use std::collections::HashMap;

use super::problem::{Problem, Solution};

impl Problem {
    /// Clarke-Wright savings per depot, routes matched to vehicles, leftovers inserted.
    pub(super) fn construct(&self) -> Solution {
        let mut by_depot: HashMap<usize, Vec<usize>> = HashMap::new();
        // Vehicles sharing a depot point form one group; each node goes to its nearest group.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for v in 0..self.vehicles {
            match (0..groups.len()).find(|&g| self.distance(groups[g][0], v) < 1e-9) {
                Some(g) => groups[g].push(v),
                None => groups.push(vec![v]),
            }
        }
        for n in 0..self.nodes {
            let g = (0..groups.len())
                .min_by(|&a, &b| {
                    self.distance(groups[a][0], self.node_index(n))
                        .total_cmp(&self.distance(groups[b][0], self.node_index(n)))
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
    pub(super) fn savings(&self, depot: usize, nodes: &[usize], cap: i64) -> Vec<Vec<usize>> {
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
                pairs.push((
                    self.distance(depot, pi) + self.distance(depot, pj) - self.distance(pi, pj),
                    i,
                    j,
                ));
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
pub(super) fn insert_cheapest(problem: &Problem, routes: &mut [Vec<usize>], n: usize) -> bool {
    let mut best: Option<(f64, usize, usize)> = None;
    for (v, r) in routes.iter().enumerate() {
        let load: i64 = r.iter().map(|&x| problem.demand[x]).sum();
        if load + problem.demand[n] > problem.capacity[v] {
            continue;
        }
        let pn = problem.node_index(n);
        for pos in 0..=r.len() {
            let a = if pos == 0 {
                problem.depot_index(v)
            } else {
                problem.node_index(r[pos - 1])
            };
            let b = if pos == r.len() {
                problem.depot_index(v)
            } else {
                problem.node_index(r[pos])
            };
            let delta = problem.distance(a, pn) + problem.distance(pn, b) - problem.distance(a, b);
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
