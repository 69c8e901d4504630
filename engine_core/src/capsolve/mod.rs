//! Exact matching under mix caps, kept warm between re-matches: a price `λ_k ≥ 0` on each cap
//! row, charged on every pair that counts towards it, is moved by a bracketed search until the
//! matching that is optimal under the priced weights keeps every cap and fills every priced
//! row exactly; that proves it optimal. Where no such prices exist (the relaxation is
//! fractional, or two flagged households leave a scope at the same price), branch and bound on
//! "household `r` counts towards row `k`" (in / out) finishes the proof, within a node budget.
//!
//! The proof: for prices `λ ≥ 0`, any matching `y` that keeps the caps has
//! `W(y) ≤ W(y) − Σ λ_k (a_k(y) − cap_k) ≤ max_x [W(x) − Σ λ_k a_k(x)] + Σ λ_k cap_k = L(λ)`.
//! If `x` attains the max, keeps the caps, and `a_k(x) = cap_k` wherever `λ_k > 0`, then
//! `W(x) = L(λ)`. Weights are the solver's lexicographic `w·2⁶⁴ + t` and prices are integers
//! in the same units, so the proof is exact, and (ties being broken per pair) the optimum is
//! unique: the answer does not depend on the prices the search started from.
//!
//! The priced weights live in a [`Warm`] assignment over every eligible pair: a price move
//! reweights the pairs of one row's scope and re-augments only the rows that no longer fit
//! ([`Warm::reweight`]), so both the search and the next re-match start from the last prices.

use crate::warm::{Edge, Warm, NONE};

/// One point of score in weight units: the first step of a price that must rise.
const POINT: i128 = 1 << 64;

/// Highest price: above any difference of weights (scores stay below 2³⁰ points), low
/// enough that sums over a national portfolio stay far inside `i128`. A row still over-full
/// at this price cannot be brought under its cap: the node's bound falls, and it is pruned.
const MAX_PRICE: i128 = 1 << 96;

/// Search budget per node: price moves before a node is branched on.
const ROOT_ITERS: usize = 400;
const NODE_ITERS: usize = 120;

/// How a node's price search ended.
enum Found {
    /// No matching keeps the sitting tenants housed under the node's fixes.
    Infeasible,
    /// The matching under the prices is optimal for the node.
    Proven,
    /// No certifying prices found; the best bound seen.
    Open(i128),
}

/// A branching decision: row `.0` does (`In`) or does not (`Out`) count towards cap row `.1`.
#[derive(Clone, Copy, Debug)]
enum Fix {
    In(u32, u32),
    Out(u32, u32),
}

struct Node {
    fixes: Vec<Fix>,
    lambda: Vec<i128>,
    bound: i128,
}

/// What [`CapSolver::solve`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solved {
    /// Column of each row slot (`NONE` for rows not live).
    pub col_of_row: Vec<u32>,
    /// Weight of the matching and the proven bound, in `w·2⁶⁴ + t` units.
    pub value: i128,
    pub bound: i128,
    pub optimal: bool,
    /// Search nodes: 1 when the prices alone prove the optimum.
    pub nodes: u64,
}

/// The capped assignment problem, kept between re-matches.
#[derive(Clone, Debug, Default)]
pub struct CapSolver {
    warm: Warm,
    /// Unpriced edges of each row, sorted by column.
    base: Vec<Vec<Edge>>,
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
}

impl CapSolver {
    pub fn new(n_rules: usize) -> Self {
        assert!(n_rules <= 32, "at most 32 cap rules");
        CapSolver {
            n_rules,
            ..Self::default()
        }
    }

    pub fn n_rules(&self) -> usize {
        self.n_rules
    }

    fn grow_cols(&mut self, c: usize) {
        if c >= self.col_live.len() {
            self.col_live.resize(c + 1, false);
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
        }
    }

    pub fn add_col(&mut self, c: u32, dummy: bool) {
        self.grow_cols(c as usize);
        self.col_live[c as usize] = true;
        self.dummy[c as usize] = dummy;
        self.warm.add_col(c, dummy);
    }

