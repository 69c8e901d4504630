//! The price search and the branch and bound of [`CapSolver::solve`].

use super::dual::{Bundle, Cut, Frac, Range, PAIR_F, POINT_F, TIE_F};
use super::held::Scan;
use super::lp::Near;
use super::narrow::open_or_own;
use super::*;

/// Search budget per node: price moves before a node is branched on.
pub(super) const ROOT_ITERS: usize = 3000;
const NODE_ITERS: usize = 120;
/// Moves in ties after a search in points closed: the bound's last ties are closed faster by
/// the tree than by more moves at the root.
const TIE_ITERS: usize = 300;

/// Nodes of the tree on the pairs the relaxation uses, run to find a better allocation where
/// the best one found scores below the relaxation's points.
const USED_NODES: u64 = 50;

/// The node limit for a tree of at most `cap` nodes (0: no cap) when `spent` of the solve's
/// `limit` (0: none) are used; 0 for none, never 0 where there is a limit.
pub(super) fn nodes_left(limit: u64, spent: u64, cap: u64) -> u64 {
    match (limit, cap) {
        (0, c) => c,
        (n, 0) => n.saturating_sub(spent).max(1),
        (n, c) => n.saturating_sub(spent).clamp(1, c),
    }
}

/// Prices snapped to sixty-fourths of a point: where the optimal prices in points form a
/// single point, it is a ratio of score differences with a small denominator.
fn snap(lambda: &[i128]) -> Vec<i128> {
    const GRID: u32 = 58 + SCALE;
    lambda
        .iter()
        .map(|&l| ((l + (1 << (GRID - 1))) >> GRID) << GRID)
        .collect()
}

/// Rows tried, each with a re-solve, for each household the repair keeps out of a scope.
const REPAIR_TRIES: usize = 4;

/// How a node's price search ended.
pub(super) enum Found {
    /// No matching keeps the sitting tenants housed under the node's fixes.
    Infeasible,
    /// This matching (its weight, its column per row) keeps the caps and meets the bound.
    Proven(i128, Vec<u32>),
    /// No certifying prices found; the best bound seen, and the relaxation's solution as far
    /// as the search met it.
    Open(i128, Frac),
}

/// A branching decision: row `.0` does (`In`) or does not (`Out`) count towards cap row `.1`.
#[derive(Clone, Copy, Debug)]
pub(super) enum Fix {
    In(u32, u32),
    Out(u32, u32),
}

/// Where a price search runs: its budget of moves, the bound below which it stops (nothing
/// better than the incumbent lies there), whether it starts in ties, the node's fixes, and
/// the relaxation's cut for the model in points, where it was solved ([`Relaxed`]).
///
/// [`Relaxed`]: super::lp::Relaxed
pub(super) struct Run<'a> {
    pub iters: usize,
    pub floor: i128,
    pub fine: bool,
    pub fixes: &'a [Fix],
    pub relaxed: Option<&'a (i128, Vec<f64>)>,
}

struct Node {
    fixes: Vec<Fix>,
    lambda: Vec<i128>,
    bound: i128,
}

/// The best matching keeping the caps found so far.
pub(super) struct Best {
    pub value: i128,
    pub cols: Vec<u32>,
}

impl Default for Best {
    fn default() -> Self {
        // Below any matching's weight: the search finds a first one in its nodes.
        Best {
            value: i128::MIN,
            cols: Vec::new(),
        }
    }
}

impl Best {
    pub(super) fn take(&mut self, value: i128, cols: Vec<u32>) {
        if value > self.value {
            self.value = value;
            self.cols = cols;
        }
    }

    pub(super) fn offer(&mut self, s: &CapSolver, warm: &Warm) {
        let Some(v) = s.objective(s.value(warm), &s.counts(warm)) else {
            return;
        };
        if v > self.value {
            self.value = v;
            self.cols = s.matching(warm);
        }
    }
}

impl CapSolver {
    /// The last solve's allocation as far as it still stands, and its objective: each row
    /// keeps its column where the pair is still eligible and the column free, else goes home
    /// (a sitting tenant) or to its private column (an applicant). `None` where that leaves
    /// a row without a column or exceeds a cap. After one event it is mostly a few points
    /// from the new optimum: a first incumbent that prunes the tree from its root.
    pub(super) fn carried(&self) -> Option<(i128, Vec<u32>)> {
        let n = self.row_live.len();
        let mut cols = vec![NONE; n];
        let mut used = vec![false; self.col_live.len()];
        for r in 0..n {
            if !self.row_live[r] {
                continue;
            }
            let free = |c: u32| -> Option<&Edge> {
                if c == NONE || !self.col_live[c as usize] || used[c as usize] {
                    return None;
                }
                self.base_edge(r, c)
            };
            let last = self.last.get(r).copied().unwrap_or(NONE);
            let private = || self.base[r].iter().find(|e| self.dummy[e.col as usize]);
            let e = free(last)
                .or_else(|| free(self.home[r]))
                .or_else(|| private().and_then(|e| free(e.col)))?;
            used[e.col as usize] = true;
            cols[r] = e.col;
        }
        if self.cover == 0 {
            self.fill_vacant(&mut cols, &mut used);
        }
        let v = self.objective(self.value_of(&cols), &self.counts_of(&cols))?;
        Some((v, cols))
    }

