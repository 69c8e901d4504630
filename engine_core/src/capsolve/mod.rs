//! Exact matching under mix caps, kept warm between re-matches: a price `λ_k ≥ 0` on each cap
//! row, charged on every pair that counts towards it, is moved by a cutting-plane model of
//! the Lagrangian bound ([`dual`]) until a matching that keeps every cap, met on the way,
//! weighs as much as the bound at some prices; that proves it optimal. Where no such prices
//! exist (the relaxation is fractional, as it often is at the level of the ties), branch and
//! bound on "household `r` counts towards row `k`" (in / out) finishes the proof, within a
//! node budget.
//!
//! The proof: for prices `λ ≥ 0`, any matching `y` that keeps the caps has
//! `W(y) ≤ W(y) − Σ λ_k (a_k(y) − cap_k) ≤ max_x [W(x) − Σ λ_k a_k(x)] + Σ λ_k cap_k = L(λ)`.
//! So a matching `x` that keeps the caps with `W(x) = min over the prices tried of L(λ)` is
//! optimal (at such prices, `x` attains the max and fills every priced row). Weights are the
//! solver's lexicographic `w·2⁶⁴ + t` times `2^SCALE` and prices are integers in the same
//! units (so a price may fall between two weights), so the proof is exact, and (ties being
//! broken per pair) the optimum is unique: the answer does not depend on the prices the search
//! started from.
//!
//! At scale the root first solves the linear relaxation ([`lp`]): in points over all pairs,
//! then in ties over the pairs of its optimal face with the points held. Their duals, rounded
//! and made feasible in integers, prove which pairs an allocation better than the best one
//! found may use; where that leaves its own pairs only, it is proven without a search, and
//! otherwise the search and the tree run on those few pairs ([`CapSolver::by_relaxation`]).
//!
//! The priced weights live in a [`Warm`] assignment that holds a few pairs per row ([`held`]);
//! the other eligible pairs are kept in `base` and priced against the duals after each
//! re-augmentation. A price move reweights the held pairs of one row's scope and re-augments
//! only the rows that no longer fit ([`Warm::reweight`]), so both the search and the next
//! re-match start from the last prices.
//!
//! Cover rows (a rule in [`CapSolver::with_cover`]) ask the other way round: at least `b_k`
//! flagged rows in the scope. They are kept in the same form, `−a_k ≤ −b_k`, so every count and
//! cap below is signed (`σ_k a_k ≤ σ_k b_k`) and the price `λ_k ≥ 0` is a bonus on the pairs
//! that count. A cover row may stay unmet at a cost of [`COVER_COST`] (its price never goes
//! higher): no scope nobody can cover makes the problem infeasible, and any scope that can be
//! covered is, wherever the scores of the whole portfolio sum below that cost.

use crate::warm::{Edge, Warm, NONE};

/// Highest price: above any difference of weights (scores stay below 2³⁰ points), low
/// enough that sums over a national portfolio stay far inside `i128`. A row still over-full
/// at this price cannot be brought under its cap: the node's bound falls, and it is pruned.
const MAX_PRICE: i128 = 1 << (96 + SCALE);

/// Weights and prices inside the solver are the solver's weights times `2^SCALE`: a price
/// may then sit between two integer weights, as the optimal prices of a node often do (the
/// relaxation's optimum is a ratio), and a bound that integer prices leave a unit or two
/// above the best matching falls below it. Every matching's weight is a multiple of
/// `2^SCALE`, so a bound is rounded down to one ([`floor_bound`]).
pub(super) const SCALE: u32 = 8;

/// The bound `b` (scaled) rounded down to what a matching can weigh.
pub(super) fn floor_bound(b: i128) -> i128 {
    if b == i128::MAX {
        b
    } else {
        (b >> SCALE) << SCALE
    }
}

/// Highest cost of a cover row left unmet (and its highest price): 2²⁶ points, far below
/// [`MAX_PRICE`] (a pair counts towards at most 32 rows, so the caps' prices still outweigh
/// every cover's).
pub const COVER_COST: i128 = MAX_PRICE >> 6;

/// What [`CapSolver::solve`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solved {
    /// Column of each row slot (`NONE` for rows not live).
    pub col_of_row: Vec<u32>,
    /// Weight of the matching and the proven bound, in `w·2⁶⁴ + t` units (the bound on the
    /// weight of matchings that meet as many cover rows).
    pub value: i128,
    pub bound: i128,
    pub optimal: bool,
    /// Search nodes: 1 when the prices alone prove the optimum.
    pub nodes: u64,
}

