//! Dynamic exact assignment with warm starts: rows and columns live in stable slots, edges
//! can be replaced per row or per (row, column), and after a change only the affected rows are
//! re-augmented (Dijkstra from the current duals) and freed columns whose dual is positive are
//! repaired by a column-side Dijkstra. Maximises total weight; every live row must be matched.
//!
//! Weights are lexicographic: `w * 2^64 + t`, where `w` is the score and `t < 2^40` a
//! deterministic tie-break derived from the (household, unit) ids. As long as fewer than 2^24
//! rows exist, the secondary part never outweighs one point of score, so an optimum of the
//! combined weight is an optimum of the score, and (for all but a vanishing fraction of
//! inputs, by the isolation lemma) the unique one: the matching does not depend on the order
//! of operations or on warm starts.
//!
//! Internally the minimisation form is used: cost `c = -(w * 2^64 + t)`, row duals `u`,
//! column duals `v <= 0`, reduced costs `c - u - v >= 0`, tight on matched edges, `v = 0` on
//! free columns (restored by [`Warm::fix_column`] after changes).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

mod cert;
mod keys;
mod lack;
pub use cert::Certificate;
use cert::{Cert, ColPart, RowPart};
pub use keys::*;
pub use lack::Move;

pub const NONE: u32 = u32::MAX;
const INF: i128 = i128::MAX / 4;
/// Bits of the tie-break part; `t < 2^TIE_BITS`.
pub const TIE_BITS: u32 = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub w: i64,
    pub t: u64,
    pub col: u32,
}

impl Edge {
    /// The edge's lexicographic weight: points above, the tie-break below (`w·2⁶⁴ + t`).
    #[inline]
    pub fn weight(&self) -> i128 {
        (i128::from(self.w) << 64) + i128::from(self.t)
    }

