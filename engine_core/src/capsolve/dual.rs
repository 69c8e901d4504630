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

/// One point of score in weight units, as a float.
pub(super) const POINT_F: f64 = 18_446_744_073_709_551_616.0;

/// Model gaps below this (in points) count as closed: far above the rounding of the
/// differences the model holds, far below the smallest difference of two scores' ties that
/// the search must tell apart.
const TOL: f64 = 1e-7;

/// A matching met by the search: its unpriced weight (`w·2⁶⁴ + t`) and its count per cap row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Cut {
    pub w: i128,
    pub counts: Vec<i64>,
}

pub(super) struct Bundle {
    cap: Vec<i64>,
    cuts: Vec<Cut>,
    /// Weights are kept relative to the first cut's, so that `f64` keeps their ties.
    w_ref: Option<i128>,
    /// The best prices so far (points) and the bound there (points, relative to `w_ref`).
    center: Vec<f64>,
    center_l: f64,
    /// The master's last promise and the prices it promised it at.
    promise: f64,
    delta: f64,
    max_price: f64,
}

/// Prices in weight units, as points.
pub(super) fn to_points(lambda: &[i128]) -> Vec<f64> {
    lambda.iter().map(|&l| l as f64 / POINT_F).collect()
}

/// Points rounded to weight units, within `[0, max]`.
pub(super) fn to_units(mu: &[f64], max: i128) -> Vec<i128> {
    mu.iter()
        .map(|&m| ((m * POINT_F).round() as i128).clamp(0, max))
        .collect()
}

impl Bundle {
    pub fn new(cap: &[i64], start: &[i128], max_price: i128) -> Self {
        Bundle {
            cap: cap.to_vec(),
            cuts: Vec::new(),
            w_ref: None,
            center: to_points(start),
            center_l: f64::INFINITY,
            promise: f64::NEG_INFINITY,
            delta: 1.0,
            max_price: max_price as f64 / POINT_F,
        }
    }

    fn rel(&self, w: i128) -> f64 {
        (w - self.w_ref.unwrap_or(w)) as f64 / POINT_F
    }

    /// The bound (points, relative) at `at`, exact in integers by the caller: moves the
    /// box's centre there when it is a real step down.
    pub fn report(&mut self, at: &[i128], bound: i128, cut: Cut) {
        if self.w_ref.is_none() {
            self.w_ref = Some(cut.w);
        }
        if !self.cuts.contains(&cut) {
            self.cuts.push(cut);
        }
        let l = self.rel(bound);
        let predicted = self.center_l - self.promise;
        if !self.center_l.is_finite() || self.center_l - l >= 0.1 * predicted.max(0.0) {
            let grew = self.center_l.is_finite() && self.center_l - l > 0.0;
            self.center = to_points(at);
            self.center_l = l;
            if grew {
                self.delta = (self.delta * 2.0).min(self.max_price);
            }
        } else {
            // A null step: the cut it adds refines the model near the centre.
            self.delta = (self.delta * 0.5).max(1e-6);
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
                let lo = (c - self.delta).max(0.0);
                let hi = (c + self.delta).min(self.max_price);
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
        let sol = p.solve().ok()?.into_solution().ok()?;
        self.promise = sol.objective();
        if self.center_l - self.promise <= TOL * (1.0 + self.center_l.abs()) {
            return None;
        }
        let mut mu = vec![0.0; self.cap.len()];
        for (i, &k) in rows.iter().enumerate() {
            mu[k] = sol.var_value(vars[i]).max(0.0);
        }
        Some(mu)
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
                p.add_var(0.0, ((c - r).max(0.0), (c + r).min(self.max_price)))
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