impl Solved {
    /// An allocation proven optimal (its weight is the bound) after `nodes` nodes.
    pub(super) fn proven(value: i128, col_of_row: Vec<u32>, nodes: u64) -> Self {
        Solved {
            col_of_row,
            value,
            bound: value,
            optimal: true,
            nodes,
        }
    }
}

/// The capped assignment problem, kept between re-matches.
#[derive(Clone, Debug, Default)]
pub struct CapSolver {
    warm: Warm,
    /// Unpriced edges of each row, sorted by column.
    base: Vec<Vec<Edge>>,
    /// Rows with an edge of `base` into each column, sorted.
    base_cols: Vec<Vec<u32>>,
    /// Bit `r`: the row is flagged for rule `r`.
    flags: Vec<u32>,
    row_live: Vec<bool>,
    col_live: Vec<bool>,
    dummy: Vec<bool>,
    n_rules: usize,
    /// Cap row of column `c` under rule `r` at `c * n_rules + r` (`NONE`: none).
    col_cons: Vec<u32>,
    /// Rule of each cap row, its cap and its price.
    rule_of: Vec<usize>,
    cap: Vec<i64>,
    lambda: Vec<i128>,
    /// Columns of each cap row.
    members: Vec<Vec<u32>>,
    /// Per row slot, its rank in household id order (deterministic choices in the search).
    rank: Vec<u32>,
    /// The kept prices proved the last solve.
    settled: bool,
    /// Edges per row held in `warm` besides the home and the private column (0: all). The
    /// rest of `base` is priced against the duals after each re-augmentation and brought in
    /// only where it would improve the matching, so a price move re-augments over a sparse
    /// graph.
    keep: usize,
    /// Each row's home column (a sitting tenant's unit; `NONE` for an applicant): always held,
    /// so that the held graph always has a matching.
    home: Vec<u32>,
    /// Bit `r`: rule `r` is a cover rule (at least one flagged row per scope).
    cover: u32,
    /// Cost of a flagged row a cover row lacks, set per solve ([`CapSolver::cover_cost`]).
    cover_cost: i128,
    /// Ties are a lottery above pair bits: the price search goes on in the pair bits' unit
    /// where it closes in ties ([`CapSolver::with_pair_level`]).
    pair_level: bool,
    /// Live rows from which the root solves the relaxation ([`lp::LP_ROWS`]).
    lp_rows: usize,
    /// The last solve's column per row: carried into the next as its first allocation that
    /// keeps the caps ([`CapSolver::carried`]).
    last: Vec<u32>,
    /// Per row, the columns of the pairs the last relaxation's solution used: the next one
    /// starts with them, so that an event's few changes are priced in within a round or two.
    lp_cols: Vec<Vec<u32>>,
}

/// Edges held per row by default: the uncapped engine's restricted graph holds as many.
pub const KEEP: usize = 12;

impl CapSolver {
    pub fn new(n_rules: usize) -> Self {
        assert!(n_rules <= 32, "at most 32 cap rules");
        CapSolver {
            n_rules,
            keep: KEEP,
            cover_cost: COVER_COST,
            lp_rows: lp::LP_ROWS,
            ..Self::default()
        }
    }

    /// Rules whose rows are cover rows (bit `r` for rule `r`): at least as many flagged rows
    /// counted in each of their scopes as the row's number in [`CapSolver::set_table`], where
    /// that many can be.
    pub fn with_cover(mut self, rules: u32) -> Self {
        self.cover = rules;
        self
    }

    /// Ties read under a lottery (policies with a `lottery_seed`): the price search has a third,
    /// finest level in the unit of the pair bits below the lottery numbers.
    pub fn with_pair_level(mut self, on: bool) -> Self {
        self.pair_level = on;
        self
    }

    /// Whether cap row `k` is a cover row.
    pub(super) fn is_cover(&self, k: usize) -> bool {
        self.cover >> self.rule_of[k] & 1 == 1
    }

    /// Highest price of cap row `k`.
    pub(super) fn max_price(&self, k: usize) -> i128 {
        if self.is_cover(k) {
            self.cover_cost
        } else {
            MAX_PRICE
        }
    }

