//! Where the price search goes next: a cutting-plane model of the Lagrangian bound, kept in
//! points (`f64`) for guidance only. Every proof is made again in integers at the rounded
//! prices, so rounding here can cost iterations but never correctness.
//!
//! Each matching `x` met at some prices gives the cut `L(μ) ≥ W(x) + Σ μ_k (cap_k − a_k(x))`
//! (valid for every `μ ≥ 0`, since `x` is one of the matchings the bound maximises over). The
//! next prices minimise the cuts' maximum inside a box around the best prices so far
//! (Marsten's boxstep): the box keeps the model from jumping to prices its few cuts know
//! nothing about, and grows while steps succeed. Once the model cannot promise a lower bound,
//! [`Bundle::margin`] looks for prices at which a given feasible matching beats every other
//! matching met by a margin, the interior of the region where it is the priced optimum.

use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};

/// One point of score in weight units, as a float: the unit of the first, coarse search.
pub(super) const POINT_F: f64 = (1u128 << (64 + super::SCALE)) as f64;

/// The unit of the fine search: `2^TIE_BITS` weight units, about the size of one tie. Ties are
/// below `f64`'s (and the LP's tolerances') reach in points, so prices that settle between
/// matchings that score the same are searched for in this unit.
pub(super) const TIE_F: f64 = (1u64 << (crate::warm::TIE_BITS + super::SCALE)) as f64;

/// The unit of the finest search, for lottery policies: one step of the pair bits below the
/// lottery number ([`crate::warm::tie`]). Allocations that house the same households
/// differ there only, far below what the search in ties resolves.
pub(super) const PAIR_F: f64 =
    (1u64 << (crate::warm::TIE_BITS - crate::warm::LOTTERY_BITS + super::SCALE)) as f64;

/// Model gaps below this (model units), plus `f64`'s rounding of the values held, count as
/// closed.
const TOL: f64 = 1e-6;

/// The box never shrinks below this (model units: points, or ties): a box narrower than the
/// region where the optimum is the priced one can close the model's gap without ever
/// reaching inside it.
const MIN_BOX: f64 = 1e-3;

/// The fine model's first box, in ties.
const FINE_BOX: f64 = 1024.0;

/// Cuts further below the bound than this (the coarser model's units: points, or ties) at a
/// finer model's start are left out.
const NEAR: f64 = 4.0;

/// Moves a cut may sit below the model's minimiser before it is dropped: the model stays the
/// size of what is near its optimum, and its LP fast (every cut is a row of it).
const MAX_AGE: u32 = 25;

/// Share of the centre in the next prices asked (Wentges' smoothing).
const SMOOTH: f64 = 0.5;

/// Lowest and highest price of each cap row, in weight units.
pub(super) type Range = (Vec<i128>, Vec<i128>);

/// A matching met by the search: its unpriced weight (`w·2⁶⁴ + t`) and its count per cap row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cut {
    pub w: i128,
    pub counts: Vec<i64>,
    /// Who counts where: `r << 32 | k` for each flagged row `r` counted towards cap row `k`,
    /// sorted.
    pub pairs: Vec<u64>,
}

/// The share of the relaxation's solution in which row `r` counts towards cap row `k`, keyed
/// `r << 32 | k` (sorted; pairs not listed count nowhere in it).
pub(super) type Frac = Vec<(u64, f64)>;

pub(super) struct Bundle {
    cap: Vec<i64>,
    cuts: Vec<Cut>,
    /// Moves since each cut last touched the model's minimiser.
    age: Vec<u32>,
    /// Weights are kept relative to the first cut's, so that `f64` keeps their ties.
    w_ref: Option<i128>,
    /// The best prices so far (points) and the bound there (points, relative to `w_ref`).
    center: Vec<f64>,
    center_l: f64,
    /// The master's last promise and the prices it promised it at.
    promise: f64,
    delta: f64,
    /// Lowest and highest price of each row (model units), and the highest of all.
    min: Vec<f64>,
    max: Vec<f64>,
    max_price: f64,
    /// Weight units per model unit.
    unit: f64,
    /// A cut known from outside the search (the relaxation's value and counts, [`Relaxed`]):
    /// it lets the model close where the relaxation says the bound can go no lower.
    ///
    /// [`Relaxed`]: super::lp::Relaxed
    floor: Option<(i128, Vec<f64>)>,
}