    pub fn remove_col(&mut self, c: u32) {
        for &r in self.warm.col_rows(c) {
            let list = &mut self.base[r as usize];
            if let Ok(k) = list.binary_search_by_key(&c, |e| e.col) {
                list.remove(k);
            }
        }
        self.warm.remove_col(c);
        self.col_live[c as usize] = false;
        let n = self.n_rules;
        self.col_cons[c as usize * n..(c as usize + 1) * n].fill(NONE);
    }

    /// The price charged on pair `(r, c)`.
    fn penalty(&self, r: usize, c: u32, lambda: &[i128]) -> i128 {
        let mut p = 0;
        let (mut f, n) = (self.flags[r], self.n_rules);
        while f != 0 {
            let rule = f.trailing_zeros() as usize;
            f &= f - 1;
            let k = self.col_cons[c as usize * n + rule];
            if k != NONE {
                p += lambda[k as usize];
            }
        }
        p
    }

    fn priced(e: &Edge, pen: i128) -> (i64, u64) {
        let v = ((e.w as i128) << 64) + e.t as i128 - pen;
        ((v >> 64) as i64, v as u64)
    }

    /// Replaces row `r` (adding it if new): its flags, its rank and its edges (sorted by
    /// column, a private dummy column included for an applicant).
    pub fn set_row(&mut self, r: u32, flags: u32, rank: u32, edges: Vec<Edge>) {
        let ru = r as usize;
        self.grow_rows(ru);
        if !self.row_live[ru] {
            self.row_live[ru] = true;
            self.warm.add_row(r);
        }
        self.flags[ru] = flags;
        self.rank[ru] = rank;
        let priced: Vec<Edge> = edges
            .iter()
            .map(|e| {
                let (w, t) = Self::priced(e, self.penalty(ru, e.col, &self.lambda));
                Edge { w, t, col: e.col }
            })
            .collect();
        self.base[ru] = edges;
        self.warm.set_row(r, priced);
    }

    pub fn remove_row(&mut self, r: u32) {
        let ru = r as usize;
        if ru < self.row_live.len() && self.row_live[ru] {
            self.warm.remove_row(r);
            self.row_live[ru] = false;
            self.base[ru].clear();
        }
    }

    pub fn row_live(&self, r: u32) -> bool {
        self.row_live.get(r as usize).copied().unwrap_or(false)
    }

