//! Ruin and recreate: the perturbation that lets the search leave a local optimum.

use crate::random::SplitMix64;

use super::construct::insert_cheapest;
use super::search::{NONE, State};

impl State<'_> {
    /// Removes a cluster of nearby visits and puts each back at its cheapest place.
    /// Returns the visits to search again: those moved and their neighbours.
    pub(super) fn ruin_and_recreate(&mut self, rng: &mut SplitMix64) -> Vec<usize> {
        let problem = self.problem;
        if problem.nodes < 2 {
            return Vec::new();
        }
        let centre = (rng.next_u64() % problem.nodes as u64) as usize;
        let most = (problem.nodes / 4).clamp(4, 30).min(problem.nodes);
        let count = 2 + (rng.next_u64() % (most as u64 - 1)) as usize;
        // A cluster around a random visit, or (one time in four) visits picked at random.
        let mut removed: Vec<usize> = if rng.next_u64().is_multiple_of(4) {
            let mut picked = Vec::with_capacity(count);
            for _ in 0..count * 2 {
                let n = (rng.next_u64() % problem.nodes as u64) as usize;
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
                .chain(problem.near[centre].iter().copied())
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
            removed.sort_by_key(|&n| std::cmp::Reverse(problem.demand[n]));
        } else {
            for i in (1..removed.len()).rev() {
                removed.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
        }
        let mut touched = Vec::with_capacity(removed.len() * 9);
        for &n in &removed {
            touched.push(n);
            touched.extend(problem.near[n].iter().take(8).copied());
        }
        for n in removed {
            if !insert_cheapest(problem, &mut self.routes, n) {
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
