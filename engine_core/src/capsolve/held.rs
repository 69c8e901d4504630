//! The sparse graph the price search re-augments over. The assignment holds a few edges per
//! row (its best at the prices when the row was set, its home, its private column); after
//! each re-augmentation every edge left out is priced against the duals, and those that
//! would improve the matching are brought in, until none would. The duals then satisfy every
//! edge of `base`, so the certificate on the held graph proves the bound on the whole one.

use rayon::prelude::*;

use super::search::Fix;
use super::{CapSolver, SCALE};
use crate::warm::{Edge, Warm, NONE};

/// Edges priced per pass above which the rows are priced on all cores.
const PARALLEL_EDGES: usize = 200_000;

/// Which left-out edges [`CapSolver::settle`] prices first.
#[derive(Clone, Copy, Debug)]
pub(super) enum Scan<'a> {
    /// Every edge: the duals may have moved anywhere since the last pricing.
    All,
    /// The edges of rows and columns whose duals rose since the last pricing, and of these
    /// rows (whose prices fell).
    Changed(&'a [u32]),
}

impl CapSolver {
    /// The edges of row `r` (priced, sorted by column) that the assignment holds: the best
    /// `keep` at the current prices, the home and the private column.
    pub(super) fn held(&self, r: usize, mut priced: Vec<Edge>) -> Vec<Edge> {
        if self.keep == 0 || priced.len() <= self.keep {
            return priced;
        }
        let always = |e: &Edge| self.dummy[e.col as usize] || e.col == self.home[r];
        let mut order: Vec<usize> = (0..priced.len()).filter(|&i| !always(&priced[i])).collect();
        order.sort_unstable_by_key(|&i| std::cmp::Reverse((priced[i].w, priced[i].t)));
        let mut take = vec![false; priced.len()];
        for &i in order.iter().take(self.keep) {
            take[i] = true;
        }
        let mut i = 0;
        priced.retain(|e| {
            i += 1;
            take[i - 1] || always(e)
        });
        priced
    }

    /// Whether the branching decisions `fixes` leave pair `(r, c)` open.
    pub(super) fn allowed(&self, fixes: &[Fix], r: u32, c: u32) -> bool {
        fixes.iter().all(|&f| {
            let (fr, k, keep_in) = match f {
                Fix::In(fr, k) => (fr, k, true),
                Fix::Out(fr, k) => (fr, k, false),
            };
            if fr != r {
                return true;
            }
            self.inside(c, k as usize) == keep_in
        })
    }

    /// Re-augments `warm` and brings in the left-out edges its duals violate, until none is;
    /// `false` when some row cannot be matched.
    pub(super) fn settle(
        &self,
        warm: &mut Warm,
        lambda: &[i128],
        fixes: &[Fix],
        scan: Scan<'_>,
    ) -> bool {
        let mut whole = self.keep == 0;
        let mut scan = scan;
        loop {
            if !warm.run() {
                if whole {
                    return false;
                }
                // The held graph has no matching; only the whole one can say there is none.
                whole = true;
                self.hold_all(warm, lambda, fixes);
                scan = Scan::All;
                continue;
            }
            if self.keep == 0 {
                return true;
            }
            // Only an edge into a row or column whose dual rose can have become violated.
            let (mut rows, cols) = warm.take_changed();
            let found = match scan {
                Scan::All => self.violated(warm, lambda, fixes, None),
                Scan::Changed(extra) => {
                    // Marked, not sorted: the columns' lists add up to many times the rows.
                    let mut seen = vec![false; self.base.len()];
                    let by_col = cols
                        .iter()
                        .flat_map(|&c| self.base_cols.get(c as usize).map_or(&[][..], |v| v));
                    let all: Vec<u32> = std::mem::take(&mut rows)
                        .into_iter()
                        .chain(extra.iter().copied())
                        .chain(by_col.copied())
                        .filter(|&r| {
                            seen.get_mut(r as usize)
                                .is_some_and(|s| !std::mem::replace(s, true))
                        })
                        .collect();
                    self.violated(warm, lambda, fixes, Some(&all))
                }
            };
            scan = Scan::Changed(&[]);
            if found.is_empty() {
                return true;
            }
            for (r, mut edges) in found {
                // The most violated few: a row left with no held unit would otherwise bring in
                // every unit it scores above staying unmatched.
                if self.keep > 0 && edges.len() > self.keep {
                    let u = warm.u(r);
                    edges.sort_unstable_by_key(|e| (e.cost() - u - warm.v(e.col), e.col));
                    edges.truncate(self.keep);
                    edges.sort_unstable_by_key(|e| e.col);
                }
                warm.add_row_edges(r, &edges);
            }
        }
    }

    /// Holds every edge `fixes` allow.
    fn hold_all(&self, warm: &mut Warm, lambda: &[i128], fixes: &[Fix]) {
        for (r, edges) in self.base.iter().enumerate() {
            let r32 = r as u32;
            if !self.row_live[r] {
                continue;
            }
            let open: Vec<Edge> = edges
                .iter()
                .filter(|e| !warm.has_edge(r32, e.col) && self.allowed(fixes, r32, e.col))
                .map(|e| self.priced_at(r, e, lambda))
                .collect();
            // A row the failed run left unmatched is queued again even with nothing to add:
            // its path may run through other rows' new edges.
            if !open.is_empty() || warm.col_of(r32) == NONE {
                warm.add_row_edges(r32, &open);
            }
        }
    }

    /// Row `r`'s edges (priced) with a negative reduced cost under `warm`'s duals, allowed by
    /// `fixes`. Edges the assignment holds are never among them once it has run.
    fn row_violated(&self, warm: &Warm, lambda: &[i128], fixes: &[Fix], r: usize) -> Vec<Edge> {
        let mut out = Vec::new();
        if !self.row_live[r] {
            return out;
        }
        let u = warm.u(r as u32);
        for e in &self.base[r] {
            let pen = self.penalty(r, e.col, lambda);
            if (e.cost() << SCALE) + pen - u - warm.v(e.col) < 0
                && self.allowed(fixes, r as u32, e.col)
            {
                let (w, t) = Self::priced(e, pen);
                out.push(Edge { w, t, col: e.col });
            }
        }
        out
    }

    /// The violated edges of `rows` (all rows if `None`), by row.
    fn violated(
        &self,
        warm: &Warm,
        lambda: &[i128],
        fixes: &[Fix],
        rows: Option<&[u32]>,
    ) -> Vec<(u32, Vec<Edge>)> {
        let all: Vec<u32>;
        let rows = match rows {
            Some(r) => r,
            None => {
                all = (0..self.base.len() as u32).collect();
                &all
            }
        };
        let edges: usize = rows.iter().map(|&r| self.base[r as usize].len()).sum();
        let scan = |&r: &u32| (r, self.row_violated(warm, lambda, fixes, r as usize));
        let found: Vec<(u32, Vec<Edge>)> = if edges >= PARALLEL_EDGES {
            rows.par_iter().map(scan).collect()
        } else {
            rows.iter().map(scan).collect()
        };
        found.into_iter().filter(|(_, e)| !e.is_empty()).collect()
    }
}