    /// Gives each vacant unit, in column order, to the row that gains most by moving there
    /// without exceeding a cap, and then the column that row leaves, while someone gains: a
    /// unit an event frees (a household gone) is taken up along the chain it opens. Each
    /// move raises the weight, so it ends.
    fn fill_vacant(&self, cols: &mut [u32], used: &mut [bool]) {
        let mut counts = self.counts_of(cols);
        let mut todo: Vec<u32> = (0..used.len() as u32)
            .rev()
            .filter(|&c| self.col_live[c as usize] && !self.dummy[c as usize] && !used[c as usize])
            .collect();
        while let Some(c) = todo.pop() {
            if used[c as usize] {
                continue;
            }
            let mut pick: Option<(i128, u32)> = None;
            for &r in &self.base_cols[c as usize] {
                let ru = r as usize;
                if !self.row_live[ru] {
                    continue;
                }
                let weight = |col: u32| self.base_edge(ru, col).map(Edge::weight);
                let (Some(to), Some(from)) = (weight(c), weight(cols[ru])) else {
                    continue;
                };
                let fits = self
                    .counted_in(ru, c)
                    .all(|k| counts[k] < self.cap[k] || self.inside(cols[ru], k));
                if to > from && fits && pick.is_none_or(|p| to - from > p.0) {
                    pick = Some((to - from, r));
                }
            }
            let Some((_, r)) = pick else {
                continue;
            };
            let ru = r as usize;
            let old = cols[ru];
            if !self.dummy[old as usize] {
                for k in self.counted_in(ru, old) {
                    counts[k] -= 1;
                }
                used[old as usize] = false;
                todo.push(old);
            }
            for k in self.counted_in(ru, c) {
                counts[k] += 1;
            }
            cols[ru] = c;
            used[c as usize] = true;
        }
    }