    /// Whether moving row `k`'s price from `from` to `to` raises the weight of the pairs that
    /// count towards it (those must be priced again).
    pub(super) fn raises(&self, k: usize, from: i128, to: i128) -> bool {
        if self.is_cover(k) {
            to > from
        } else {
            to < from
        }
    }

    /// Solves the relaxation at the root from `rows` live rows on (0: always).
    pub fn with_lp_rows(mut self, rows: usize) -> Self {
        self.lp_rows = rows;
        self
    }

    /// Holds `keep` edges per row in the assignment (0: every edge), the rest priced.
    pub fn with_keep(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }

    fn grow_cols(&mut self, c: usize) {
        if c >= self.col_live.len() {
            self.col_live.resize(c + 1, false);
            self.base_cols.resize(c + 1, Vec::new());
            self.dummy.resize(c + 1, false);
            self.col_cons.resize((c + 1) * self.n_rules, NONE);
        }
    }

    fn grow_rows(&mut self, r: usize) {
        if r >= self.row_live.len() {
            self.row_live.resize(r + 1, false);
            self.base.resize(r + 1, Vec::new());
            self.flags.resize(r + 1, 0);
            self.rank.resize(r + 1, u32::MAX);
            self.home.resize(r + 1, NONE);
        }
    }

    pub fn add_col(&mut self, c: u32, dummy: bool) {
        self.grow_cols(c as usize);
        self.col_live[c as usize] = true;
        self.dummy[c as usize] = dummy;
        self.warm.add_col(c, dummy);
    }

    pub fn remove_col(&mut self, c: u32) {
        for r in std::mem::take(&mut self.base_cols[c as usize]) {
            let list = &mut self.base[r as usize];
            if let Ok(k) = list.binary_search_by_key(&c, |e| e.col) {
                list.remove(k);
            }
            if self.home[r as usize] == c {
                self.home[r as usize] = NONE;
            }
        }
        self.warm.remove_col(c);
        self.col_live[c as usize] = false;
        let n = self.n_rules;
        self.col_cons[c as usize * n..(c as usize + 1) * n].fill(NONE);
    }

