//! The moves of the local search, each tried on a visit `u` and a near visit `v`; a move is
//! applied only when it shortens the routes and keeps every route within its vehicle's room.

use super::search::{EPS, State};

impl State<'_> {
    /// Moves a segment of 1 or 2 visits starting at u (also reversed) to just after v, in the
    /// same route or another.
    pub(super) fn try_relocate(&mut self, u: usize, v: usize) -> bool {
        let problem = self.problem;
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
            let seg_load = problem.demand[s0] + if len == 2 { problem.demand[s1] } else { 0 };
            if ru != rv && self.load[rv] + seg_load > problem.capacity[rv] {
                continue;
            }
            let (a, b) = (self.before(ru, iu), self.after(ru, iu + len - 1));
            let (ps0, ps1) = (problem.node_index(s0), problem.node_index(s1));
            let removed =
                problem.distance(a, ps0) + problem.distance(ps1, b) - problem.distance(a, b);
            // Between v and its successor, which is never in the segment (skipped above).
            let c = problem.node_index(v);
            let e = self.after(rv, iv);
            for reversed in [false, true] {
                if len == 1 && reversed {
                    continue;
                }
                let (first, last) = if reversed { (ps1, ps0) } else { (ps0, ps1) };
                let added =
                    problem.distance(c, first) + problem.distance(last, e) - problem.distance(c, e);
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
    pub(super) fn try_relocate_to_empty(&mut self, u: usize) -> Option<usize> {
        let problem = self.problem;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (a, b) = (self.before(ru, iu), self.after(ru, iu));
        let pu = problem.node_index(u);
        let removed = problem.distance(a, pu) + problem.distance(pu, b) - problem.distance(a, b);
        let best = (0..self.routes.len())
            .filter(|&w| self.routes[w].is_empty() && problem.capacity[w] >= problem.demand[u])
            .map(|w| (2.0 * problem.distance(problem.depot_index(w), pu), w))
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
    pub(super) fn try_swap(&mut self, u: usize, v: usize) -> bool {
        let problem = self.problem;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (rv, iv) = (self.route_of[v], self.pos_of[v]);
        if ru == rv {
            return false;
        }
        let (du, dv) = (problem.demand[u], problem.demand[v]);
        if self.load[ru] - du + dv > problem.capacity[ru]
            || self.load[rv] - dv + du > problem.capacity[rv]
        {
            return false;
        }
        let (pu, pv) = (problem.node_index(u), problem.node_index(v));
        let (a, b) = (self.before(ru, iu), self.after(ru, iu));
        let (c, e) = (self.before(rv, iv), self.after(rv, iv));
        let delta = problem.distance(a, pv) + problem.distance(pv, b)
            - problem.distance(a, pu)
            - problem.distance(pu, b)
            + problem.distance(c, pu)
            + problem.distance(pu, e)
            - problem.distance(c, pv)
            - problem.distance(pv, e);
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
    pub(super) fn try_two_opt(&mut self, u: usize, v: usize) -> bool {
        let problem = self.problem;
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
            problem.node_index(self.routes[ru][i]),
            problem.node_index(self.routes[ru][j]),
        );
        let delta = problem.distance(a, pj) + problem.distance(pi, b)
            - problem.distance(a, pi)
            - problem.distance(pj, b);
        if delta < -EPS {
            self.routes[ru][i..=j].reverse();
            self.reindex(ru);
            return true;
        }
        false
    }

    /// Between two routes, exchanges the tails after u and from v on, so that u is followed by
    /// v. Each tail then returns to its new route's depot.
    pub(super) fn try_two_opt_star(&mut self, u: usize, v: usize) -> bool {
        let problem = self.problem;
        let (ru, iu) = (self.route_of[u], self.pos_of[u]);
        let (rv, iv) = (self.route_of[v], self.pos_of[v]);
        if ru == rv {
            return false;
        }
        let head_u: i64 = self.routes[ru][..=iu]
            .iter()
            .map(|&n| problem.demand[n])
            .sum();
        let head_v: i64 = self.routes[rv][..iv]
            .iter()
            .map(|&n| problem.demand[n])
            .sum();
        let (tail_u, tail_v) = (self.load[ru] - head_u, self.load[rv] - head_v);
        if head_u + tail_v > problem.capacity[ru] || head_v + tail_u > problem.capacity[rv] {
            return false;
        }
        let (dep_u, dep_v) = (problem.depot_index(ru), problem.depot_index(rv));
        let pu = problem.node_index(u);
        let pv = problem.node_index(v);
        let before_v = self.before(rv, iv);
        let last_v = problem.node_index(*self.routes[rv].last().expect("v is in it"));
        let tail_u_ends = (iu + 1 < self.routes[ru].len()).then(|| {
            (
                problem.node_index(self.routes[ru][iu + 1]),
                problem.node_index(*self.routes[ru].last().expect("non-empty")),
            )
        });
        let (old, new) = match tail_u_ends {
            Some((first, last)) => (
                problem.distance(pu, first)
                    + problem.distance(last, dep_u)
                    + problem.distance(before_v, pv)
                    + problem.distance(last_v, dep_v),
                problem.distance(pu, pv)
                    + problem.distance(last_v, dep_u)
                    + problem.distance(before_v, first)
                    + problem.distance(last, dep_v),
            ),
            None => (
                problem.distance(pu, dep_u)
                    + problem.distance(before_v, pv)
                    + problem.distance(last_v, dep_v),
                problem.distance(pu, pv)
                    + problem.distance(last_v, dep_u)
                    + problem.distance(before_v, dep_v),
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
}