    /// Moves the prices in `lambda` until a matching that keeps the caps is proven optimal
    /// (its weight meets the bound at some prices), the bound falls to `floor` (nothing better
    /// than the incumbent can be here), the model of the bound has nothing left to offer, or
    /// `iters` moves are spent. Where the prices go next is [`Bundle`]'s; every bound is
    /// proven here, in integers, at the rounded prices. Every feasible matching met is offered
    /// to `seen`.
    pub(super) fn search(
        &self,
        warm: &mut Warm,
        lambda: &mut [i128],
        run: &Run<'_>,
        seen: &mut dyn FnMut(&Warm),
    ) -> Result<Found, String> {
        let Run {
            iters,
            floor,
            fine: fine_start,
            fixes,
            relaxed,
        } = *run;
        let mut batch = Vec::new();
        let Some(range) = self.price_range(warm, lambda, fixes, &mut batch) else {
            return Ok(Found::Infeasible);
        };
        let maxes = &range;
        let mut bound = i128::MAX;
        // A node starts from its parent's settled prices: in ties, in a small box.
        let mut fine = fine_start;
        let mut model = if fine {
            Bundle::new(&self.cap, lambda, maxes, TIE_F, 1.0).refine(lambda, maxes, TIE_F)
        } else {
            Bundle::new(&self.cap, lambda, maxes, POINT_F, 1.0).with_floor(relaxed.cloned())
        };
        // The best matching met that keeps the caps: its objective, its cut, its columns.
        let mut inc: Option<(i128, Cut, Vec<u32>)> = None;
        // Rows with an edge whose price fell in the last move, priced again with the changes.
        let mut lowered: Vec<u32> = Vec::new();
        // The move at which a search that began in points went on in ties.
        let mut tied_at: Option<usize> = None;
        for it in 0..=iters {
            let scan = if it == 0 {
                Scan::All
            } else {
                Scan::Changed(&lowered)
            };
            if !self.settle(warm, lambda, fixes, scan) {
                return Ok(Found::Infeasible);
            }
            let cert = warm
                .certify()
                .ok_or("internal: the priced matching lost its certificate")?;
            let here = cert.value + self.slack(lambda);
            bound = bound.min(floor_bound(here));
            let pairs = self.counted_pairs(|r| warm.col_of(r));
            let cut = Cut {
                w: self.value(warm),
                counts: self.tally(&pairs),
                pairs,
            };
            #[cfg(test)]
            {
                let full = warm.certify_full().expect("kept certificate disagrees");
                assert_eq!(full.value, cert.value, "kept certificate value is stale");
                let pen: i128 = (0..self.cap.len())
                    .map(|k| lambda[k] * cut.counts[k] as i128)
                    .sum();
                assert_eq!(cut.w - pen, cert.value, "priced weight disagrees");
            }
            if let Some(v) = self.objective(cut.w, &cut.counts) {
                seen(warm);
                if inc.as_ref().is_none_or(|(x, _, _)| v > *x) {
                    inc = Some((v, cut.clone(), self.matching(warm)));
                }
            }
            if let Some((v, _, cols)) = &inc {
                // Weak duality: no matching keeping the caps weighs more than `bound`.
                if *v >= bound {
                    return Ok(Found::Proven(*v, cols.clone()));
                }
            }
            let tie_budget_spent = tied_at.is_some_and(|at| it - at >= TIE_ITERS);
            if it == iters || bound <= floor || tie_budget_spent {
                return Ok(Found::Open(bound, model.fractions().unwrap_or_default()));
            }
            model.report(lambda, here, cut.clone());
            // Only a matching that meets every cover row can be the priced optimum's weight.
            let margin = |m: &Bundle| {
                inc.as_ref()
                    .filter(|(v, c, _)| *v == c.w)
                    .and_then(|(_, c, _)| m.margin(c))
            };
            // The model's gap closed: the bound is (nearly) at its least. Prices that make the
            // incumbent the priced optimum finish the proof, if any exist.
            let mut next = model.next().or_else(|| margin(&model));
            if next.is_none() && !fine {
                // Closed in points: matchings that score the same are told apart by their
                // ties only, below the coarse model's reach. Search on in ties, from the
                // centre snapped to a grid that the optimal prices in points often sit on.
                fine = true;
                tied_at = Some(it);
                let start = snap(&model.center(maxes));
                model = model.refine(&start, maxes, TIE_F);
                next = if start.as_slice() == &lambda[..] {
                    model.report(lambda, here, cut.clone());
                    model.next().or_else(|| margin(&model))
                } else {
                    Some(start.iter().map(|&l| l as f64 / TIE_F).collect())
                };
            }
            if next.is_none() && self.pair_level && model.unit() == TIE_F {
                // Closed in ties: under a lottery, allocations that house the same households
                // differ only in the pair bits below the numbers. Search on in their unit,
                // from the prices here.
                model = model.refine(lambda, maxes, PAIR_F);
                model.report(lambda, here, cut);
                next = model.next().or_else(|| margin(&model));
            }
            let Some(next) = next else {
                return Ok(Found::Open(bound, model.fractions().unwrap_or_default()));
            };
            let to = model.to_units(&next, maxes);
            if to.as_slice() == &lambda[..] {
                // The model asks for the prices already tried: nothing new to learn there.
                return Ok(Found::Open(bound, model.fractions().unwrap_or_default()));
            }
            batch.clear();
            lowered.clear();
            for (k, &t) in to.iter().enumerate() {
                if self.raises(k, lambda[k], t) {
                    self.flagged_into(k, &mut lowered);
                }
                if t != lambda[k] {
                    self.move_price(warm, lambda, k, t, &mut batch);
                }
            }
            warm.reweight(&batch);
        }
        Ok(Found::Open(bound, model.fractions().unwrap_or_default()))
    }

