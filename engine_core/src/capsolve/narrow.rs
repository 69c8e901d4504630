//! Solving on fewer pairs: the problem restricted to some of its pairs, the pairs within
//! reach of beating an allocation under the root's prices, and the solve on the pairs the
//! relaxations leave open ([`CapSolver::by_relaxation`]).

use super::held::Scan;
use super::lp::{Relaxed, TieCut};
use super::search::{nodes_left, Best, Found, Run, ROOT_ITERS};
use super::*;

/// Nodes of the solve on the pairs both relaxations use, where a re-match's allocation is
/// short of the relaxation's points ([`CapSolver::by_relaxation`]): mostly it finds one of
/// them within a few dozen; cut at 50 it missed some that 55 and 71 found.
const USED_SOLVE_NODES: u64 = 200;

/// Whether a pair (row, index in its `base` list) is one of `open`'s ([`CapSolver::beaters`])
/// or `best`'s own: the tree on them starts from `best`.
pub(super) fn open_or_own<'a>(
    open: &'a [Vec<u32>],
    best: &'a Best,
) -> impl Fn(usize, usize, &Edge) -> bool + 'a {
    move |r, i, e| open[r].binary_search(&(i as u32)).is_ok() || best.cols.get(r) == Some(&e.col)
}

impl CapSolver {
    /// The solve from the relaxation's prices (`warm` settled at them) on the few pairs it
    /// leaves open, where it can. The relaxation in ties over the pairs of its optimal face
    /// ([`TieCut`]) mostly has an allocation for its solution, or nearly: where the best
    /// allocation does not score the relaxation's points, the best among the pairs that
    /// solution uses is found. Where it then does, the pairs an allocation with more ties may
    /// use are few, and the optimum among them is the optimum. `None` where no allocation of
    /// those points was found: the search goes on on the whole problem.
    pub(super) fn by_relaxation(
        &self,
        warm: &Warm,
        lambda: &[i128],
        x: &Relaxed,
        best: &mut Best,
        node_limit: u64,
    ) -> Option<Result<Solved, String>> {
        let near = &x.near;
        let cut = self.tie_cut(&near.pairs, near.top)?;
        self.take_rounded(&cut, best);
        let mut spent = 0;
        let top = |b: &Best| b.value >> (64 + SCALE) == near.top;
        if !top(best) {
            // Without the last solve's allocation to start from (a solve from scratch), the
            // search on the whole problem finds one of those points faster.
            if self.last.is_empty() {
                return None;
            }
            let used = |r: usize, i: usize, e: &Edge| {
                near.used[r].binary_search(&(i as u32)).is_ok()
                    || cut.used[r].binary_search(&(i as u32)).is_ok()
                    || e.col == self.home[r]
                    || self.dummy[e.col as usize]
            };
            let limit = nodes_left(node_limit, 0, USED_SOLVE_NODES);
            let s =
                match self.solve_on(warm, lambda, used, &x.floor, std::mem::take(best), limit)? {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
            spent = s.nodes;
            *best = Best {
                value: s.value,
                cols: s.col_of_row,
            };
            if !top(best) {
                return None;
            }
        }
        let Some(open) = self.beaters(&cut, best) else {
            return Some(Ok(Solved::proven(best.value, best.cols.clone(), spent + 1)));
        };
        let keep = open_or_own(&open, best);
        let limit = nodes_left(node_limit, spent, 0);
        let seed = Best {
            value: best.value,
            cols: best.cols.clone(),
        };
        let out = self.solve_on(warm, lambda, keep, &x.floor, seed, limit)?;
        Some(out.map(|mut s| {
            s.nodes += spent;
            s
        }))
    }

    /// The search from `lambda` (`warm` settled there) and the tree below it on the problem
    /// with only the pairs `keep` holds, from `best`; `None` where those pairs house no one.
    fn solve_on(
        &self,
        warm: &Warm,
        lambda: &[i128],
        keep: impl Fn(usize, usize, &Edge) -> bool,
        floor: &(i128, Vec<f64>),
        mut best: Best,
        node_limit: u64,
    ) -> Option<Result<Solved, String>> {
        let (sub, mut w) = self.restricted(warm, lambda, keep)?;
        let mut lam = lambda.to_vec();
        let run = Run {
            iters: ROOT_ITERS,
            floor: best.value,
            fine: false,
            fixes: &[],
            relaxed: Some(floor),
        };
        let found = sub.search(&mut w, &mut lam, &run, &mut |w| best.offer(&sub, w));
        let proven = |b: Best| Solved::proven(b.value, b.cols, 1);
        Some(match found {
            Err(e) => Err(e),
            Ok(Found::Infeasible) => Err("internal: no matching keeps every sitting tenant".into()),
            Ok(Found::Proven(v, cols)) => {
                best.take(v, cols);
                Ok(proven(best))
            }
            Ok(Found::Open(bound, _)) if bound <= best.value => Ok(proven(best)),
            Ok(Found::Open(bound, frac)) => {
                sub.branch_and_bound(&w, &lam, (bound, &frac), node_limit, best, None)
            }
        })
    }

    /// Offers the tie cut's rounded solution, where it is one, to `best`.
    pub(super) fn take_rounded(&self, cut: &TieCut, best: &mut Best) {
        if let Some(cols) = &cut.rounded {
            if let Some(v) = self.objective(self.value_of(cols), &self.counts_of(cols)) {
                best.take(v, cols.clone());
            }
        }
    }

    /// For `best`, scoring the tie cut's points: per row, the pairs an allocation with more
    /// ties may use, besides `best`'s own; `None` where no other allocation can have more.
    pub(super) fn beaters(&self, cut: &TieCut, best: &Best) -> Option<Vec<Vec<u32>>> {
        let (room, pairs) = cut.pairs((best.value >> SCALE).rem_euclid(1 << 64));
        let own = |r: usize, i: u32| best.cols.get(r) == Some(&self.base[r][i as usize].col);
        let alone = pairs
            .iter()
            .enumerate()
            .all(|(r, idx)| idx.iter().all(|&i| own(r, i)));
        (room >= 0 && !alone).then_some(pairs)
    }

    /// The root assignment settled at `lambda`, and how far its bound is above `floor`: for
    /// prices `λ` and duals `(u, v)` feasible on every pair, a matching `x` that keeps the
    /// caps weighs at most `L(λ) − Σ_{e ∈ x} rc(e)` (`rc`, the reduced cost, is never
    /// negative), so a pair whose reduced cost exceeds that gap is in none that beats `floor`.
    /// After the root's search the gap is mostly below a point, and the pairs left are the
    /// few that score within it: the branching has far fewer households to decide. `None`
    /// where there is no floor or the bound is below it.
    pub(super) fn within(&self, root: &Warm, lambda: &[i128], floor: i128) -> Option<(Warm, i128)> {
        if floor == i128::MIN {
            return None;
        }
        let mut warm = root.clone();
        if !self.settle(&mut warm, lambda, &[], Scan::All) {
            return None;
        }
        let gap = warm.certify()?.value + self.slack(lambda) - floor;
        (gap >= 0).then_some((warm, gap))
    }

    /// The problem with only the pairs `keep` (row, index in the row's list, pair) holds, and
    /// `root` without the others, settled at `lambda`; `None` if nothing is dropped or no
    /// matching of the pairs kept houses every sitting tenant.
    pub(super) fn restricted(
        &self,
        root: &Warm,
        lambda: &[i128],
        keep: impl Fn(usize, usize, &Edge) -> bool,
    ) -> Option<(CapSolver, Warm)> {
        let mut warm = root.clone();
        let mut p = self.clone();
        let mut dropped = 0usize;
        for r in 0..p.base.len() {
            if !p.row_live[r] {
                continue;
            }
            let keep: Vec<bool> = p.base[r]
                .iter()
                .enumerate()
                .map(|(i, e)| keep(r, i, e))
                .collect();
            for (e, &k) in p.base[r].iter().zip(&keep) {
                if !k {
                    dropped += 1;
                    if warm.has_edge(r as u32, e.col) {
                        warm.drop_edge(r as u32, e.col);
                    }
                }
            }
            let mut i = 0;
            p.base[r].retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        if dropped == 0 {
            return None;
        }
        for list in &mut p.base_cols {
            list.clear();
        }
        for (r, edges) in p.base.iter().enumerate() {
            for e in edges {
                p.base_cols[e.col as usize].push(r as u32);
            }
        }
        if !p.settle(&mut warm, lambda, &[], Scan::All) {
            return None;
        }
        Some((p, warm))
    }
}