    /// The cap rows pair `(r, c)` counts towards: under each rule row `r` is flagged for,
    /// the one whose scope holds column `c`, if any.
    fn counted_in(&self, r: usize, c: u32) -> impl Iterator<Item = usize> + '_ {
        let (f, n) = (self.flags[r], self.n_rules);
        (0..n)
            .filter(move |&rule| f >> rule & 1 == 1)
            .filter_map(move |rule| {
                let k = self.col_cons[c as usize * n + rule];
                (k != NONE).then_some(k as usize)
            })
    }

    /// The price charged on pair `(r, c)` (a cover row's is a bonus).
    fn penalty(&self, r: usize, c: u32, lambda: &[i128]) -> i128 {
        // Most rows are flagged for no rule: their pairs carry no price to look up.
        if self.flags[r] == 0 {
            return 0;
        }
        self.counted_in(r, c)
            .map(|k| {
                if self.is_cover(k) {
                    -lambda[k]
                } else {
                    lambda[k]
                }
            })
            .sum()
    }

    /// Edge `e`'s weight (scaled) less `pen`, as the assignment holds it.
    fn priced(e: &Edge, pen: i128) -> (i64, u64) {
        Self::priced_in(e, pen, SCALE)
    }

    /// Edge `e`'s weight times `2^scale` less `pen`, split as an edge holds it.
    fn priced_in(e: &Edge, pen: i128, scale: u32) -> (i64, u64) {
        let v = (e.weight() << scale) - pen;
        ((v >> 64) as i64, v as u64)
    }

    /// Unpriced edge `e` of row `r` at the prices `lambda`.
    fn priced_at(&self, r: usize, e: &Edge, lambda: &[i128]) -> Edge {
        let (w, t) = Self::priced(e, self.penalty(r, e.col, lambda));
        Edge { w, t, col: e.col }
    }

    /// `Σ λ_k cap_k`: what the prices add to the priced optimum in the bound `L(λ)`.
    fn slack(&self, lambda: &[i128]) -> i128 {
        lambda
            .iter()
            .zip(&self.cap)
            .map(|(&l, &c)| l * i128::from(c))
            .sum()
    }

    /// Whether column `c` is a unit in cap row `k`'s scope.
    fn inside(&self, c: u32, k: usize) -> bool {
        !self.dummy[c as usize]
            && self.col_cons[c as usize * self.n_rules + self.rule_of[k]] == k as u32
    }

    /// Replaces row `r` (adding it if new): its flags, its rank, its edges (sorted by
    /// column, a private dummy column included for an applicant) and its home column.
    pub fn set_row(&mut self, r: u32, flags: u32, rank: u32, edges: Vec<Edge>, home: Option<u32>) {
        let ru = r as usize;
        self.grow_rows(ru);
        if !self.row_live[ru] {
            self.row_live[ru] = true;
            self.warm.add_row(r);
        }
        self.flags[ru] = flags;
        self.rank[ru] = rank;
        self.home[ru] = home.unwrap_or(NONE);
        let priced: Vec<Edge> = edges
            .iter()
            .map(|e| self.priced_at(ru, e, &self.lambda))
            .collect();
        self.unlist(r);
        for e in &edges {
            let list = &mut self.base_cols[e.col as usize];
            if let Err(k) = list.binary_search(&r) {
                list.insert(k, r);
            }
        }
        self.base[ru] = edges;
        let held = self.held(ru, priced);
        self.warm.set_row(r, held);
    }

    pub fn remove_row(&mut self, r: u32) {
        let ru = r as usize;
        if ru < self.row_live.len() && self.row_live[ru] {
            self.warm.remove_row(r);
            self.row_live[ru] = false;
            self.unlist(r);
            self.base[ru].clear();
        }
    }

    /// Takes row `r` off the column lists of its edges.
    fn unlist(&mut self, r: u32) {
        for e in &self.base[r as usize] {
            let list = &mut self.base_cols[e.col as usize];
            if let Ok(k) = list.binary_search(&r) {
                list.remove(k);
            }
        }
    }

    /// Sets or removes the unpriced edge `(r, c)` of a live row; call [`CapSolver::repair_col`]
    /// once a column's edges are all set.
    pub fn set_edge(&mut self, r: u32, c: u32, e: Option<(i64, u64)>) {
        let ru = r as usize;
        let list = &mut self.base[ru];
        match (list.binary_search_by_key(&c, |e| e.col), e) {
            (Ok(k), Some((w, t))) => list[k] = Edge { w, t, col: c },
            (Ok(k), None) => {
                list.remove(k);
                let rows = &mut self.base_cols[c as usize];
                if let Ok(k) = rows.binary_search(&r) {
                    rows.remove(k);
                }
            }
            (Err(k), Some((w, t))) => {
                list.insert(k, Edge { w, t, col: c });
                let rows = &mut self.base_cols[c as usize];
                if let Err(k) = rows.binary_search(&r) {
                    rows.insert(k, r);
                }
            }
            (Err(_), None) => {}
        }
        let priced = e.map(|(w, t)| {
            let pen = self.penalty(ru, c, &self.lambda);
            Self::priced(&Edge { w, t, col: c }, pen)
        });
        // A new edge the assignment does not hold waits for pricing.
        if self.keep == 0 || self.warm.has_edge(r, c) || c == self.home[ru] {
            self.warm.set_edge(r, c, priced);
        }
    }

    pub fn repair_col(&mut self, c: u32) {
        self.warm.repair_col(c);
    }

    /// Sets the cap rows: the row of each column under each rule (`col_cons[c * n_rules + r]`),
    /// each row's rule, cap (a cover row's least count) and starting price. Pairs whose price changes are reweighted.
    pub fn set_table(
        &mut self,
        col_cons: Vec<u32>,
        rule_of: Vec<usize>,
        cap: Vec<i64>,
        lambda: Vec<i128>,
    ) {
        let n = self.n_rules;
        let n_cols = self.col_live.len();
        let mut col_cons = col_cons;
        col_cons.resize(n_cols * n, NONE);
        let mut changes = Vec::new();
        for c in 0..n_cols {
            if !self.col_live[c] {
                continue;
            }
            let differs = (0..n).any(|rule| {
                let (a, b) = (self.col_cons[c * n + rule], col_cons[c * n + rule]);
                let pa = if a == NONE {
                    0
                } else {
                    self.lambda[a as usize]
                };
                let pb = if b == NONE { 0 } else { lambda[b as usize] };
                pa != pb
            });
            if differs {
                changes.push(c as u32);
            }
        }
        let mut members = vec![Vec::new(); cap.len()];
        for c in 0..n_cols {
            for rule in 0..n {
                let k = col_cons[c * n + rule];
                if k != NONE && self.col_live[c] {
                    members[k as usize].push(c as u32);
                }
            }
        }
        self.col_cons = col_cons;
        self.rule_of = rule_of;
        // Cover rows are kept as `−a ≤ −least`.
        self.cap = cap;
        for k in 0..self.cap.len() {
            if self.is_cover(k) {
                self.cap[k] = -self.cap[k];
            }
        }
        self.lambda = lambda;
        self.members = members;
        let mut batch = Vec::new();
        for c in changes {
            for &r in self.warm.col_rows(c) {
                if let Some(p) = self.priced_edge(r, c, &self.lambda) {
                    batch.push(p);
                }
            }
        }
        self.warm.reweight(&batch);
    }

    /// The current prices (in cap row order).
    pub fn lambda(&self) -> &[i128] {
        &self.lambda
    }

    /// Row `r`'s unpriced edge into column `c`, if it has one.
    fn base_edge(&self, r: usize, c: u32) -> Option<&Edge> {
        let list = &self.base[r];
        list.binary_search_by_key(&c, |e| e.col)
            .ok()
            .map(|k| &list[k])
    }

    fn priced_edge(&self, r: u32, c: u32, lambda: &[i128]) -> Option<(u32, u32, i64, u64)> {
        let e = self.base_edge(r as usize, c)?;
        let (w, t) = Self::priced(e, self.penalty(r as usize, c, lambda));
        Some((r, c, w, t))
    }

    /// Moves cap row `k`'s price to `to` in `warm`.
    fn move_price(
        &self,
        warm: &mut Warm,
        lambda: &mut [i128],
        k: usize,
        to: i128,
        batch: &mut Vec<(u32, u32, i64, u64)>,
    ) {
        lambda[k] = to;
        let bit = 1u32 << self.rule_of[k];
        for &c in &self.members[k] {
            for &r in warm.col_rows(c) {
                if self.flags[r as usize] & bit != 0 {
                    if let Some(p) = self.priced_edge(r, c, lambda) {
                        batch.push(p);
                    }
                }
            }
        }
    }

    /// Signed count of each cap row in `warm`'s matching (a cover row's is negative).
    fn counts(&self, warm: &Warm) -> Vec<i64> {
        self.tally(&self.counted_pairs(|r| warm.col_of(r)))
    }

    /// `r << 32 | k` for each flagged row `r` that counts towards cap row `k` when each row
    /// takes column `col_of(r)`, sorted.
    pub(super) fn counted_pairs(&self, col_of: impl Fn(u32) -> u32) -> Vec<u64> {
        let mut out = Vec::new();
        for r in 0..self.row_live.len() {
            if !self.row_live[r] || self.flags[r] == 0 {
                continue;
            }
            let c = col_of(r as u32);
            if c == NONE || self.dummy[c as usize] {
                continue;
            }
            out.extend(self.counted_in(r, c).map(|k| (r as u64) << 32 | k as u64));
        }
        out
    }

    /// Signed count of each cap row over `pairs` ([`CapSolver::counted_pairs`]).
    pub(super) fn tally(&self, pairs: &[u64]) -> Vec<i64> {
        let mut counts = vec![0i64; self.cap.len()];
        for &x in pairs {
            let k = x as u32 as usize;
            counts[k] += if self.is_cover(k) { -1 } else { 1 };
        }
        counts
    }

    /// Signed count of each cap row when row `r` takes column `cols[r]`.
    fn counts_of(&self, cols: &[u32]) -> Vec<i64> {
        self.tally(&self.counted_pairs(|r| cols.get(r as usize).copied().unwrap_or(NONE)))
    }

    /// The objective of a matching of unpriced weight `w` and signed `counts`: `None` if it
    /// exceeds a cap, else `w` less the cover cost for each flagged row a cover row lacks.
    fn objective(&self, w: i128, counts: &[i64]) -> Option<i128> {
        let mut v = w;
        for (k, (&a, &b)) in counts.iter().zip(&self.cap).enumerate() {
            if a > b {
                if !self.is_cover(k) {
                    return None;
                }
                v -= i128::from(a - b) * self.cover_cost;
            }
        }
        Some(v)
    }

    /// The cost of a flagged row a cover row lacks: one point more than the weights of any two
    /// matchings can differ by, so that meeting cover rows always comes first (at most
    /// [`COVER_COST`]). As low as that, so that a search from no prices reaches it in few
    /// steps. Depends on the edges alone: a re-match and a solve from scratch agree on it.
    pub(super) fn span_cost(&self) -> i128 {
        let mut span: i128 = 1 << (64 + SCALE);
        for (r, edges) in self.base.iter().enumerate() {
            if !self.row_live[r] {
                continue;
            }
            // An applicant may also stay unmatched, at 0.
            let zero = if self.home[r] == NONE { Some(0) } else { None };
            let ws = edges.iter().map(|e| e.weight() << SCALE);
            let lo = ws.clone().chain(zero).min();
            let hi = ws.chain(zero).max();
            if let (Some(lo), Some(hi)) = (lo, hi) {
                span = span.saturating_add(hi - lo);
            }
        }
        span.min(COVER_COST)
    }

    /// Flagged rows the cover rows lack in the matching `cols`, all rows together.
    pub fn unmet(&self, cols: &[u32]) -> usize {
        let counts = self.counts_of(cols);
        (0..counts.len())
            .filter(|&k| self.is_cover(k) && counts[k] > self.cap[k])
            .map(|k| (counts[k] - self.cap[k]) as usize)
            .sum()
    }

    /// Weight of `warm`'s matching under the unpriced weights (scaled).
    fn value(&self, warm: &Warm) -> i128 {
        self.weight_of(|r| warm.col_of(r))
    }

    /// The unpriced weight (scaled) of the allocation giving row `r` column `cols[r]`.
    fn value_of(&self, cols: &[u32]) -> i128 {
        self.weight_of(|r| cols.get(r as usize).copied().unwrap_or(NONE))
    }

    fn weight_of(&self, col_of: impl Fn(u32) -> u32) -> i128 {
        let mut v = 0i128;
        for r in 0..self.row_live.len() {
            if !self.row_live[r] {
                continue;
            }
            if let Some(e) = self.base_edge(r, col_of(r as u32)) {
                v += e.weight();
            }
        }
        v << SCALE
    }

    fn matching(&self, warm: &Warm) -> Vec<u32> {
        (0..self.row_live.len())
            .map(|r| {
                if self.row_live[r] {
                    warm.col_of(r as u32)
                } else {
                    NONE
                }
            })
            .collect()
    }

    /// Every kept edge carries its unpriced weight minus its row's prices (tests).
    #[cfg(test)]
    pub fn check_prices(&self) -> Result<(), String> {
        for r in 0..self.row_live.len() {
            if !self.row_live[r] {
                continue;
            }
            for e in &self.base[r] {
                let want = Self::priced(e, self.penalty(r, e.col, &self.lambda));
                let got = self.warm.edge(r as u32, e.col);
                // A sparse assignment holds only some edges; those it holds are priced.
                if got.is_some_and(|g| g != want) || (got.is_none() && self.keep == 0) {
                    return Err(format!("edge ({r}, {}): {got:?}, want {want:?}", e.col));
                }
            }
        }
        Ok(())
    }

    /// Checks that the answer is a matching that keeps the caps (tests).
    #[cfg(test)]
    pub fn check(&self, s: &Solved) -> Result<(), String> {
        let mut used = std::collections::BTreeSet::new();
        let mut counts = vec![0i64; self.cap.len()];
        let n = self.n_rules;
        for (r, &c) in s.col_of_row.iter().enumerate() {
            if !self.row_live.get(r).copied().unwrap_or(false) {
                continue;
            }
            if c == NONE {
                return Err(format!("row {r} unmatched"));
            }
            if self.base_edge(r, c).is_none() {
                return Err(format!("row {r}: no edge to column {c}"));
            }
            if !used.insert(c) {
                return Err(format!("column {c} used twice"));
            }
            for rule in 0..n {
                if self.flags[r] >> rule & 1 == 1 {
                    let k = self.col_cons[c as usize * n + rule];
                    if k != NONE {
                        counts[k as usize] += if self.is_cover(k as usize) { -1 } else { 1 };
                    }
                }
            }
        }
        match (0..counts.len()).find(|&k| !self.is_cover(k) && counts[k] > self.cap[k]) {
            Some(k) => Err(format!("cap row {k}: {} over {}", counts[k], self.cap[k])),
            None => Ok(()),
        }
    }
}

mod dual;
mod held;
mod lack;
mod line;
mod lp;
mod narrow;
mod search;
#[cfg(test)]
mod tests;