    /// The range of each cap row's price at a node, with `lambda` moved into it.
    /// - A price on a cap row that no flagged row can reach only lifts the bound: it is
    ///   dropped.
    /// - A cover row whose count the fixes settle adds a constant to the bound at any price:
    ///   its price is pinned where that constant is least (at its cost where it lacks some,
    ///   at 0 where not), so that the bound of a node with nothing left to branch on is that
    ///   node's optimum; one that too few can reach is pinned at its cost.
    fn price_range(
        &self,
        warm: &mut Warm,
        lambda: &mut [i128],
        fixes: &[Fix],
        batch: &mut Vec<(u32, u32, i64, u64)>,
    ) -> Option<Range> {
        let n_k = self.cap.len();
        let mut range: Range = (vec![0; n_k], (0..n_k).map(|k| self.max_price(k)).collect());
        let reach = self.reachable(&[]);
        let mut cover = (Vec::new(), vec![0i64; n_k]);
        if self.cover != 0 {
            cover.0 = self.reachable(fixes);
            for f in fixes {
                if let Fix::In(_, k) = *f {
                    cover.1[k as usize] += 1;
                }
            }
        }
        for k in 0..n_k {
            let to = if !self.is_cover(k) {
                if self.cover != 0 {
                    // With cover rows the bound may sit below zero, where a floor of the
                    // incumbent's does not prune a node whose fixes exceed a cap: it is
                    // told here. A cap that the fixes keep from ever binding has no price.
                    let (can, fixed_in) = (cover.0[k], cover.1[k]);
                    if fixed_in > self.cap[k] {
                        return None;
                    }
                    if can <= self.cap[k] {
                        range.1[k] = 0;
                    }
                }
                if (reach[k] > 0 && range.1[k] > 0) || lambda[k] == 0 {
                    continue;
                }
                0
            } else {
                let (can, fixed_in, least) = (cover.0[k], cover.1[k], -self.cap[k]);
                let at = if can < least {
                    self.cover_cost
                } else if can == fixed_in {
                    0
                } else {
                    continue;
                };
                range.0[k] = at;
                range.1[k] = at;
                at
            };
            if lambda[k] != to {
                self.move_price(warm, lambda, k, to, batch);
            }
        }
        warm.reweight(batch);
        Some(range)
    }

    /// Appends the rows flagged for cap row `k`'s rule with an edge into its scope.
    pub(super) fn flagged_into(&self, k: usize, out: &mut Vec<u32>) {
        let bit = 1u32 << self.rule_of[k];
        for &c in &self.members[k] {
            let rows = self.base_cols[c as usize].iter();
            out.extend(rows.filter(|&&r| self.flags[r as usize] & bit != 0));
        }
    }

    /// For each cap row: how many flagged rows have an edge into its scope that `fixes`
    /// allow.
    fn reachable(&self, fixes: &[Fix]) -> Vec<i64> {
        let mut reach = vec![0i64; self.cap.len()];
        let mut seen: Vec<usize> = Vec::new();
        for (r, edges) in self.base.iter().enumerate() {
            if !self.row_live[r] || self.flags[r] == 0 {
                continue;
            }
            seen.clear();
            for e in edges {
                if !self.allowed(fixes, r as u32, e.col) {
                    continue;
                }
                for k in self.counted_in(r, e.col) {
                    if !seen.contains(&k) {
                        seen.push(k);
                        reach[k] += 1;
                    }
                }
            }
        }
        reach
    }

    /// The `n` rows that count towards cap row `k` in `warm`'s matching with the lowest
    /// unpriced weights (ties: the lowest rank), weakest first.
    fn weakest(&self, warm: &Warm, k: usize, n_out: usize, fixes: &[Fix]) -> Vec<u32> {
        let bit = 1u32 << self.rule_of[k];
        let mut found: Vec<(i128, u32, u32)> = Vec::new();
        for &c in &self.members[k] {
            let list = warm.col_rows(c);
            for &r in list {
                if warm.col_of(r) != c || self.flags[r as usize] & bit == 0 {
                    continue;
                }
                // Only a row with somewhere else to go can be kept out.
                let movable = self.base[r as usize]
                    .iter()
                    .any(|e| self.allowed(fixes, r, e.col) && !self.inside(e.col, k));
                if !movable {
                    continue;
                }
                let Some(e) = self.base_edge(r as usize, c) else {
                    continue;
                };
                let key = (e.weight(), self.rank[r as usize], r);
                found.push(key);
            }
        }
        found.sort_unstable();
        found.into_iter().take(n_out).map(|x| x.2).collect()
    }

    /// Applies the last of `fixes` to `warm` (priced at `lambda`, the others applied) by
    /// removing the edges it excludes and holding every edge the fixes leave the row; `false`
    /// if the row has no edge left.
    fn apply(&self, warm: &mut Warm, lambda: &[i128], fixes: &[Fix]) -> bool {
        let Some(&(Fix::In(r, _) | Fix::Out(r, _))) = fixes.last() else {
            return true;
        };
        let mut open = Vec::new();
        for e in &self.base[r as usize] {
            if !self.allowed(fixes, r, e.col) {
                if warm.has_edge(r, e.col) {
                    warm.drop_edge(r, e.col);
                }
            } else if !warm.has_edge(r, e.col) {
                open.push(self.priced_at(r as usize, e, lambda));
            }
        }
        // The row may have lost its home or private column: its matching is found among all
        // it has left.
        if !open.is_empty() {
            warm.add_row_edges(r, &open);
        }
        self.base[r as usize]
            .iter()
            .any(|e| self.allowed(fixes, r, e.col))
    }