impl Bundle {
    /// A model in `unit` weight units per model unit ([`POINT_F`] or [`TIE_F`]), its box
    /// starting `box_size` model units wide around `start`.
    pub fn new(cap: &[i64], start: &[i128], range: &Range, unit: f64, box_size: f64) -> Self {
        let min: Vec<f64> = range.0.iter().map(|&m| m as f64 / unit).collect();
        let max: Vec<f64> = range.1.iter().map(|&m| m as f64 / unit).collect();
        let max_price = max.iter().copied().fold(0.0, f64::max);
        Bundle {
            cap: cap.to_vec(),
            cuts: Vec::new(),
            age: Vec::new(),
            w_ref: None,
            center: start.iter().map(|&l| l as f64 / unit).collect(),
            center_l: f64::INFINITY,
            promise: f64::NEG_INFINITY,
            delta: box_size,
            min,
            max,
            max_price,
            unit,
            floor: None,
        }
    }

    /// A model in `unit` (finer than this one's) around `start`, holding the cuts that are
    /// near the bound there (within `NEAR` of this model's units: from points to ties, four
    /// points): the others say nothing about prices a tie away, and their values, millions of
    /// the new units off, would only cost the LP its precision. The nearest cut comes first,
    /// so that the values are kept relative to it.
    pub fn refine(&self, start: &[i128], range: &Range, unit: f64) -> Bundle {
        let mut f = Bundle::new(&self.cap, start, range, unit, FINE_BOX);
        let at: Vec<f64> = start.iter().map(|&l| l as f64 / self.unit).collect();
        let mut near: Vec<(f64, &Cut)> =
            self.cuts.iter().map(|c| (self.cut_at(c, &at), c)).collect();
        let top = near.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
        near.retain(|x| x.0 >= top - NEAR);
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, c) in near {
            f.add_cut(c.clone());
        }
        f
    }

    /// The model with a floor: the cut `(w, counts)`, whose counts may be fractional.
    pub fn with_floor(mut self, floor: Option<(i128, Vec<f64>)>) -> Self {
        self.floor = floor;
        self
    }

    /// Weight units per model unit.
    pub fn unit(&self) -> f64 {
        self.unit
    }

    fn cut_at(&self, c: &Cut, mu: &[f64]) -> f64 {
        let g: f64 = (0..self.cap.len())
            .map(|k| mu[k] * (self.cap[k] - c.counts[k]) as f64)
            .sum();
        self.rel(c.w) + g
    }

    pub fn add_cut(&mut self, cut: Cut) {
        if self.w_ref.is_none() {
            self.w_ref = Some(cut.w);
        }
        if !self.cuts.contains(&cut) {
            self.cuts.push(cut);
            self.age.push(0);
        }
    }

    /// Model prices rounded to weight units, within `[0, max]`.
    pub fn to_units(&self, mu: &[f64], range: &Range) -> Vec<i128> {
        mu.iter()
            .enumerate()
            .map(|(k, &m)| ((m * self.unit).round() as i128).clamp(range.0[k], range.1[k]))
            .collect()
    }

    /// The centre in weight units.
    pub fn center(&self, range: &Range) -> Vec<i128> {
        self.to_units(&self.center, range)
    }

    fn rel(&self, w: i128) -> f64 {
        (w - self.w_ref.unwrap_or(w)) as f64 / self.unit
    }

    /// The bound (points, relative) at `at`, exact in integers by the caller: moves the
    /// box's centre there when it is a real step down.
    pub fn report(&mut self, at: &[i128], bound: i128, cut: Cut) {
        self.add_cut(cut);
        let l = self.rel(bound);
        let predicted = self.center_l - self.promise;
        if !self.center_l.is_finite() || self.center_l - l >= 0.1 * predicted.max(0.0) {
            let grew = self.center_l.is_finite() && self.center_l - l > 0.0;
            self.center = at.iter().map(|&l| l as f64 / self.unit).collect();
            self.center_l = l;
            if grew {
                self.delta = (self.delta * 2.0).min(self.max_price);
            }
        } else {
            // A null step: the cut it adds refines the model near the centre.
            self.delta = (self.delta * 0.5).max(MIN_BOX);
        }
    }

    /// Cap rows the model can say something about: priced now, or over-full in some cut.
    fn active(&self, keep: impl Fn(usize) -> bool) -> Vec<usize> {
        (0..self.cap.len())
            .filter(|&k| keep(k) || self.cuts.iter().any(|c| c.counts[k] > self.cap[k]))
            .collect()
    }

    /// The prices minimising the model in the box, or `None` when the model's gap at the
    /// centre is closed (the centre is, up to rounding, a minimiser of the bound).
    pub fn next(&mut self) -> Option<Vec<f64>> {
        let rows = self.active(|k| self.center[k] > 0.0);
        let mut p = Problem::new(OptimizationDirection::Minimize);
        let theta = p.add_var(1.0, (f64::NEG_INFINITY, f64::INFINITY));
        let vars: Vec<Variable> = rows
            .iter()
            .map(|&k| {
                let c = self.center[k];
                let lo = (c - self.delta).max(self.min[k]);
                let hi = (c + self.delta).min(self.max[k]);
                p.add_var(0.0, (lo, hi))
            })
            .collect();
        for cut in &self.cuts {
            // θ − Σ μ_k g_k ≥ w, with g_k = cap_k − a_k.
            let mut expr = vec![(theta, 1.0)];
            let rhs = self.rel(cut.w);
            for (i, &k) in rows.iter().enumerate() {
                let g = (self.cap[k] - cut.counts[k]) as f64;
                if g != 0.0 {
                    expr.push((vars[i], -g));
                }
            }
            // Rows outside the model sit at price 0 and add nothing.
            p.add_constraint(expr.as_slice(), ComparisonOp::Ge, rhs);
        }
        if let Some((w, counts)) = &self.floor {
            let mut expr = vec![(theta, 1.0)];
            for (i, &k) in rows.iter().enumerate() {
                expr.push((vars[i], counts[k] - self.cap[k] as f64));
            }
            p.add_constraint(expr.as_slice(), ComparisonOp::Ge, self.rel(*w));
        }
        let sol = p.solve().ok()?.into_solution().ok()?;
        self.promise = sol.objective();
        if self.center_l - self.promise <= TOL + 1e-12 * self.center_l.abs() {
            return None;
        }
        let mut mu = vec![0.0; self.cap.len()];
        for (i, &k) in rows.iter().enumerate() {
            mu[k] = sol.var_value(vars[i]).max(0.0);
        }
        self.age_cuts(&mu, sol.objective());
        if self.center_l.is_finite() && SMOOTH > 0.0 {
            // Wentges' smoothing: ask between the centre and the model's minimiser, where the
            // model is less wrong; the promise is the model's value there.
            for (m, c) in mu.iter_mut().zip(&self.center) {
                *m = SMOOTH * c + (1.0 - SMOOTH) * *m;
            }
            self.promise = self.model_at(&mu);
        }
        Some(mu)
    }

    /// Cuts that meet the model's value `top` at its minimiser `mu` are young again; the
    /// others age, and those that stayed below it for `MAX_AGE` moves are dropped.
    fn age_cuts(&mut self, mu: &[f64], top: f64) {
        let tol = 1e-6 * top.abs().max(1.0);
        for i in 0..self.cuts.len() {
            if self.cut_at(&self.cuts[i], mu) >= top - tol {
                self.age[i] = 0;
            } else {
                self.age[i] += 1;
            }
        }
        let keep: Vec<bool> = self.age.iter().map(|&a| a <= MAX_AGE).collect();
        let mut i = 0;
        self.cuts.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        self.age.retain(|&a| a <= MAX_AGE);
    }

    /// The model's value at `mu`: the highest cut there.
    fn model_at(&self, mu: &[f64]) -> f64 {
        let floor = self
            .floor
            .as_ref()
            .map_or(f64::NEG_INFINITY, |(w, counts)| {
                let g = (0..self.cap.len()).map(|k| mu[k] * (self.cap[k] as f64 - counts[k]));
                self.rel(*w) + g.sum::<f64>()
            });
        self.cuts
            .iter()
            .map(|c| self.cut_at(c, mu))
            .fold(floor, f64::max)
    }

    /// The relaxation's solution as far as the cuts met know it: the convex combination of
    /// their matchings that keeps every priced cap row and weighs most (the restricted master
    /// of Dantzig and Wolfe, the cutting-plane model's dual), as the share of it in which each
    /// flagged row counts towards each cap row. `None` if no combination keeps the caps.
    pub fn fractions(&self) -> Option<Frac> {
        let rows: Vec<usize> = (0..self.cap.len())
            .filter(|&k| self.max[k] > self.min[k])
            .filter(|&k| self.cuts.iter().any(|c| c.counts[k] > self.cap[k]))
            .collect();
        let mut p = Problem::new(OptimizationDirection::Maximize);
        let vars: Vec<Variable> = self
            .cuts
            .iter()
            .map(|c| p.add_var(self.rel(c.w), (0.0, 1.0)))
            .collect();
        let all: Vec<(Variable, f64)> = vars.iter().map(|&v| (v, 1.0)).collect();
        p.add_constraint(all.as_slice(), ComparisonOp::Eq, 1.0);
        for &k in &rows {
            let expr: Vec<(Variable, f64)> = self
                .cuts
                .iter()
                .zip(&vars)
                .map(|(c, &v)| (v, (c.counts[k] - self.cap[k]) as f64))
                .filter(|x| x.1 != 0.0)
                .collect();
            p.add_constraint(expr.as_slice(), ComparisonOp::Le, 0.0);
        }
        let sol = p.solve().ok()?.into_solution().ok()?;
        let mut acc: std::collections::BTreeMap<u64, f64> = Default::default();
        for (c, &v) in self.cuts.iter().zip(&vars) {
            let a = sol.var_value(v);
            if a > 1e-9 {
                for &x in &c.pairs {
                    *acc.entry(x).or_default() += a;
                }
            }
        }
        Some(acc.into_iter().collect())
    }

    /// Prices at which the feasible matching `inc` beats every other matching met by the
    /// widest margin, priced only on the rows it fills (so the bound there is `inc`'s weight)
    /// and near the centre (the cuts met say little about prices far from it); `None` if no
    /// positive margin exists there among the cuts met.
    pub fn margin(&self, inc: &Cut) -> Option<Vec<f64>> {
        let rows: Vec<usize> = (0..self.cap.len())
            .filter(|&k| inc.counts[k] == self.cap[k])
            .collect();
        let mut p = Problem::new(OptimizationDirection::Maximize);
        // A margin of a point is plenty; the cap keeps the problem bounded.
        let d = p.add_var(1.0, (f64::NEG_INFINITY, 1.0));
        let vars: Vec<Variable> = rows
            .iter()
            .map(|&k| {
                let (c, r) = (self.center[k], self.delta.max(1.0));
                p.add_var(0.0, ((c - r).max(self.min[k]), (c + r).min(self.max[k])))
            })
            .collect();
        let w_inc = self.rel(inc.w);
        for cut in self.cuts.iter().filter(|c| *c != inc) {
            // w_inc − μ·a_inc ≥ w_j − μ·a_j + δ.
            let mut expr = vec![(d, -1.0)];
            for (i, &k) in rows.iter().enumerate() {
                let g = (cut.counts[k] - inc.counts[k]) as f64;
                if g != 0.0 {
                    expr.push((vars[i], g));
                }
            }
            p.add_constraint(expr.as_slice(), ComparisonOp::Ge, self.rel(cut.w) - w_inc);
        }
        let sol = p.solve().ok()?.into_solution().ok()?;
        if sol.var_value(d) <= TOL {
            return None;
        }
        let mut mu = vec![0.0; self.cap.len()];
        for (i, &k) in rows.iter().enumerate() {
            mu[k] = sol.var_value(vars[i]).max(0.0);
        }
        Some(mu)
    }
}
