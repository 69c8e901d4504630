//! The pricing driver: after each solve on the restricted graph, every eligible pair left out
//! is priced against the duals (rows walked per group of vacant units, columns priced in
//! blocks of households), and the violated ones are added for the next round.

use super::*;

/// Edges kept for a household whose row is (re)built: its own unit or its private "stay
/// unmatched" column, plus the best vacant units under the current column duals.
pub(super) const INITIAL_EDGES: usize = 12;
/// Edges added per household and pricing round.
pub(super) const PRICED_EDGES: usize = 6;
/// Rows priced in one round from which the work is shared among the cores.
pub(super) const PARALLEL_ROWS: usize = 64;
/// Edges added per column and pricing round.
pub(super) const PRICED_COL_EDGES: usize = 4;
/// Households per block of column pricing (their records and rows stay in cache while the
/// block is priced against every column).
pub(super) const BLOCK: usize = 2048;
/// Column pricing's household × column pairs from which the work is shared among the cores.
pub(super) const PARALLEL_PAIRS: usize = 50_000;

/// What the pricing passes of one solve share. The groups and slot maps are taken out of the
/// incremental state for the solve (and put back after it) so that the state can change
/// while they are read.
pub(super) struct Pricer<'s, 'a> {
    pub(super) s: &'s ScoreView<'a>,
    /// Estimated cost of one row's pricing walk, in household scorings.
    pub(super) walk: usize,
    pub(super) groups: Groups,
    pub(super) maps: Maps,
}

impl Pricer<'_, '_> {
    /// Score of `h`'s own unit, if any: the rule-7 threshold of a transfer requester.
    pub(super) fn own_total(&self, h: usize) -> Option<i64> {
        self.s.own[h].map(|o| self.s.breakdown_of(h, o).total())
    }

    /// Brings `priced`, each group's units as row pricing walks them ([`PricedGroup`]), up
    /// to date: groups in `regroup` (their units changed), new groups and those with a unit
    /// whose dual moved are sorted again, the others are kept.
    pub(super) fn refresh_priced(
        &self,
        warm: &mut Warm,
        col_key: &[u64],
        priced: &mut Vec<PricedGroup>,
        regroup: &mut Vec<u32>,
    ) {
        let units = &self.groups.units;
        let old = priced.len();
        priced.resize_with(units.len(), PricedGroup::default);
        regroup.extend(old as u32..units.len() as u32);
        for c in warm.take_moved() {
            let u = self.maps.u_of_col.get(c as usize).copied().unwrap_or(NONE);
            if let Some(g) = (u != NONE)
                .then(|| self.groups.group_of(u as usize))
                .flatten()
            {
                regroup.push(g);
            }
        }
        regroup.sort_unstable();
        regroup.dedup();
        for &g in regroup.iter() {
            let col_of_u = &self.maps.col_of_u;
            priced[g as usize] = PricedGroup::new(self.s, &units[g as usize], |u| {
                let c = col_of_u[u as usize];
                (warm.v(c), col_key[c as usize])
            });
        }
        regroup.clear();
    }