    /// A matching that keeps the caps, from `warm` under fixed prices: one counted row of
    /// the first over-full cap row at a time is kept out of it, until none is over-full. Of
    /// its few weakest rows, the one whose leaving costs least under the prices is chosen
    /// (at optimal prices, a matching that keeps the caps and loses nothing is optimal).
    /// Then each unmet cover row is given the flagged row that costs least to bring in, if
    /// one can come without exceeding a cap. Its objective and columns.
    fn repair(&self, mut warm: Warm, lambda: &[i128], fixes: &[Fix]) -> Option<(i128, Vec<u32>)> {
        let mut fixes = fixes.to_vec();
        let mut given_up = vec![false; self.cap.len()];
        // Assignments the tries are copied into, kept between steps for their allocations.
        let mut spare: Vec<Warm> = Vec::new();
        loop {
            if !self.settle(&mut warm, lambda, &fixes, Scan::Changed(&[])) {
                return None;
            }
            let counts = self.counts(&warm);
            let over = |k: &usize| counts[*k] > self.cap[*k];
            let cap_over = (0..counts.len()).find(|k| !self.is_cover(*k) && over(k));
            let unmet =
                || (0..counts.len()).find(|k| self.is_cover(*k) && over(k) && !given_up[*k]);
            let (k, tries) = match (cap_over, unmet()) {
                (Some(k), _) => (k, self.weakest(&warm, k, REPAIR_TRIES, &fixes)),
                (None, Some(k)) => (k, self.strongest(&warm, k, REPAIR_TRIES, &fixes)),
                (None, None) => {
                    let v = self.objective(self.value(&warm), &counts)?;
                    return Some((v, self.matching(&warm)));
                }
            };
            let cover = self.is_cover(k);
            // A row brought in may leave another cover row unmet: it must gain on the whole.
            let now = cover
                .then(|| self.objective(self.value(&warm), &counts))
                .flatten();
            let mut best: Option<(i128, Warm, Fix)> = None;
            for r in tries {
                let mut w = spare.pop().unwrap_or_default();
                w.copy_from(&warm);
                let fix = if cover {
                    Fix::In(r, k as u32)
                } else {
                    Fix::Out(r, k as u32)
                };
                fixes.push(fix);
                let ok = self.apply(&mut w, lambda, &fixes)
                    && self.settle(&mut w, lambda, &fixes, Scan::Changed(&[]));
                fixes.pop();
                if !ok {
                    spare.push(w);
                    continue;
                }
                let v = if cover {
                    // Bringing a row in must not break a cap (the caps' repair came first).
                    match self.objective(self.value(&w), &self.counts(&w)) {
                        Some(v) if now.is_none_or(|n| v > n) => v,
                        _ => {
                            spare.push(w);
                            continue;
                        }
                    }
                } else {
                    w.certify()?.value
                };
                if best.as_ref().is_none_or(|b| v > b.0) {
                    if let Some((_, old, _)) = best.replace((v, w, fix)) {
                        spare.push(old);
                    }
                } else {
                    spare.push(w);
                }
            }
            match best {
                Some((_, w, fix)) => {
                    spare.push(std::mem::replace(&mut warm, w));
                    fixes.push(fix);
                }
                None if cover => given_up[k] = true,
                None => return None,
            }
        }
    }

    /// The `n` flagged rows not counted towards cover row `k` that can move into its scope,
    /// those with the best unpriced weight there first (ties: the lowest rank).
    fn strongest(&self, warm: &Warm, k: usize, n_out: usize, fixes: &[Fix]) -> Vec<u32> {
        let bit = 1u32 << self.rule_of[k];
        let mut found: Vec<(std::cmp::Reverse<i128>, u32, u32)> = Vec::new();
        for (r, edges) in self.base.iter().enumerate() {
            let r = r as u32;
            if !self.row_live[r as usize] || self.flags[r as usize] & bit == 0 {
                continue;
            }
            let m = warm.col_of(r);
            if m != NONE && self.inside(m, k) {
                continue;
            }
            let best = edges
                .iter()
                .filter(|e| self.inside(e.col, k) && self.allowed(fixes, r, e.col))
                .map(|e| e.weight())
                .max();
            if let Some(w) = best {
                found.push((std::cmp::Reverse(w), self.rank[r as usize], r));
            }
        }
        found.sort_unstable();
        found.into_iter().take(n_out).map(|x| x.2).collect()
    }