    /// Rows with an edge into column `c`.
    pub fn col_rows(&self, c: u32) -> &[u32] {
        self.warm.col_rows(c)
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
            }
            (Err(k), Some((w, t))) => list.insert(k, Edge { w, t, col: c }),
            (Err(_), None) => {}
        }
        let priced = e.map(|(w, t)| {
            let pen = self.penalty(ru, c, &self.lambda);
            Self::priced(&Edge { w, t, col: c }, pen)
        });
        self.warm.set_edge(r, c, priced);
    }

    pub fn repair_col(&mut self, c: u32) {
        self.warm.repair_col(c);
    }

    /// Sets the cap rows: the row of each column under each rule (`col_cons[c * n_rules + r]`),
    /// each row's rule, cap and starting price. Pairs whose price changes are reweighted.
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
        self.cap = cap;
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

    fn priced_edge(&self, r: u32, c: u32, lambda: &[i128]) -> Option<(u32, u32, i64, u64)> {
        let list = &self.base[r as usize];
        let k = list.binary_search_by_key(&c, |e| e.col).ok()?;
        let (w, t) = Self::priced(&list[k], self.penalty(r as usize, c, lambda));
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

    fn counts(&self, warm: &Warm) -> Vec<i64> {
        let mut counts = vec![0i64; self.cap.len()];
        let n = self.n_rules;
        for r in 0..self.row_live.len() {
            if !self.row_live[r] {
                continue;
            }
            let c = warm.col_of(r as u32);
            if c == NONE || self.dummy[c as usize] {
                continue;
            }
            let mut f = self.flags[r];
            while f != 0 {
                let rule = f.trailing_zeros() as usize;
                f &= f - 1;
                let k = self.col_cons[c as usize * n + rule];
                if k != NONE {
                    counts[k as usize] += 1;
                }
            }
        }
        counts
    }

    /// Moves the prices in `lambda` until the priced optimum of `warm` is proven optimal, or
    /// `iters` moves are spent.
    fn search(&self, warm: &mut Warm, lambda: &mut [i128], iters: usize) -> Result<Found, String> {
        let n_k = self.cap.len();
        let mut lo: Vec<Option<i128>> = vec![None; n_k];
        let mut hi: Vec<Option<i128>> = vec![None; n_k];
        let mut step = vec![POINT; n_k];
        let mut reopened = vec![0u8; n_k];
        let mut bound = i128::MAX;
        let mut batch = Vec::new();
        for it in 0..=iters {
            if !warm.run() {
                return Ok(Found::Infeasible);
            }
            let cert = warm.certify();
            let cert = cert.ok_or("internal: the priced matching lost its certificate")?;
            let slack: i128 = (0..n_k).map(|k| lambda[k] * self.cap[k] as i128).sum();
            bound = bound.min(cert.value + slack);
            let counts = self.counts(warm);
            let mut moves: Vec<(usize, i128)> = Vec::new();
            let mut stuck = false;
            for k in 0..n_k {
                let l = lambda[k];
                let (c, cap) = (counts[k], self.cap[k]);
                let to = if c > cap {
                    lo[k] = Some(l);
                    if hi[k].is_some_and(|h| h <= l) {
                        hi[k] = None;
                    }
                    match hi[k] {
                        Some(h) if h - l <= 1 => None,
                        Some(h) => Some(l + (h - l) / 2),
                        None if l >= MAX_PRICE => None,
                        None => {
                            let to = (l + step[k]).min(MAX_PRICE);
                            step[k] = step[k].saturating_mul(2);
                            Some(to)
                        }
                    }
                } else if c < cap && l > 0 {
                    hi[k] = Some(l);
                    if lo[k].is_some_and(|x| x >= l) {
                        lo[k] = None;
                    }
                    match lo[k] {
                        Some(x) if l - x <= 1 => None,
                        Some(x) => Some(x + (l - x) / 2),
                        None => Some(0),
                    }
                } else {
                    continue;
                };
                match to {
                    Some(to) => moves.push((k, to)),
                    None if reopened[k] < 2 && l < MAX_PRICE => {
                        // The bracket closed on a kink, perhaps because other prices moved
                        // since it was set: search this row again from where it stands.
                        reopened[k] += 1;
                        step[k] = POINT;
                        if c > cap {
                            hi[k] = None;
                            moves.push((k, (l + POINT).min(MAX_PRICE)));
                        } else {
                            lo[k] = None;
                            moves.push((k, 0));
                        }
                    }
                    None => stuck = true,
                }
            }
            if it == iters && !moves.is_empty() {
                return Ok(Found::Open(bound));
            }
            if moves.is_empty() {
                #[cfg(test)]
                if !stuck {
                    assert!(warm.certify_full().is_some(), "kept certificate disagrees");
                }
                return Ok(if stuck {
                    Found::Open(bound)
                } else {
                    Found::Proven
                });
            }
            batch.clear();
            for (k, to) in moves {
                self.move_price(warm, lambda, k, to, &mut batch);
            }
            warm.reweight(&batch);
        }
        Ok(Found::Open(bound))
    }

    /// Weight of `warm`'s matching under the unpriced weights.
    fn value(&self, warm: &Warm) -> i128 {
        let mut v = 0i128;
        for r in 0..self.row_live.len() {
            if !self.row_live[r] {
                continue;
            }
            let c = warm.col_of(r as u32);
            let list = &self.base[r];
            if let Ok(k) = list.binary_search_by_key(&c, |e| e.col) {
                v += ((list[k].w as i128) << 64) + list[k].t as i128;
            }
        }
        v
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

    /// The row that counts towards cap row `k` in `warm`'s matching with the lowest
    /// unpriced weight (ties: the lowest rank).
    fn weakest(&self, warm: &Warm, k: usize) -> Option<u32> {
        let bit = 1u32 << self.rule_of[k];
        let mut best: Option<(i128, u32, u32)> = None;
        for &c in &self.members[k] {
            let list = warm.col_rows(c);
            for &r in list {
                if warm.col_of(r) != c || self.flags[r as usize] & bit == 0 {
                    continue;
                }
                // Only a row with somewhere else to go can be kept out.
                let rule = self.rule_of[k];
                let n = self.n_rules;
                let movable = self.base[r as usize].iter().any(|e| {
                    warm.has_edge(r, e.col)
                        && (self.dummy[e.col as usize]
                            || self.col_cons[e.col as usize * n + rule] != k as u32)
                });
                if !movable {
                    continue;
                }
                let b = &self.base[r as usize];
                let Ok(i) = b.binary_search_by_key(&c, |e| e.col) else {
                    continue;
                };
                let key = (
                    ((b[i].w as i128) << 64) + b[i].t as i128,
                    self.rank[r as usize],
                    r,
                );
                if best.is_none_or(|x| key < x) {
                    best = Some(key);
                }
            }
        }
        best.map(|x| x.2)
    }

    /// Applies a fix to `warm` by removing the edges it excludes; `false` if the row has no
    /// edge left.
    fn apply(&self, warm: &mut Warm, fix: Fix) -> bool {
        let (r, k, keep_in) = match fix {
            Fix::In(r, k) => (r, k, true),
            Fix::Out(r, k) => (r, k, false),
        };
        let rule = self.rule_of[k as usize];
        let n = self.n_rules;
        let cols: Vec<u32> = self.base[r as usize]
            .iter()
            .map(|e| e.col)
            .filter(|&c| warm.has_edge(r, c))
            .collect();
        let mut left = 0;
        for c in cols {
            let inside = !self.dummy[c as usize] && self.col_cons[c as usize * n + rule] == k;
            if inside != keep_in {
                warm.drop_edge(r, c);
            } else {
                left += 1;
            }
        }
        left > 0
    }

    /// A matching that keeps the caps, from `warm` under fixed prices: the weakest counted
    /// row of each over-full cap row is kept out of it until none is over-full.
    fn repair(&self, mut warm: Warm) -> Option<(i128, Vec<u32>)> {
        loop {
            if !warm.run() {
                return None;
            }
            let counts = self.counts(&warm);
            let over: Vec<usize> = (0..counts.len())
                .filter(|&k| counts[k] > self.cap[k])
                .collect();
            if over.is_empty() {
                return Some((self.value(&warm), self.matching(&warm)));
            }
            for k in over {
                let r = self.weakest(&warm, k)?;
                if !self.apply(&mut warm, Fix::Out(r, k as u32)) {
                    return None;
                }
            }
        }
    }

    /// Where to branch: the first cap row that is over-full, else the first with a price
    /// that it does not fill; a flagged row with a pair in it and not yet fixed for it,
    /// preferring the weakest of those it counts. Every such row can be fixed in or out,
    /// so the search ends: once all are fixed, the cap row's count is fixed too.
    fn branch_on(&self, warm: &Warm, lambda: &[i128], fixes: &[Fix]) -> Option<(u32, u32)> {
        let counts = self.counts(warm);
        let over = (0..counts.len()).filter(|&k| counts[k] > self.cap[k]);
        let unfilled = (0..counts.len()).filter(|&k| counts[k] < self.cap[k] && lambda[k] > 0);
        let n = self.n_rules;
        for k in over.chain(unfilled) {
            let bit = 1u32 << self.rule_of[k];
            let fixed = |r: u32| {
                fixes.iter().any(
                    |&f| matches!(f, Fix::In(a, b) | Fix::Out(a, b) if a == r && b == k as u32),
                )
            };
            let mut best: Option<(bool, i128, u32, u32)> = None;
            for &c in &self.members[k] {
                for &r in warm.col_rows(c) {
                    if self.flags[r as usize] & bit == 0 || fixed(r) {
                        continue;
                    }
                    let m = warm.col_of(r);
                    let counted = m != NONE
                        && !self.dummy[m as usize]
                        && self.col_cons[m as usize * n + self.rule_of[k]] == k as u32;
                    let w = self.base[r as usize]
                        .binary_search_by_key(&m, |e| e.col)
                        .map_or(0, |i| {
                            ((self.base[r as usize][i].w as i128) << 64)
                                + self.base[r as usize][i].t as i128
                        });
                    let key = (!counted, w, self.rank[r as usize], r);
                    if best.is_none_or(|b| key < b) {
                        best = Some(key);
                    }
                }
            }
            if let Some(b) = best {
                return Some((b.3, k as u32));
            }
        }
        None
    }

    /// Solves the capped problem from the current state and prices. `node_limit` 0 means no
    /// limit. The kept prices are the root search's, the start of the next re-match.
    pub fn solve(&mut self, node_limit: u64) -> Result<Solved, String> {
        let mut warm = std::mem::take(&mut self.warm);
        let mut lambda = std::mem::take(&mut self.lambda);
        let found = self.search(&mut warm, &mut lambda, ROOT_ITERS);
        let root_bound = match found {
            Err(e) => {
                self.warm = warm;
                self.lambda = lambda;
                return Err(e);
            }
            Ok(Found::Infeasible) => {
                self.warm = warm;
                self.lambda = lambda;
                return Err("internal: no matching keeps every sitting tenant".into());
            }
            Ok(Found::Proven) => {
                let value = self.value(&warm);
                let out = Solved {
                    col_of_row: self.matching(&warm),
                    value,
                    bound: value,
                    optimal: true,
                    nodes: 1,
                };
                self.warm = warm;
                self.lambda = lambda;
                return Ok(out);
            }
            Ok(Found::Open(b)) => b,
        };
        let out = self.branch_and_bound(&warm, &lambda, root_bound, node_limit);
        self.warm = warm;
        self.lambda = lambda;
        out
    }

    fn branch_and_bound(
        &self,
        root: &Warm,
        lambda: &[i128],
        root_bound: i128,
        node_limit: u64,
    ) -> Result<Solved, String> {
        // Without a first incumbent the search starts from nothing (a bound below any
        // matching's weight) and finds one in its nodes.
        let (mut best, mut best_cols) =
            self.repair(root.clone()).unwrap_or((i128::MIN, Vec::new()));
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
        match self.branch_on(root, lambda, &[]) {
            Some(v) if root_bound > best => push_children(&mut stack, &[], lambda, root_bound, v),
            _ => {}
        }
        let mut unresolved = None::<i128>;
        while let Some(node) = stack.pop() {
            if node.bound <= best {
                continue;
            }
            if node_limit > 0 && nodes >= node_limit {
                stack.push(node);
                break;
            }
            nodes += 1;
            let mut warm = root.clone();
            if !node.fixes.iter().all(|&f| self.apply(&mut warm, f)) {
                continue;
            }
            let mut lam = node.lambda.clone();
            match self.search(&mut warm, &mut lam, NODE_ITERS)? {
                Found::Infeasible => {}
                Found::Proven => {
                    let v = self.value(&warm);
                    if v > best {
                        best = v;
                        best_cols = self.matching(&warm);
                    }
                }
                Found::Open(bound) => {
                    let bound = bound.min(node.bound);
                    if bound <= best {
                        continue;
                    }
                    if let Some((v, cols)) = self.repair(warm.clone()) {
                        if v > best {
                            best = v;
                            best_cols = cols;
                        }
                    }
                    if bound <= best {
                        continue;
                    }
                    match self.branch_on(&warm, &lam, &node.fixes) {
                        Some(choice) => push_children(&mut stack, &node.fixes, &lam, bound, choice),
                        // Nothing to branch on although unproven: keep its bound open.
                        None => unresolved = Some(unresolved.map_or(bound, |u| u.max(bound))),
                    }
                }
            }
        }
        let open = stack.iter().map(|n| n.bound).chain(unresolved).max();
        let bound = open.map_or(best, |b| b.max(best));
        Ok(Solved {
            col_of_row: best_cols,
            value: best,
            bound,
            optimal: bound == best,
            nodes,
        })
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
                if got != Some(want) {
                    return Err(format!("edge ({r}, {}): {got:?}, want {want:?}", e.col));
                }
            }
        }
        Ok(())
    }

    /// Checks that the answer is a matching that keeps the caps (tests).
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
            if self.base[r].binary_search_by_key(&c, |e| e.col).is_err() {
                return Err(format!("row {r}: no edge to column {c}"));
            }
            if !used.insert(c) {
                return Err(format!("column {c} used twice"));
            }
            for rule in 0..n {
                if self.flags[r] >> rule & 1 == 1 {
                    let k = self.col_cons[c as usize * n + rule];
                    if k != NONE {
                        counts[k as usize] += 1;
                    }
                }
            }
        }
        match (0..counts.len()).find(|&k| counts[k] > self.cap[k]) {
            Some(k) => Err(format!("cap row {k}: {} over {}", counts[k], self.cap[k])),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