    /// Best vacant units of household `h` above `threshold`, as edges in slot space.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn row_candidates(
        &self,
        inc: &Inc,
        by_price: &[PricedGroup],
        h: usize,
        threshold: i128,
        limit: usize,
        buf: &mut Vec<Candidate>,
        out: &mut Vec<Edge>,
    ) -> Bounds {
        let row = self.maps.row_of_h[h];
        let rk = inc.row_key[row as usize];
        let tie = |u: usize| warm::tie(rk, inc.col_key[self.maps.col_of_u[u] as usize]);
        // A rebuilt row's edges are all replaced: none of its current ones counts as kept.
        let rebuild = threshold == i128::MIN;
        let in_graph = |u: usize| !rebuild && inc.warm.has_edge(row, self.maps.col_of_u[u]);
        let v = |u: usize| inc.warm.v(self.maps.col_of_u[u]);
        let bounds =
            inc.bounds[row as usize].get_or_init(|| group_bounds(self.s, &inc.groups.keys, h));
        let own = self.own_total(h);
        let own_building: &[u32] = match self.s.own[h] {
            Some(o) => self.groups.in_building(self.s.building_of(o)),
            None => &[],
        };
        let left = price_row(
            self.s,
            bounds,
            by_price,
            own_building,
            h,
            own,
            threshold,
            limit,
            rk,
            &tie,
            &v,
            &in_graph,
            buf,
        );
        out.clear();
        out.extend(buf.iter().map(|c| Edge {
            w: c.w,
            t: tie(c.unit as usize),
            col: self.maps.col_of_u[c.unit as usize],
        }));
        left
    }

    /// Edges of household `h` for a rebuilt row, sorted by column, and the bound on the
    /// values of its pairs left out.
    pub(super) fn row_edges(
        &self,
        inc: &Inc,
        by_price: &[PricedGroup],
        h: usize,
        buf: &mut Vec<Candidate>,
    ) -> (Vec<Edge>, Bounds) {
        let s = self.s;
        let row = self.maps.row_of_h[h];
        let rk = inc.row_key[row as usize];
        let mut out = Vec::new();
        let left = self.row_candidates(inc, by_price, h, i128::MIN, INITIAL_EDGES, buf, &mut out);
        match s.own[h] {
            Some(o) => {
                let c = self.maps.col_of_u[o];
                out.push(Edge {
                    w: s.breakdown_of(h, o).total(),
                    t: warm::tie(rk, inc.col_key[c as usize]),
                    col: c,
                });
            }
            None => out.push(Edge {
                w: 0,
                t: warm::tie(rk, UNMATCHED_KEY),
                col: inc.dummy[row as usize],
            }),
        }
        out.sort_unstable_by_key(|e| e.col);
        (out, left)
    }

    /// Row pricing for households `hs`: adds their violated pairs; `true` if any. Many rows
    /// are priced on all cores: pricing a row reads nothing that adding another row's edges
    /// changes (its own dual and edges, column duals, the groups), so each is priced on the
    /// state before any of them and their edges are then added in order, as one at a time
    /// would; the outcome does not depend on the threads.
    pub(super) fn add_violated_rows(
        &self,
        inc: &mut Inc,
        by_price: &[PricedGroup],
        hs: &[usize],
    ) -> bool {
        let state: &Inc = inc;
        let price = |h: usize, buf: &mut Vec<Candidate>| {
            let r = self.maps.row_of_h[h];
            let threshold = -state.warm.u(r);
            let mut edges = Vec::new();
            let left =
                self.row_candidates(state, by_price, h, threshold, PRICED_EDGES, buf, &mut edges);
            (r, left, edges)
        };
        let priced: Vec<(u32, Bounds, Vec<Edge>)> = if hs.len() >= PARALLEL_ROWS {
            hs.par_iter()
                .map_init(Vec::new, |buf, &h| price(h, buf))
                .collect()
        } else {
            let mut buf = Vec::new();
            hs.iter().map(|&h| price(h, &mut buf)).collect()
        };
        let mut found = false;
        for (r, left, edges) in priced {
            inc.best_out[r as usize] = left.rest;
            inc.low_out[r as usize] = left.low;
            if !edges.is_empty() {
                inc.warm.add_row_edges(r, &edges);
                found = true;
            }
        }
        found
    }

    /// Column pricing for vacant units `us`: adds each one's most violated pairs and lowers
    /// its dual so that every pair into it is feasible; `true` if any. Pricing a column reads
    /// nothing that another column's pricing changes (that touches only its own edges and
    /// dual, and raises row bounds to a maximum), so the households are cut into blocks, each
    /// priced against every column on the state before any of them, on all cores when there
    /// is enough work; each column keeps its best pairs over all blocks (by reduced cost, ties
    /// by row), so the outcome does not depend on the threads or the blocks.
    pub(super) fn add_violated_cols(
        &self,
        inc: &mut Inc,
        us: &[usize],
        compact: &[Compact],
    ) -> bool {
        let s = self.s;
        let cols: Vec<ColView> = us
            .iter()
            .map(|&u| {
                let c = self.maps.col_of_u[u];
                ColView {
                    u,
                    c,
                    key: inc.col_key[c as usize],
                    v: inc.warm.v(c),
                    view: UnitView::new(s, u),
                }
            })
            .collect();
        let state: &Inc = inc;
        let price = |block: &[Compact]| self.price_block(state, &cols, block);
        let blocks: Vec<Block> = if cols.len() * compact.len() >= PARALLEL_PAIRS {
            compact.par_chunks(BLOCK).map(price).collect()
        } else {
            compact.chunks(BLOCK).map(price).collect()
        };
        let mut found: Vec<(u32, i128, u32, i64)> = Vec::new();
        for (block, recs) in blocks.into_iter().zip(compact.chunks(BLOCK)) {
            for (rec, (best, low)) in recs.iter().zip(block.bounds) {
                let r = self.maps.row_of_h[rec.h as usize] as usize;
                inc.best_out[r] = best;
                inc.low_out[r] = low;
            }
            found.extend(block.found);
        }
        found.sort_unstable_by_key(|&(j, m, r, _)| (j, m, r));
        for pairs in found.chunk_by(|a, b| a.0 == b.0) {
            let col = &cols[pairs[0].0 as usize];
            let pairs = &pairs[..pairs.len().min(PRICED_COL_EDGES)];
            for &(_, _, r, w) in pairs {
                let t = warm::tie(inc.row_key[r as usize], col.key);
                inc.warm.set_edge(r, col.c, Some((w, t)));
            }
            inc.warm.lower_col(col.c, pairs[0].1);
        }
        !found.is_empty()
    }

    /// One block of [`Pricer::add_violated_cols`]: its rows' bounds raised by the pairs into
    /// the columns, and each column's best violated pairs in the block, as (column index,
    /// reduced cost, row, score).
    pub(super) fn price_block(&self, inc: &Inc, cols: &[ColView], block: &[Compact]) -> Block {
        let s = self.s;
        // What the inner loop reads of the rows, side by side.
        let rows: Vec<u32> = block
            .iter()
            .map(|rec| self.maps.row_of_h[rec.h as usize])
            .collect();
        let row_u: Vec<i128> = rows.iter().map(|&r| inc.warm.u(r)).collect();
        let row_key: Vec<RowKey> = rows.iter().map(|&r| inc.row_key[r as usize]).collect();
        let mut bounds: Vec<(i128, i128)> = rows
            .iter()
            .map(|&r| (inc.best_out[r as usize], inc.low_out[r as usize]))
            .collect();
        let mut found = Vec::new();
        // (reduced cost, row, score): a violation is below the column's dual.
        let mut best: Vec<(i128, u32, i64)> = Vec::with_capacity(PRICED_COL_EDGES + 1);
        for (j, col) in cols.iter().enumerate() {
            best.clear();
            for (i, rec) in block.iter().enumerate() {
                let Some(w) = compact_raw(s, rec, &col.view, col.u) else {
                    continue;
                };
                let value = (i128::from(w) << 64) + i128::from(warm::tie(row_key[i], col.key));
                let b = &mut bounds[i];
                if !rec.eligible(w) {
                    // Only an applicant's pairs not above 0 can become eligible (on a new
                    // date).
                    if rec.is_applicant() && value + col.v > b.1 {
                        b.1 = value + col.v;
                    }
                    continue;
                }
                // The column's dual may have risen: the row's bound must cover this pair if
                // it is left out of the graph (with the dual before any lowering, so a valid
                // if loose bound). A pair in the graph, such as the row's match at exactly
                // -u, is not.
                let r = rows[i];
                if value + col.v > b.0 && !inc.warm.has_edge(r, col.c) {
                    b.0 = value + col.v;
                }
                let m = -value - row_u[i];
                if m >= col.v
                    || (best.len() == PRICED_COL_EDGES
                        && (m, r) >= (best[best.len() - 1].0, best[best.len() - 1].1))
                {
                    continue;
                }
                let at = best.partition_point(|x| (x.0, x.1) < (m, r));
                best.insert(at, (m, r, w));
                best.truncate(PRICED_COL_EDGES);
            }
            found.extend(best.iter().map(|&(m, r, w)| (j as u32, m, r, w)));
        }
        Block { bounds, found }
    }
}

/// A vacant unit as column pricing reads it, with its dual before the pricing.
pub(super) struct ColView {
    pub(super) u: usize,
    pub(super) c: u32,
    pub(super) key: u64,
    pub(super) v: i128,
    pub(super) view: UnitView,
}

/// What column pricing found in one block of households: their rows' bounds (best, low)
/// and the violated pairs.
pub(super) struct Block {
    pub(super) bounds: Vec<(i128, i128)>,
    pub(super) found: Vec<(u32, i128, u32, i64)>,
}
