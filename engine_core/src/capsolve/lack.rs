//! The priced problem at the kept prices, for questions asked after a capped re-match ("how
//! far is this household from a flat"): solved from scratch over every live pair, so that its
//! duals are optimal whatever state the search left the kept assignment in.

use super::CapSolver;
use crate::warm::{Edge, Warm, NONE};

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
        let lambda = self.real_lambda();
        for &r in &rows {
            let mut edges = Vec::new();
            self.priced_edges_at(r, &mut edges, &lambda);
            w.add_row(r);
            w.set_row(r, edges);
        }
        if !w.run() {
            return Err("internal: the priced problem has no matching".into());
        }
        let mut value = self.slack(&lambda);
        for &r in &rows {
            let (ew, et) = w
                .edge(r, w.col_of(r))
                .ok_or("internal: matched edge missing")?;
            value += (i128::from(ew) << 64) + i128::from(et);
        }
        Ok((w, value))
    }

    /// Row `r`'s edges at the current prices, sorted by column.
    pub fn priced_edges(&self, r: u32, out: &mut Vec<Edge>) {
        self.priced_edges_at(r, out, &self.real_lambda());
    }

    fn priced_edges_at(&self, r: u32, out: &mut Vec<Edge>, lambda: &[i128]) {
        out.clear();
        out.extend(
            self.base[r as usize]
                .iter()
                .map(|e| self.price_at(r, *e, lambda)),
        );
    }

    /// Edge `e` of row `r` at the current prices, in the solver's weights (the prices
    /// rounded down to them: any prices give a bound).
    pub fn price(&self, r: u32, e: Edge) -> Edge {
        self.price_at(r, e, &self.real_lambda())
    }

    fn price_at(&self, r: u32, e: Edge, lambda: &[i128]) -> Edge {
        let (w, t) = Self::priced_in(&e, self.penalty(r as usize, e.col, lambda), 0);
        Edge { w, t, col: e.col }
    }

    /// The kept prices out of the solver's scale, rounded down.
    fn real_lambda(&self) -> Vec<i128> {
        self.lambda.iter().map(|&l| l >> super::SCALE).collect()
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
