//! The priced problem at the kept prices, for questions asked after a capped re-match ("how
//! far is this household from a flat"): solved from scratch over every live pair, so that its
//! duals are optimal whatever state the search left the kept assignment in.

use super::CapSolver;
use crate::warm::{Edge, Warm, NONE};

/// Pairs priced at the kept prices ([`CapSolver::kept_prices`]).
pub struct KeptPrices<'a> {
    solver: &'a CapSolver,
    lambda: Vec<i128>,
}

impl KeptPrices<'_> {
    /// Row `r`'s edges at the kept prices, sorted by column.
    pub fn priced_edges(&self, r: u32, out: &mut Vec<Edge>) {
        out.clear();
        out.extend(
            self.solver.base[r as usize]
                .iter()
                .map(|e| self.price(r, *e)),
        );
    }

    /// Edge `e` of row `r` at the kept prices.
    pub fn price(&self, r: u32, e: Edge) -> Edge {
        let pen = self.solver.penalty(r as usize, e.col, &self.lambda);
        let (w, t) = CapSolver::priced_in(&e, pen, 0);
        Edge { w, t, col: e.col }
    }
}

impl CapSolver {
    /// The Lagrangian problem at the current prices: its optimal matching and duals, and its
    /// value `L(λ)`, which bounds every matching that keeps the caps.
    pub fn priced_optimum(&self) -> Result<(Warm, i128), String> {
        let mut w = Warm::new();
        for (c, _) in self.col_live.iter().enumerate().filter(|(_, &l)| l) {
            w.add_col(c as u32, self.dummy[c]);
        }
        let rows: Vec<u32> = (0..self.row_live.len() as u32)
            .filter(|&r| self.row_live[r as usize])
            .collect();
        let kept = self.kept_prices();
        for &r in &rows {
            let mut edges = Vec::new();
            kept.priced_edges(r, &mut edges);
            w.add_row(r);
            w.set_row(r, edges);
        }
        if !w.run() {
            return Err("internal: the priced problem has no matching".into());
        }
        let mut value = self.slack(&kept.lambda);
        for &r in &rows {
            let (ew, et) = w
                .edge(r, w.col_of(r))
                .ok_or("internal: matched edge missing")?;
            value += (i128::from(ew) << 64) + i128::from(et);
        }
        Ok((w, value))
    }

    /// The kept prices in the solver's weights (rounded down to them: any prices give a
    /// bound), computed once for the pairs priced at them.
    pub fn kept_prices(&self) -> KeptPrices<'_> {
        KeptPrices {
            solver: self,
            lambda: self.lambda.iter().map(|&l| l >> super::SCALE).collect(),
        }
    }

    /// The weight, unpriced, of the matching that gives row slot `r` column `cols[r]`
    /// (`NONE`: not live), with `extra` edges for pairs outside the kept graph; `None` if it
    /// exceeds a cap or uses a pair it does not know.
    pub fn keeps_caps(&self, cols: &[u32], extra: &[(u32, Edge)]) -> Option<i128> {
        let mut count = vec![0i64; self.cap.len()];
        let mut value = 0i128;
        for (r, &c) in cols.iter().enumerate() {
            if c == NONE {
                continue;
            }
            let list = &self.base[r];
            let e = match list.binary_search_by_key(&c, |e| e.col) {
                Ok(k) => list[k],
                Err(_) => {
                    extra
                        .iter()
                        .find(|(x, e)| *x as usize == r && e.col == c)?
                        .1
                }
            };
            value += e.weight();
            for k in self.counted_in(r, c) {
                count[k] += 1;
            }
        }
        count
            .iter()
            .zip(&self.cap)
            .all(|(n, c)| n <= c)
            .then_some(value)
    }
}

impl CapSolver {
    /// The capped optimum once row `r0`'s edges are `edges` (its pairs with the extra points,
    /// and its private column), solved on a copy from the kept prices: the column of every
    /// row slot (`NONE`: not live), or `None` if the node budget stops the search before it
    /// proves the optimum.
    pub fn optimum_with(
        &self,
        r0: u32,
        edges: Vec<Edge>,
        node_limit: u64,
    ) -> Result<Option<Vec<u32>>, String> {
        let mut copy = self.clone();
        let ru = r0 as usize;
        let home = Some(self.home[ru]).filter(|&c| c != NONE);
        copy.set_row(r0, self.flags[ru], self.rank[ru], edges, home);
        let out = copy.solve(node_limit)?;
        Ok(out.optimal.then_some(out.col_of_row))
    }

    /// Whether column `c` is a unit's (not a private "unmatched" column).
    pub fn is_unit_col(&self, c: u32) -> bool {
        c != NONE && !self.dummy[c as usize]
    }
}