    /// Where to branch: the first cap row that is over-full, else the first with a price
    /// that it does not fill; a flagged row with a pair in it and not yet fixed for it: the
    /// one the relaxation's solution `frac` leaves most undecided (counted there in the share
    /// of it nearest one half), then the weakest of those it counts. Every such row can be
    /// fixed in or out, so the search ends: once all are fixed, the cap row's count is fixed
    /// too.
    fn branch_on(
        &self,
        warm: &Warm,
        lambda: &[i128],
        fixes: &[Fix],
        frac: &Frac,
    ) -> Option<(u32, u32)> {
        let fixed = |r: u32, k: u32| {
            fixes
                .iter()
                .any(|&f| matches!(f, Fix::In(a, b) | Fix::Out(a, b) if a == r && b == k))
        };
        let counts = self.counts(warm);
        let over = (0..counts.len()).filter(|&k| counts[k] > self.cap[k]);
        let unfilled = (0..counts.len()).filter(|&k| counts[k] < self.cap[k] && lambda[k] > 0);
        for k in over.chain(unfilled) {
            let bit = 1u32 << self.rule_of[k];
            // How far from undecided row `r` is in the relaxation's solution, in millionths:
            // 0 where it counts towards row `k` in half of it.
            let split = |r: u32| -> u64 {
                let key = (r as u64) << 32 | k as u64;
                let x = frac
                    .binary_search_by_key(&key, |f| f.0)
                    .map_or(0.0, |i| frac[i].1);
                ((x - 0.5).abs() * 1e6).round() as u64
            };
            let mut best: Option<(u64, bool, i128, u32, u32)> = None;
            for (r, edges) in self.base.iter().enumerate() {
                let r = r as u32;
                if !self.row_live[r as usize]
                    || self.flags[r as usize] & bit == 0
                    || fixed(r, k as u32)
                {
                    continue;
                }
                let reaches = edges
                    .iter()
                    .any(|e| self.inside(e.col, k) && self.allowed(fixes, r, e.col));
                if !reaches {
                    continue;
                }
                let m = warm.col_of(r);
                let counted = m != NONE && self.inside(m, k);
                let w = self.base_edge(r as usize, m).map_or(0, Edge::weight);
                let key = (split(r), !counted, w, self.rank[r as usize], r);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
            if let Some(b) = best {
                return Some((b.4, k as u32));
            }
        }
        None
    }

    /// Solves the capped problem from the current state and prices. `node_limit` 0 means no
    /// limit. The kept prices are the root search's, the start of the next re-match.
    pub fn solve(&mut self, node_limit: u64) -> Result<Solved, String> {
        let mut warm = std::mem::take(&mut self.warm);
        let mut lambda = std::mem::take(&mut self.lambda);
        if self.cover != 0 {
            self.cover_cost = self.span_cost();
            // Kept prices above the new cost come down to it.
            let mut batch = Vec::new();
            for k in 0..self.cap.len() {
                if self.is_cover(k) && lambda[k] > self.cover_cost {
                    self.move_price(&mut warm, &mut lambda, k, self.cover_cost, &mut batch);
                }
            }
            warm.reweight(&batch);
        }
        let mut best = Best::default();
        if let Some((v, cols)) = self.carried() {
            best.take(v, cols);
        }
        if self.settled {
            self.line_search(&mut warm, &mut lambda);
        }
        // Prices that proved the last re-match are a tie or so from this one's, mostly: the
        // search starts in ties there, and only where that does not settle, in points.
        let mut found = Ok(Found::Open(i128::MAX, Frac::new()));
        let mut near = None;
        // The answer where the relaxation settled it ([`CapSolver::by_relaxation`]).
        let mut early = None;
        for fine in [true, false] {
            if fine && !self.settled {
                continue;
            }
            // The search in points starts from the relaxation's prices, where it is solved.
            let relaxed = if fine || !self.settle(&mut warm, &lambda, &[], Scan::All) {
                None
            } else {
                self.relaxation(&warm, &lambda)
            };
            if let Some(x) = &relaxed {
                self.lp_cols.clone_from(&x.cols);
                let mut batch = Vec::new();
                for (k, &to) in x.lambda.iter().enumerate() {
                    if to != lambda[k] {
                        self.move_price(&mut warm, &mut lambda, k, to, &mut batch);
                    }
                }
                warm.reweight(&batch);
            }
            if let Some(x) = &relaxed {
                if let Some(out) = self.by_relaxation(&warm, &lambda, x, &mut best, node_limit) {
                    early = Some(out);
                    break;
                }
            }
            found = self.search(
                &mut warm,
                &mut lambda,
                &Run {
                    iters: ROOT_ITERS,
                    floor: best.value,
                    fine,
                    fixes: &[],
                    relaxed: relaxed.as_ref().map(|x| &x.floor),
                },
                &mut |w| best.offer(self, w),
            );
            if let Ok(Found::Open(bound, _)) = found {
                if bound <= best.value {
                    // The carried allocation meets the bound: it is the optimum.
                    found = Ok(Found::Proven(best.value, best.cols.clone()));
                }
            }
            near = relaxed.map(|x| x.near);
            if !matches!(found, Ok(Found::Open(..))) {
                break;
            }
        }
        // Prices in points only (the relaxation's) would start the next search in ties far
        // from its end.
        self.settled = early.is_none() && matches!(found, Ok(Found::Proven(..)));
        let out = match (early, found) {
            (Some(out), _) => out,
            (None, Err(e)) => Err(e),
            (None, Ok(Found::Infeasible)) => {
                Err("internal: no matching keeps every sitting tenant".into())
            }
            (None, Ok(Found::Proven(value, cols))) => Ok(Solved::proven(value, cols, 1)),
            (None, Ok(Found::Open(bound, frac))) => {
                let root = (bound, &frac);
                self.branch_and_bound(&warm, &lambda, root, node_limit, best, near.as_ref())
            }
        };
        if let Ok(s) = &out {
            self.last.clone_from(&s.col_of_row);
        }
        self.warm = warm;
        self.lambda = lambda;
        // Reported in weights: the cost of the cover rows left unmet is not a weight.
        out.map(|mut s| {
            // (None found, where the search stopped before its first: nothing to add.)
            if s.value != i128::MIN {
                let cost = self.unmet(&s.col_of_row) as i128 * self.cover_cost;
                s.value += cost;
                s.bound += cost;
            }
            // Out of the solver's scale (bounds are multiples of it, sentinels aside).
            for x in [&mut s.value, &mut s.bound] {
                if *x != i128::MIN && *x != i128::MAX {
                    *x >>= SCALE;
                }
            }
            s
        })
    }

    /// Repairs the root's matching into a first allocation that keeps the caps; where the
    /// relaxation was solved and that allocation is short of its points, runs a tree on the
    /// pairs the relaxation uses to find one that is not. Then the tree on the problem pruned
    /// at the best allocation found: to the pairs within its reach under the root's prices,
    /// and where it scores the relaxation's points, to those of the relaxation's optimal face
    /// ([`Near`]) that the relaxation in ties leaves open ([`TieCut`]), or none.
    pub(super) fn branch_and_bound(
        &self,
        root: &Warm,
        lambda: &[i128],
        root_bound: (i128, &Frac),
        node_limit: u64,
        mut best: Best,
        near: Option<&Near>,
    ) -> Result<Solved, String> {
        if let Some((v, cols)) = self.repair(root.clone(), lambda, &[]) {
            best.take(v, cols);
        }
        let mut spent = 0;
        let limit = |spent: u64, cap: u64| nodes_left(node_limit, spent, cap);
        let top = near.map(|n| n.top);
        let scores_top = |b: &Best| top.is_some_and(|t| b.value >> (64 + SCALE) == t);
        if let Some(near) = near.filter(|_| !scores_top(&best)) {
            // An allocation short of the relaxation's points is mostly a few exchanges away
            // from the optimum, and those are among the pairs the relaxation uses.
            let used = |r: usize, i: usize, e: &Edge| {
                near.used[r].binary_search(&(i as u32)).is_ok()
                    || e.col == self.home[r]
                    || self.dummy[e.col as usize]
            };
            if let Some((sub, warm)) = self.restricted(root, lambda, used) {
                let s = sub.tree(&warm, lambda, root_bound, limit(0, USED_NODES), best)?;
                spent = s.nodes;
                best = Best {
                    value: s.value,
                    cols: s.col_of_row,
                };
            }
        }
        if node_limit > 0 && spent >= node_limit {
            let bound = root_bound.0.max(best.value);
            return Ok(Solved {
                optimal: bound == best.value,
                col_of_row: best.cols,
                value: best.value,
                bound,
                nodes: spent,
            });
        }
        // Where the best allocation scores the relaxation's points, the pairs off its optimal
        // face are in no better one either.
        let face = near.filter(|_| scores_top(&best));
        let mut rest = None;
        if let Some((warm, gap)) = self.within(root, lambda, best.value) {
            let fits = |r: usize, i: usize, e: &Edge| {
                self.priced_at(r, e, lambda).cost() - warm.u(r as u32) - warm.v(e.col) <= gap
                    && face.is_none_or(|n| n.pairs[r].binary_search(&(i as u32)).is_ok())
            };
            // Of an allocation as good in points, only more ties are better: the LP in ties
            // over the pairs left names the few that can give them, and its solution is
            // mostly an allocation with the most.
            let keep = || -> Vec<Vec<u32>> {
                let row = |r: usize| -> Vec<u32> {
                    let edges = self.base[r].iter().enumerate();
                    edges
                        .filter(|&(i, e)| fits(r, i, e))
                        .map(|(i, _)| i as u32)
                        .collect()
                };
                let live = |r: usize| self.row_live[r];
                (0..self.base.len())
                    .map(|r| if live(r) { row(r) } else { Vec::new() })
                    .collect()
            };
            let top = best.value >> (64 + SCALE);
            let cut = face.and_then(|_| self.tie_cut(&keep(), top));
            if let Some(c) = &cut {
                self.take_rounded(c, &mut best);
            }
            let beaters = cut.map(|c| self.beaters(&c, &best));
            rest = match beaters {
                Some(None) => return Ok(Solved::proven(best.value, best.cols, spent + 1)),
                Some(Some(open)) => self.restricted(&warm, lambda, open_or_own(&open, &best)),
                None => self.restricted(&warm, lambda, fits),
            };
        }
        let mut s = match rest {
            Some((p, warm)) => p.tree(&warm, lambda, root_bound, limit(spent, 0), best),
            None => self.tree(root, lambda, root_bound, limit(spent, 0), best),
        }?;
        s.nodes += spent;
        Ok(s)
    }

    /// The branch and bound below a root whose prices did not prove the optimum.
    fn tree(
        &self,
        root: &Warm,
        lambda: &[i128],
        (root_bound, root_frac): (i128, &Frac),
        node_limit: u64,
        mut best: Best,
    ) -> Result<Solved, String> {
        let mut nodes = 1u64;
        let mut stack: Vec<Node> = Vec::new();
        let push_children = |stack: &mut Vec<Node>,
                             fixes: &[Fix],
                             lam: &[i128],
                             bound: i128,
                             (r, k): (u32, u32)| {
            let mut a = fixes.to_vec();
            a.push(Fix::In(r, k));
            stack.push(Node {
                fixes: a,
                lambda: lam.to_vec(),
                bound,
            });
            let mut b = fixes.to_vec();
            b.push(Fix::Out(r, k));
            // Pushed last, explored first: keeping a household out heads towards the caps.
            stack.push(Node {
                fixes: b,
                lambda: lam.to_vec(),
                bound,
            });
        };
        if root_bound > best.value {
            match self.branch_on(root, lambda, &[], root_frac) {
                Some(v) => push_children(&mut stack, &[], lambda, root_bound, v),
                // Nothing over- or under-filled at the root once pruned: its own search, as a
                // node, proves it or leaves its bound open.
                None => stack.push(Node {
                    fixes: Vec::new(),
                    lambda: lambda.to_vec(),
                    bound: root_bound,
                }),
            }
        }
        let mut unresolved = None::<i128>;
        while let Some(node) = stack.pop() {
            if node.bound <= best.value {
                continue;
            }
            if node_limit > 0 && nodes >= node_limit {
                stack.push(node);
                break;
            }
            nodes += 1;
            let mut warm = root.clone();
            if !(1..=node.fixes.len()).all(|i| self.apply(&mut warm, lambda, &node.fixes[..i])) {
                continue;
            }
            // The clone carries the root's prices; the node starts from its parent's.
            let mut lam = lambda.to_vec();
            let mut batch = Vec::new();
            for (k, &to) in node.lambda.iter().enumerate() {
                if to != lam[k] {
                    self.move_price(&mut warm, &mut lam, k, to, &mut batch);
                }
            }
            warm.reweight(&batch);
            let floor = best.value;
            match self.search(
                &mut warm,
                &mut lam,
                &Run {
                    iters: NODE_ITERS,
                    floor,
                    fine: true,
                    fixes: &node.fixes,
                    relaxed: None,
                },
                &mut |w| best.offer(self, w),
            )? {
                Found::Infeasible => {}
                Found::Proven(v, cols) => best.take(v, cols),
                Found::Open(bound, frac) => {
                    let bound = bound.min(node.bound);
                    if bound <= best.value {
                        continue;
                    }
                    if let Some((v, cols)) = self.repair(warm.clone(), &lam, &node.fixes) {
                        best.take(v, cols);
                    }
                    if bound <= best.value {
                        continue;
                    }
                    match self.branch_on(&warm, &lam, &node.fixes, &frac) {
                        Some(choice) => push_children(&mut stack, &node.fixes, &lam, bound, choice),
                        // Nothing to branch on although unproven: keep its bound open.
                        None => unresolved = Some(unresolved.map_or(bound, |u| u.max(bound))),
                    }
                }
            }
        }
        let open = stack.iter().map(|n| n.bound).chain(unresolved).max();
        let bound = open.map_or(best.value, |b| b.max(best.value));
        Ok(Solved {
            optimal: bound == best.value,
            col_of_row: best.cols,
            value: best.value,
            bound,
            nodes,
        })
    }
}