    /// The edge's cost in the minimisation form the duals are kept in.
    #[inline]
    pub fn cost(&self) -> i128 {
        -self.weight()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Warm {
    /// Edges of each row slot, sorted by column.
    rows: Vec<Vec<Edge>>,
    row_live: Vec<bool>,
    /// Rows with an edge into each column slot, sorted.
    cols: Vec<Vec<u32>>,
    /// The cost of each of those edges, in the same order: the column-side searches read
    /// them in sequence instead of looking each edge up in its row's list (a cache miss per
    /// edge, most of [`Warm::fix_column`]'s time). Row lists stay the record; the
    /// certificate reads those.
    col_cost: Vec<Vec<i128>>,
    col_live: Vec<bool>,
    u: Vec<i128>,
    v: Vec<i128>,
    col4row: Vec<u32>,
    row4col: Vec<u32>,
    /// Live rows that must be (re-)augmented.
    pending: Vec<u32>,
    /// Columns that may have become free with a positive dual.
    suspects: Vec<u32>,
    n_live_rows: usize,
    /// Rows whose dual rose and columns whose dual rose since [`Warm::take_changed`]: the
    /// only places where a pair outside the graph can have become attractive (pricing).
    changed_rows: Vec<u32>,
    row_noted: Vec<bool>,
    changed_cols: Vec<u32>,
    col_noted: Vec<bool>,
    // Dijkstra scratch, indexed by column.
    spc: Vec<i128>,
    path: Vec<u32>,
    scanned: Vec<bool>,
    /// Columns whose dual changed either way since [`Warm::take_moved`] (pricing keeps
    /// units sorted by dual and re-sorts only these).
    moved: Vec<u32>,
    moved_noted: Vec<bool>,
    /// Columns that are a row's private "stay unmatched" option (not counted as matched).
    dummy_col: Vec<bool>,
    cert: Cert,
}

impl Warm {
    /// Makes this assignment a copy of `src`, reusing its own allocations: the capped search's
    /// repair tries a few households on copies of one assignment per step, and fresh clones
    /// allocate (and free) every row's and column's list each time. Lists every field, so
    /// that a new one cannot be forgotten here.
    pub fn copy_from(&mut self, src: &Warm) {
        let Warm {
            rows,
            row_live,
            cols,
            col_cost,
            col_live,
            u,
            v,
            col4row,
            row4col,
            pending,
            suspects,
            n_live_rows,
            changed_rows,
            row_noted,
            changed_cols,
            col_noted,
            spc,
            path,
            scanned,
            moved,
            moved_noted,
            dummy_col,
            cert,
        } = self;
        rows.clone_from(&src.rows);
        row_live.clone_from(&src.row_live);
        cols.clone_from(&src.cols);
        col_cost.clone_from(&src.col_cost);
        col_live.clone_from(&src.col_live);
        u.clone_from(&src.u);
        v.clone_from(&src.v);
        col4row.clone_from(&src.col4row);
        row4col.clone_from(&src.row4col);
        pending.clone_from(&src.pending);
        suspects.clone_from(&src.suspects);
        *n_live_rows = src.n_live_rows;
        changed_rows.clone_from(&src.changed_rows);
        row_noted.clone_from(&src.row_noted);
        changed_cols.clone_from(&src.changed_cols);
        col_noted.clone_from(&src.col_noted);
        spc.clone_from(&src.spc);
        path.clone_from(&src.path);
        scanned.clone_from(&src.scanned);
        moved.clone_from(&src.moved);
        moved_noted.clone_from(&src.moved_noted);
        dummy_col.clone_from(&src.dummy_col);
        cert.copy_from(&src.cert);
    }

    pub fn new() -> Self {
        Self::default()
    }

    pub fn n_live_rows(&self) -> usize {
        self.n_live_rows
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn grow_rows(&mut self, r: usize) {
        if r >= self.rows.len() {
            self.rows.resize_with(r + 1, Vec::new);
            self.row_live.resize(r + 1, false);
            self.u.resize(r + 1, 0);
            self.col4row.resize(r + 1, NONE);
            self.row_noted.resize(r + 1, false);
            self.cert.row_marked.resize(r + 1, false);
            self.cert.row_part.resize(
                r + 1,
                RowPart {
                    ok: true,
                    ..RowPart::default()
                },
            );
        }
    }

    fn grow_cols(&mut self, c: usize) {
        if c >= self.cols.len() {
            self.cols.resize_with(c + 1, Vec::new);
            self.col_cost.resize_with(c + 1, Vec::new);
            self.col_live.resize(c + 1, false);
            self.v.resize(c + 1, 0);
            self.row4col.resize(c + 1, NONE);
            self.col_noted.resize(c + 1, false);
            self.spc.resize(c + 1, INF);
            self.path.resize(c + 1, NONE);
            self.scanned.resize(c + 1, false);
            self.dummy_col.resize(c + 1, false);
            self.moved_noted.resize(c + 1, false);
            self.cert.col_marked.resize(c + 1, false);
            self.cert.col_part.resize(c + 1, ColPart::default_ok());
        }
    }

    /// Creates a free column with dual 0 (no edges yet); `dummy` for a row's private "stay
    /// unmatched" option, which [`Certificate::matched`] does not count.
    pub fn add_col(&mut self, c: u32, dummy: bool) {
        self.grow_cols(c as usize);
        debug_assert!(!self.col_live[c as usize]);
        self.col_live[c as usize] = true;
        self.dummy_col[c as usize] = dummy;
        self.v[c as usize] = 0;
        self.row4col[c as usize] = NONE;
        self.cols[c as usize].clear();
        self.col_cost[c as usize].clear();
        self.note_col(c);
        self.mark_col(c);
        self.note_moved(c);
    }

    #[inline]
    fn note_moved(&mut self, c: u32) {
        if !self.moved_noted[c as usize] {
            self.moved_noted[c as usize] = true;
            self.moved.push(c);
        }
    }

    /// Columns whose dual changed since the last call (live or not, unsorted).
    pub fn take_moved(&mut self) -> Vec<u32> {
        let moved = std::mem::take(&mut self.moved);
        for &c in &moved {
            self.moved_noted[c as usize] = false;
        }
        moved
    }

    /// Row `r`'s dual, edges or match changed: its certificate share is checked again.
    #[inline]
    fn mark_row(&mut self, r: u32) {
        if !self.cert.row_marked[r as usize] {
            self.cert.row_marked[r as usize] = true;
            self.cert.rows.push(r);
        }
    }

    /// Column `c`'s dual or match changed: it and every edge into it are checked again.
    #[inline]
    fn mark_col(&mut self, c: u32) {
        if !self.cert.col_marked[c as usize] {
            self.cert.col_marked[c as usize] = true;
            self.cert.cols.push(c);
        }
    }

    #[inline]
    fn note_row(&mut self, r: u32) {
        if !self.row_noted[r as usize] {
            self.row_noted[r as usize] = true;
            self.changed_rows.push(r);
        }
    }

    #[inline]
    fn note_col(&mut self, c: u32) {
        if !self.col_noted[c as usize] {
            self.col_noted[c as usize] = true;
            self.changed_cols.push(c);
        }
    }

    /// Rows and columns whose dual rose since the last call (sorted; live or not).
    pub fn take_changed(&mut self) -> (Vec<u32>, Vec<u32>) {
        let mut rows = std::mem::take(&mut self.changed_rows);
        let mut cols = std::mem::take(&mut self.changed_cols);
        for &r in &rows {
            self.row_noted[r as usize] = false;
        }
        for &c in &cols {
            self.col_noted[c as usize] = false;
        }
        rows.sort_unstable();
        cols.sort_unstable();
        (rows, cols)
    }

    /// Row dual (minimisation form).
    pub fn u(&self, r: u32) -> i128 {
        self.u[r as usize]
    }

    /// Column dual (minimisation form, `<= 0`).
    pub fn v(&self, c: u32) -> i128 {
        self.v[c as usize]
    }

    /// Does row `r` hold an edge into column `c`?
    pub fn has_edge(&self, r: u32, c: u32) -> bool {
        self.rows[r as usize]
            .binary_search_by_key(&c, |e| e.col)
            .is_ok()
    }

    /// Rows with an edge into column `c`, sorted.
    pub fn col_rows(&self, c: u32) -> &[u32] {
        &self.cols[c as usize]
    }

    /// Adds edges to row `r` (found by pricing, possibly with negative reduced cost) and
    /// queues the row for re-augmentation.
    pub fn add_row_edges(&mut self, r: u32, edges: &[Edge]) {
        for e in edges {
            self.set_edge(r, e.col, Some((e.w, e.t)));
        }
        if self.col4row[r as usize] == NONE {
            self.pending.push(r);
        } else {
            self.unassign_row(r);
        }
    }

    /// Adds `delta` to the score of every pair of row `r` except its private "unmatched"
    /// column `dummy` (given for applicants, whose pairs must stay above 0: the others are
    /// dropped). The row keeps its match when the duals can absorb the shift, else it is
    /// re-augmented; either way it is noted for pricing, since pairs outside the graph moved
    /// with it or became eligible.
    pub fn shift_row(&mut self, r: u32, delta: i64, dummy: Option<u32>) {
        let ru = r as usize;
        let mut dropped = Vec::new();
        for e in self.rows[ru].iter_mut() {
            if Some(e.col) == dummy {
                continue;
            }
            e.w += delta;
            if dummy.is_some() && e.w <= 0 {
                dropped.push(e.col);
            }
            let cu = e.col as usize;
            if let Ok(k) = self.cols[cu].binary_search(&r) {
                self.col_cost[cu][k] = e.cost();
            }
        }
        self.mark_row(r);
        for &c in &dropped {
            self.set_edge(r, c, None);
        }
        self.note_row(r);
        let matched = self.col4row[ru];
        if matched == NONE {
            self.pending.push(r);
            return;
        }
        if dropped.contains(&matched) {
            self.unassign_row(r);
            return;
        }
        if Some(matched) != dummy {
            // Matched to a unit: its pairs all moved by delta, so does the row's dual.
            self.u[ru] -= i128::from(delta) << 64;
            self.mark_row(r);
        }
        let u = self.u[ru];
        let feasible = self.rows[ru]
            .iter()
            .all(|e| e.cost() - u - self.v[e.col as usize] >= 0);
        if !feasible {
            self.unassign_row(r);
        }
    }

    /// Lowers the dual of column `c` to `v` (making newly added edges into it feasible); its
    /// row, if any, is re-augmented and the column repaired.
    pub fn lower_col(&mut self, c: u32, v: i128) {
        if v < self.v[c as usize] {
            self.unassign_col(c);
            self.v[c as usize] = v;
            self.suspects.push(c);
            self.mark_col(c);
            self.note_moved(c);
        }
    }

    pub fn add_row(&mut self, r: u32) {
        self.grow_rows(r as usize);
        debug_assert!(!self.row_live[r as usize]);
        self.row_live[r as usize] = true;
        self.n_live_rows += 1;
        self.u[r as usize] = 0;
        self.col4row[r as usize] = NONE;
        self.rows[r as usize].clear();
        self.pending.push(r);
        self.mark_row(r);
    }

    fn unassign_row(&mut self, r: u32) {
        let c = self.col4row[r as usize];
        if c != NONE {
            self.col4row[r as usize] = NONE;
            self.row4col[c as usize] = NONE;
            self.suspects.push(c);
            self.pending.push(r);
            self.mark_row(r);
            self.mark_col(c);
        }
    }

    fn unassign_col(&mut self, c: u32) {
        let r = self.row4col[c as usize];
        if r != NONE {
            self.unassign_row(r);
        }
    }

    pub fn remove_row(&mut self, r: u32) {
        self.unassign_row(r);
        let edges = std::mem::take(&mut self.rows[r as usize]);
        for e in &edges {
            let list = &mut self.cols[e.col as usize];
            if let Ok(k) = list.binary_search(&r) {
                list.remove(k);
                self.col_cost[e.col as usize].remove(k);
            }
        }
        self.row_live[r as usize] = false;
        self.n_live_rows -= 1;
        self.mark_row(r);
    }

    /// Removes a column and all its edges; the column must not be any row's last option.
    pub fn remove_col(&mut self, c: u32) {
        self.unassign_col(c);
        let rows = std::mem::take(&mut self.cols[c as usize]);
        self.col_cost[c as usize].clear();
        for r in rows {
            let list = &mut self.rows[r as usize];
            if let Ok(k) = list.binary_search_by_key(&c, |e| e.col) {
                list.remove(k);
            }
            self.mark_row(r);
        }
        self.col_live[c as usize] = false;
        self.v[c as usize] = 0;
        self.mark_col(c);
        self.note_moved(c);
    }

    /// Replaces every edge of row `r` (edges sorted by column); the row is re-augmented.
    pub fn set_row(&mut self, r: u32, edges: Vec<Edge>) {
        debug_assert!(edges.windows(2).all(|p| p[0].col < p[1].col));
        self.unassign_row(r);
        self.pending.push(r);
        self.mark_row(r);
        let old = std::mem::replace(&mut self.rows[r as usize], edges);
        // Merge old and new column sets to update the column lists.
        let new = &self.rows[r as usize];
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let a = old.get(i).map_or(u32::MAX, |e| e.col);
            let b = new.get(j).map_or(u32::MAX, |e| e.col);
            if a == b {
                if let Ok(k) = self.cols[b as usize].binary_search(&r) {
                    self.col_cost[b as usize][k] = new[j].cost();
                }
                i += 1;
                j += 1;
            } else if a < b {
                let list = &mut self.cols[a as usize];
                if let Ok(k) = list.binary_search(&r) {
                    list.remove(k);
                    self.col_cost[a as usize].remove(k);
                }
                i += 1;
            } else {
                let list = &mut self.cols[b as usize];
                match list.binary_search(&r) {
                    Err(k) => {
                        list.insert(k, r);
                        self.col_cost[b as usize].insert(k, new[j].cost());
                    }
                    Ok(k) => self.col_cost[b as usize][k] = new[j].cost(),
                }
                j += 1;
            }
        }
    }

    /// Sets or removes edge (r, c) of a row that keeps its other edges. Call
    /// [`Warm::repair_col`] for `c` once all its edges are set.
    pub fn set_edge(&mut self, r: u32, c: u32, e: Option<(i64, u64)>) {
        self.mark_row(r);
        let list = &mut self.rows[r as usize];
        let cu = c as usize;
        match (list.binary_search_by_key(&c, |e| e.col), e) {
            (Ok(k), Some((w, t))) => {
                list[k].w = w;
                list[k].t = t;
                let cost = list[k].cost();
                if let Ok(k) = self.cols[cu].binary_search(&r) {
                    self.col_cost[cu][k] = cost;
                }
            }
            (Ok(k), None) => {
                list.remove(k);
                let cl = &mut self.cols[cu];
                if let Ok(k) = cl.binary_search(&r) {
                    cl.remove(k);
                    self.col_cost[cu].remove(k);
                }
            }
            (Err(k), Some((w, t))) => {
                let e = Edge { w, t, col: c };
                list.insert(k, e);
                let cl = &mut self.cols[cu];
                match cl.binary_search(&r) {
                    Err(k) => {
                        cl.insert(k, r);
                        self.col_cost[cu].insert(k, e.cost());
                    }
                    Ok(k) => self.col_cost[cu][k] = e.cost(),
                }
            }
            (Err(_), None) => {}
        }
    }

    /// Changes the weights of existing edges `(r, c, w, t)`, keeping matches where the duals
    /// can absorb the change: a matched edge stays tight by moving its row's dual (the row is
    /// re-augmented only if another of its edges would then be violated), and a column with
    /// an unmatched edge that became violated is repaired. Costs what changed, so that mix-cap
    /// prices can move many times per re-match.
    pub fn reweight(&mut self, changes: &[(u32, u32, i64, u64)]) {
        let mut repair = Vec::new();
        let mut rows = Vec::new();
        for &(r, c, w, t) in changes {
            let ru = r as usize;
            let list = &mut self.rows[ru];
            let Ok(k) = list.binary_search_by_key(&c, |e| e.col) else {
                continue;
            };
            list[k].w = w;
            list[k].t = t;
            let cost = list[k].cost();
            if let Ok(k) = self.cols[c as usize].binary_search(&r) {
                self.col_cost[c as usize][k] = cost;
            }
            let red = cost - self.u[ru] - self.v[c as usize];
            self.mark_row(r);
            if self.col4row[ru] == c {
                if red != 0 {
                    self.u[ru] += red;
                    rows.push(r);
                }
            } else if red < 0 && self.col4row[ru] != NONE {
                repair.push(c);
            }
        }
        rows.sort_unstable();
        rows.dedup();
        for r in rows {
            let ru = r as usize;
            let u = self.u[ru];
            let feasible = self.rows[ru]
                .iter()
                .all(|e| e.cost() - u - self.v[e.col as usize] >= 0);
            self.note_row(r);
            if !feasible {
                self.unassign_row(r);
            }
        }
        repair.sort_unstable();
        repair.dedup();
        for c in repair {
            let cu = c as usize;
            let needed = self.cols[cu]
                .iter()
                .zip(&self.col_cost[cu])
                .any(|(&r, &x)| {
                    let ru = r as usize;
                    self.col4row[ru] != NONE
                        && self.col4row[ru] != c
                        && x - self.u[ru] - self.v[cu] < 0
                });
            if needed {
                self.repair_col(c);
            }
        }
    }

    /// Removes edge `(r, c)`, unmatching the row first if it used it.
    pub fn drop_edge(&mut self, r: u32, c: u32) {
        if self.col4row[r as usize] == c {
            self.unassign_row(r);
        }
        self.set_edge(r, c, None);
    }

    /// Weight `(w, t)` of edge `(r, c)`, if any.
    pub fn edge(&self, r: u32, c: u32) -> Option<(i64, u64)> {
        let list = &self.rows[r as usize];
        list.binary_search_by_key(&c, |e| e.col)
            .ok()
            .map(|k| (list[k].w, list[k].t))
    }

    fn cost(&self, r: u32, c: u32) -> Option<i128> {
        let list = &self.rows[r as usize];
        list.binary_search_by_key(&c, |e| e.col)
            .ok()
            .map(|k| list[k].cost())
    }

    /// Restores dual feasibility on column `c` after its edges changed: its row is unassigned
    /// and its dual lowered to the largest feasible value for the matched rows.
    pub fn repair_col(&mut self, c: u32) {
        self.unassign_col(c);
        let mut best = 0i128;
        for (&r, &cost) in self.cols[c as usize].iter().zip(&self.col_cost[c as usize]) {
            if self.col4row[r as usize] == NONE {
                continue; // re-augmented later; Dijkstra tolerates its source's edges
            }
            best = best.min(cost - self.u[r as usize]);
        }
        self.v[c as usize] = best;
        self.suspects.push(c);
        self.note_col(c);
        self.mark_col(c);
        self.note_moved(c);
    }

    /// Forgets the matching and duals (cold start).
    pub fn reset(&mut self) {
        self.cert.all = true;
        self.pending.clear();
        self.suspects.clear();
        for c in 0..self.cols.len() {
            self.v[c] = 0;
            self.row4col[c] = NONE;
            self.note_moved(c as u32);
        }
        for r in 0..self.rows.len() {
            self.col4row[r] = NONE;
            if self.row_live[r] {
                self.pending.push(r as u32);
            }
        }
        // Greedy start: each row takes a cheapest free column at zero reduced cost.
        for r in 0..self.rows.len() {
            if !self.row_live[r] {
                continue;
            }
            let Some(best) = self.rows[r].iter().map(Edge::cost).min() else {
                continue;
            };
            self.u[r] = best;
            if let Some(e) = self.rows[r]
                .iter()
                .find(|e| e.cost() == best && self.row4col[e.col as usize] == NONE)
            {
                self.col4row[r] = e.col;
                self.row4col[e.col as usize] = r as u32;
            }
        }
    }

    /// Re-augments every pending row, then repairs freed columns with a positive dual.
    /// `false` when some row cannot be matched.
    pub fn run(&mut self) -> bool {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable();
        pending.dedup();
        let mut ok = true;
        for &r in &pending {
            if self.row_live[r as usize] && self.col4row[r as usize] == NONE && !self.augment(r) {
                ok = false;
            }
        }
        pending.clear();
        self.pending = pending;
        if !ok {
            return false;
        }
        let mut suspects = std::mem::take(&mut self.suspects);
        suspects.sort_unstable();
        suspects.dedup();
        for &c in &suspects {
            let cu = c as usize;
            if cu < self.cols.len()
                && self.col_live[cu]
                && self.row4col[cu] == NONE
                && self.v[cu] < 0
            {
                self.fix_column(c);
            }
        }
        suspects.clear();
        self.suspects = suspects;
        true
    }

    /// Shortest augmenting path from free row `cur` (Jonker–Volgenant step).
    fn augment(&mut self, cur: u32) -> bool {
        let cur = cur as usize;
        let mut touched: Vec<u32> = Vec::new();
        let mut sr: Vec<u32> = Vec::new();
        let mut sc: Vec<u32> = Vec::new();
        let mut heap: BinaryHeap<Reverse<(i128, bool, u32)>> = BinaryHeap::new();
        let mut min_val = 0i128;
        let mut i = cur;
        let sink;
        loop {
            sr.push(i as u32);
            let ui = self.u[i];
            for e in &self.rows[i] {
                let j = e.col as usize;
                if self.scanned[j] {
                    continue;
                }
                let r = min_val + e.cost() - ui - self.v[j];
                if r < self.spc[j] {
                    if self.spc[j] == INF {
                        touched.push(j as u32);
                    }
                    self.spc[j] = r;
                    self.path[j] = i as u32;
                    heap.push(Reverse((r, self.row4col[j] != NONE, j as u32)));
                }
            }
            let next = loop {
                match heap.pop() {
                    None => break None,
                    Some(Reverse((d, _, j))) => {
                        let j = j as usize;
                        if !self.scanned[j] && d == self.spc[j] {
                            break Some((d, j));
                        }
                    }
                }
            };
            let Some((d, j)) = next else {
                for &j in &touched {
                    self.spc[j as usize] = INF;
                }
                for &j in &sc {
                    self.scanned[j as usize] = false;
                }
                return false;
            };
            min_val = d;
            self.scanned[j] = true;
            sc.push(j as u32);
            if self.row4col[j] == NONE {
                sink = j;
                break;
            }
            i = self.row4col[j] as usize;
        }
        self.u[cur] += min_val;
        self.note_row(cur as u32);
        self.mark_row(cur as u32);
        for &r in &sr {
            let ru = r as usize;
            if ru != cur {
                let rise = min_val - self.spc[self.col4row[ru] as usize];
                if rise > 0 {
                    self.u[ru] += rise;
                    self.note_row(r);
                    self.mark_row(r);
                }
            }
        }
        for &j in &sc {
            let ju = j as usize;
            let fall = min_val - self.spc[ju];
            if fall != 0 {
                self.v[ju] -= fall;
                self.mark_col(j);
                self.note_moved(j);
            }
        }
        let mut j = sink;
        loop {
            let r = self.path[j] as usize;
            self.mark_row(r as u32);
            self.mark_col(j as u32);
            self.row4col[j] = r as u32;
            let prev = self.col4row[r];
            self.col4row[r] = j as u32;
            if r == cur {
                break;
            }
            j = prev as usize;
        }
        for &j in &touched {
            self.spc[j as usize] = INF;
        }
        for &j in &sc {
            self.scanned[j as usize] = false;
        }
        true
    }

    /// Column-side Dijkstra for a free column `j0` with `v < 0`: raises its dual to 0, or
    /// shifts rows along an alternating path so that a column with final dual 0 is freed
    /// instead. Keeps every row matched and all reduced costs non-negative.
    fn fix_column(&mut self, j0: u32) {
        // Labels d on columns; termination key d - v (the rise needed to free it).
        let mut touched: Vec<u32> = vec![j0];
        let mut sc: Vec<u32> = Vec::new();
        // (key, is_arrival, column): terminations sort before arrivals at equal keys.
        let mut heap: BinaryHeap<Reverse<(i128, bool, u32)>> = BinaryHeap::new();
        self.spc[j0 as usize] = 0;
        self.path[j0 as usize] = NONE;
        heap.push(Reverse((0, true, j0)));
        let (big_d, end) = loop {
            let Reverse((key, arrival, c)) = heap.pop().expect("j0's termination is queued");
            let cu = c as usize;
            if arrival {
                if self.scanned[cu] || key != self.spc[cu] {
                    continue;
                }
                self.scanned[cu] = true;
                sc.push(c);
                let dc = self.spc[cu];
                heap.push(Reverse((dc - self.v[cu], false, c)));
                // Rows that could move into c, freeing their own column.
                for idx in 0..self.cols[cu].len() {
                    let k = self.cols[cu][idx];
                    let cost = self.col_cost[cu][idx];
                    let kc = self.col4row[k as usize];
                    if kc == c || kc == NONE {
                        continue;
                    }
                    let kcu = kc as usize;
                    if self.scanned[kcu] {
                        continue;
                    }
                    let r = cost - self.u[k as usize] - self.v[cu];
                    let d = dc + r;
                    if d < self.spc[kcu] {
                        if self.spc[kcu] == INF {
                            touched.push(kc);
                        }
                        self.spc[kcu] = d;
                        self.path[kcu] = c; // row k = row4col[kc] moves to c
                        heap.push(Reverse((d, true, kc)));
                    }
                }
            } else if self.scanned[cu] && key == self.spc[cu] - self.v[cu] {
                break (key, c);
            }
        };
        for &c in &sc {
            let cu = c as usize;
            let delta = big_d - self.spc[cu];
            if delta > 0 {
                self.note_col(c);
            }
            if delta != 0 {
                self.v[cu] += delta;
                self.mark_col(c);
                self.note_moved(c);
                let k = self.row4col[cu];
                if k != NONE {
                    self.u[k as usize] -= delta;
                    self.mark_row(k);
                }
            }
        }
        // Shift rows along the path: the row on column c moves to path[c].
        let mut c = end;
        let mut k = self.row4col[end as usize];
        self.row4col[end as usize] = NONE;
        self.mark_col(end);
        while c != j0 {
            let to = self.path[c as usize];
            let next = self.row4col[to as usize];
            self.col4row[k as usize] = to;
            self.row4col[to as usize] = k;
            self.mark_row(k);
            self.mark_col(to);
            k = next;
            c = to;
        }
        debug_assert_eq!(self.v[end as usize], 0);
        for &c in &touched {
            self.spc[c as usize] = INF;
            self.path[c as usize] = NONE;
        }
        for &c in &sc {
            self.scanned[c as usize] = false;
        }
    }

    pub fn col_of(&self, r: u32) -> u32 {
        self.col4row[r as usize]
    }

    /// Column of every row slot (`NONE` where none).
    pub fn matching(&self) -> Vec<u32> {
        self.col4row.clone()
    }
}

#[cfg(test)]
mod tests;
