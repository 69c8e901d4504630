//! The relaxation in points, solved directly: where the price search in points would start.
//!
//! The cutting-plane search finds the optimal prices in points slowly at city scale (the
//! bound's last tens of points take thousands of moves: each move learns one matching). The
//! linear relaxation itself (every eligible pair a variable in `[0, 1]`, each row matched
//! once, each column at most once, each cap row at most its cap) gives them at once: its cap
//! rows' duals are optimal prices in points. It is solved by an interior point method
//! (`clarabel`), whose duals lie inside the face of optimal prices rather than at one of its
//! corners; from a corner the search in ties and the tree below it go much further astray.
//!
//! Only a few pairs per row enter the LP at first; the duals then price every eligible pair,
//! and those that would improve the relaxation are brought in, until none would (column
//! generation). The prices found are guidance only: every bound is still proven in integers
//! at the rounded prices, so a relaxation solved loosely costs moves, never correctness. So
//! are its duals where they prove which pairs an allocation scoring the relaxation's points
//! may use ([`Near`]): they are rounded and made feasible in integers first.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettings, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};

use super::dual::POINT_F;
use super::*;
use crate::warm::TIE_BITS;

/// Pairs per row in the first restricted LP (besides the row's home, its private column and
/// its column in the current matching).
const LP_KEEP: usize = 8;

/// Pairs brought in per row and round: the most improving.
const LP_ADD: usize = 4;

/// Rounds of pricing before the relaxation is taken as solved.
const LP_ROUNDS: usize = 8;

/// Reduced cost (points) above which a pair left out would improve the relaxation: above the
/// interior point method's own accuracy.
const LP_TOL: f64 = 1e-5;

/// Reduced cost (points) up to which a pair of the LP is carried into the next re-match's.
const CARRY_RC: f64 = 1.0;

/// Duals below this (points) are a zero price.
const ZERO_PRICE: f64 = 1e-6;

/// Live rows from which the root solves the relaxation ([`CapSolver::with_lp_rows`]). Below,
/// the search in points is cheap, and from where it ends the prices alone prove more
/// re-matches than from the relaxation's prices (docs/performance.md, issue 15).
pub const LP_ROWS: usize = 1_500;

/// What the relaxation says: optimal prices in points (the solver's units) and a floor for
/// the model of the bound in points.
pub(super) struct Relaxed {
    pub lambda: Vec<i128>,
    /// The relaxation's value plus one point (weight units), and its count per cap row: a cut
    /// that holds to within that point (the ties of a matching sum to under one: `t <
    /// 2^TIE_BITS`, at most `2^24` rows), so that the model in points closes where the
    /// relaxation says the bound can go no lower.
    pub floor: (i128, Vec<f64>),
    /// What the relaxation's duals prove in integers ([`Near`]).
    pub near: Near,
    /// Per row, the columns of the pairs within [`CARRY_RC`] of tight under its duals
    /// (sorted): where the next starts.
    pub cols: Vec<Vec<u32>>,
}

/// Duals of the relaxation rounded to `2^-NEAR_BITS` points and made feasible on every
/// eligible pair (each row's dual raised to its best pair's reduced weight), so that in exact
/// integers: no allocation keeping the caps scores more than `top` points, and one that
/// scores `top` uses only the pairs in `pairs`. For an allocation `M`, `points(M) ≤ (D −
/// Σ_{e∈M} rc(e)) / 2^NEAR_BITS` with `D` the dual bound and `rc ≥ 0` each pair's reduced
/// cost; a pair whose `rc` exceeds `D − top·2^NEAR_BITS` keeps `M` below `top`. Where the
/// relaxation is tight in points these are the pairs of its optimal face (a tenth of all at
/// city scale), and the optimum among them (in points and ties) is the optimum: a smaller
/// problem to prove it on.
pub(super) struct Near {
    pub top: i128,
    /// Per row, the indices into its `base` list of the pairs an allocation of `top` points
    /// may use.
    pub pairs: Vec<Vec<u32>>,
    /// Per row, the indices of the pairs the relaxation's solution uses (`x` above
    /// [`USED_X`]): where an allocation short of `top` points looks for exchanges.
    pub used: Vec<Vec<u32>>,
}

/// A pair's value in the relaxation's solution from which it counts as used: the interior
/// point method leaves the others orders of magnitude below.
const USED_X: f64 = 1e-3;

/// Fraction bits of a point in the rounded duals of [`Near`].
const NEAR_BITS: u32 = 32;

/// Where the best allocation found scores `top` points, the relaxation's: the LP in ties
/// over a set of pairs that holds every allocation better than it, with its points held at
/// `top` or more. Proven like [`Near`]: an allocation `M` of `top` points in the set has ties
/// at most `bound − Σ_{e∈M} rc(e)`, so to beat an allocation with ties `t` it uses only pairs
/// whose `rc` is at most `bound − t − 1` ([`TieCut::pairs`]); none does where that is below
/// zero. Where the LP is tight this leaves little more than the allocation itself.
pub(super) struct TieCut {
    pub bound: i128,
    /// Per row, each pair of the set (its index in the row's `base` list) and its `rc`.
    pub rc: Vec<Vec<(u32, i128)>>,
    /// The LP's solution, where it is an allocation (each row's pair above one half).
    pub rounded: Option<Vec<u32>>,
    /// Per row, the pairs (indices) the LP's solution uses (`x` above [`USED_X`]).
    pub used: Vec<Vec<u32>>,
}

impl TieCut {
    /// How far above `ties` an allocation's ties could be, and per row the pairs (indices)
    /// an allocation with more ties than `ties` may use.
    pub fn pairs(&self, ties: i128) -> (i128, Vec<Vec<u32>>) {
        let room = self.bound - ties - 1;
        let fits = |p: &&(u32, i128)| p.1 <= room;
        let pairs = self
            .rc
            .iter()
            .map(|row| row.iter().filter(fits).map(|p| p.0).collect());
        (room, pairs.collect())
    }
}

/// A row `Σ a(r, e)·x ≥ l` added to a restricted LP, as `(a, l)`.
type Least<'a> = (&'a dyn Fn(usize, &Edge) -> f64, f64);

/// An LP's duals rounded to integers and made feasible on its pairs: column duals `v` and
/// cap-row duals `lambda` (never negative), each row's dual `u` the least that covers its
/// pairs, and the dual bound `D = Σu + Σv + Σ λ·cap`. For an allocation `M` of those pairs that
/// keeps the caps, `Σ_{e∈M} weight(e) ≤ D − Σ_{e∈M} rc(e)` with every `rc ≥ 0`, in exact
/// integers.
struct Rounded {
    v: Vec<i128>,
    lambda: Vec<i128>,
    u: Vec<i128>,
    bound: i128,
}

impl Rounded {
    /// Pair `e` of row `r`'s reduced cost: its duals less its weight.
    fn rc(&self, s: &CapSolver, r: usize, e: &Edge, weight: &dyn Fn(usize, &Edge) -> i128) -> i128 {
        let caps: i128 = if s.dummy[e.col as usize] {
            0
        } else {
            s.counted_in(r, e.col).map(|k| self.lambda[k]).sum()
        };
        self.u[r] + self.v[e.col as usize] + caps - weight(r, e)
    }
}

/// Per row, the pairs (indices) of `held` an LP's solution `x` (in `held`'s order) uses: `x`
/// above [`USED_X`].
fn used(held: &[Vec<u32>], x: &[f64]) -> Vec<Vec<u32>> {
    let mut x = x.iter();
    let row = |idx: &Vec<u32>| -> Vec<u32> {
        let at = idx.iter().zip(x.by_ref());
        at.filter(|(_, &xv)| xv > USED_X).map(|(&i, _)| i).collect()
    };
    held.iter().map(row).collect()
}

/// One restricted LP's answer: the duals of rows, columns and cap rows, the pairs' values.
struct Duals {
    row: Vec<f64>,
    col: Vec<f64>,
    cap: Vec<f64>,
    /// The dual of the `least` row (0 without one).
    least: f64,
    x: Vec<f64>,
    value: f64,
}

impl CapSolver {
    /// The relaxation in points at the root (`warm` settled at `lambda`), or `None` where it
    /// is not solved: fewer than `lp_rows` live rows, cover rows (their unmet cost is not a
    /// linear row of this LP), no cap rows, or an LP that does not solve.
    pub(super) fn relaxation(&self, warm: &Warm, lambda: &[i128]) -> Option<Relaxed> {
        let live = self.row_live.iter().filter(|&&l| l).count();
        if self.cover != 0 || self.cap.is_empty() || live < self.lp_rows {
            return None;
        }
        let n_rows = self.base.len();
        // Indices into `base[r]` of the pairs in the LP, per row (sorted).
        let mut held: Vec<Vec<u32>> = vec![Vec::new(); n_rows];
        for r in 0..n_rows {
            if !self.row_live[r] {
                continue;
            }
            let edges = &self.base[r];
            // The pairs nearest to tight under the assignment's duals at the current prices.
            let slack =
                |e: &Edge| self.priced_at(r, e, lambda).cost() - warm.u(r as u32) - warm.v(e.col);
            let mut picked: Vec<u32> = (0..edges.len() as u32).collect();
            picked.sort_by_cached_key(|&i| (slack(&edges[i as usize]), i));
            picked.truncate(LP_KEEP);
            let matched = warm.col_of(r as u32);
            let before = self.lp_cols.get(r).map_or(&[][..], Vec::as_slice);
            for (i, e) in edges.iter().enumerate() {
                let own = self.dummy[e.col as usize] || e.col == self.home[r];
                if own || e.col == matched || before.binary_search(&e.col).is_ok() {
                    picked.push(i as u32);
                }
            }
            picked.sort_unstable();
            picked.dedup();
            held[r] = picked;
        }
        // The last LP solved, with the pairs it was solved over (the pairs brought in after
        // its last round are not in it).
        let mut solved = None;
        for _ in 0..LP_ROUNDS {
            let d = self.restricted_lp(&held, &|e| e.w as f64, None)?;
            let mut more = held.clone();
            let added = self.bring_in(&d, &mut more);
            solved = Some((d, std::mem::replace(&mut held, more)));
            if added == 0 {
                break;
            }
        }
        let (d, held) = solved?;
        let lambda = d
            .cap
            .iter()
            .enumerate()
            .map(|(k, &l)| {
                if l < ZERO_PRICE {
                    0
                } else {
                    ((l * POINT_F) as i128).min(self.max_price(k))
                }
            })
            .collect();
        let mut counts = vec![0.0; self.cap.len()];
        let mut j = 0;
        for (r, idx) in held.iter().enumerate() {
            for &i in idx {
                let c = self.base[r][i as usize].col;
                if !self.dummy[c as usize] {
                    for k in self.counted_in(r, c) {
                        counts[k] += d.x[j];
                    }
                }
                j += 1;
            }
        }
        let floor = ((d.value + 1.0) * POINT_F) as i128;
        let near = self.near(&d, &held)?;
        // The pairs its solution uses and those within a point of it, not all it was solved
        // over: those would grow by the pairs first picked at each re-match.
        let cols = held
            .iter()
            .enumerate()
            .map(|(r, idx)| {
                let near_tight = |e: &Edge| self.reduced(&d, r, e) <= CARRY_RC;
                let mut c: Vec<u32> = idx
                    .iter()
                    .map(|&i| &self.base[r][i as usize])
                    .filter(|e| near_tight(e))
                    .map(|e| e.col)
                    .collect();
                c.sort_unstable();
                c
            })
            .collect();
        Some(Relaxed {
            lambda,
            floor: (floor, counts),
            near,
            cols,
        })
    }

    /// The pairs an allocation scoring the relaxation's points may use, proven with its duals
    /// `d` rounded ([`Near`]); `None` where a live row has no pair.
    fn near(&self, d: &Duals, held: &[Vec<u32>]) -> Option<Near> {
        let all: Vec<Vec<u32>> = (0..self.base.len())
            .map(|r| {
                let n = if self.row_live[r] {
                    self.base[r].len()
                } else {
                    0
                };
                (0..n as u32).collect()
            })
            .collect();
        let w = |_: usize, e: &Edge| i128::from(e.w) << NEAR_BITS;
        let x = self.rounded(d, (1u64 << NEAR_BITS) as f64, &all, &w)?;
        let top = x.bound.div_euclid(1 << NEAR_BITS);
        let room = x.bound - (top << NEAR_BITS);
        let pairs = all
            .iter()
            .enumerate()
            .map(|(r, idx)| {
                let tight = |&&i: &&u32| x.rc(self, r, &self.base[r][i as usize], &w) <= room;
                idx.iter().filter(tight).copied().collect()
            })
            .collect();
        Some(Near {
            top,
            pairs,
            used: used(held, &d.x),
        })
    }

    /// The duals `d` of an LP over the pairs `pairs` (per row, indices into its `base` list;
    /// none for a row not live), each worth `weight` in `unit`s per unit of the LP, rounded
    /// and made feasible in integers ([`Rounded`]); `None` where a live row has no pair.
    fn rounded(
        &self,
        d: &Duals,
        unit: f64,
        pairs: &[Vec<u32>],
        weight: &dyn Fn(usize, &Edge) -> i128,
    ) -> Option<Rounded> {
        let q = |x: f64| (x * unit).round() as i128;
        // Column and cap-row duals of a `≤` row are never negative.
        let mut x = Rounded {
            v: d.col.iter().map(|&c| q(c).max(0)).collect(),
            lambda: d.cap.iter().map(|&c| q(c).max(0)).collect(),
            u: vec![0; pairs.len()],
            bound: 0,
        };
        x.bound = x.v.iter().sum::<i128>()
            + (0..self.cap.len())
                .map(|k| x.lambda[k] * i128::from(self.cap[k]))
                .sum::<i128>();
        for (r, idx) in pairs.iter().enumerate() {
            if self.row_live[r] {
                // The least dual that covers all the row's pairs: its best reduced weight.
                let edges = idx.iter().map(|&i| &self.base[r][i as usize]);
                x.u[r] = edges.map(|e| -x.rc(self, r, e, weight)).max()?;
                x.bound += x.u[r];
            }
        }
        Some(x)
    }

    /// Pair `e` of row `r`'s reduced cost (points) under the LP in points' duals `d`: below
    /// zero where bringing it in would improve the LP.
    fn reduced(&self, d: &Duals, r: usize, e: &Edge) -> f64 {
        let caps: f64 = if self.dummy[e.col as usize] {
            0.0
        } else {
            self.counted_in(r, e.col).map(|k| d.cap[k]).sum()
        };
        d.row[r] + d.col[e.col as usize] + caps - e.w as f64
    }

    /// Adds to `held` the pairs whose reduced cost under `d` shows they would improve the
    /// relaxation (at most [`LP_ADD`] per row, the most improving); how many.
    fn bring_in(&self, d: &Duals, held: &mut [Vec<u32>]) -> usize {
        let mut added = 0;
        for (r, idx) in held.iter_mut().enumerate() {
            if !self.row_live[r] {
                continue;
            }
            let mut gain: Vec<(f64, u32)> = Vec::new();
            for (i, e) in self.base[r].iter().enumerate() {
                if idx.binary_search(&(i as u32)).is_ok() {
                    continue;
                }
                let gains = -self.reduced(d, r, e);
                if gains > LP_TOL {
                    gain.push((gains, i as u32));
                }
            }
            gain.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            gain.truncate(LP_ADD);
            added += gain.len();
            idx.extend(gain.iter().map(|g| g.1));
            idx.sort_unstable();
        }
        added
    }

    /// The LP in ties over the pairs `keep` (per row, indices into its `base` list) with the
    /// points held at `top` or more, its duals rounded and made feasible in integers
    /// ([`TieCut`]); `None` where it does not solve.
    pub(super) fn tie_cut(&self, keep: &[Vec<u32>], top: i128) -> Option<TieCut> {
        // Points counted from each row's best pair: the same row, in small numbers.
        let most: Vec<i64> = (0..keep.len())
            .map(|r| {
                let w = keep[r].iter().map(|&i| self.base[r][i as usize].w);
                w.max().unwrap_or(0)
            })
            .collect();
        let live = |r: &usize| self.row_live[*r];
        let least = top
            - (0..keep.len())
                .filter(live)
                .map(|r| i128::from(most[r]))
                .sum::<i128>();
        let unit = (1u64 << TIE_BITS) as f64;
        let below = |r: usize, e: &Edge| (e.w - most[r]) as f64;
        let d = self.restricted_lp(keep, &|e| e.t as f64 / unit, Some((&below, least as f64)))?;
        // Ties per point of the row that holds the points at `top`.
        let mu = ((d.least * unit).round() as i128).max(0);
        let weight = |r: usize, e: &Edge| i128::from(e.t) + mu * i128::from(e.w - most[r]);
        let x = self.rounded(&d, unit, keep, &weight)?;
        let rc = keep
            .iter()
            .enumerate()
            .map(|(r, idx)| {
                let rc = |&i: &u32| (i, x.rc(self, r, &self.base[r][i as usize], &weight));
                idx.iter().map(rc).collect()
            })
            .collect();
        let used = used(keep, &d.x);
        let mut rounded = Some(vec![NONE; keep.len()]);
        let mut at = d.x.iter();
        for (r, idx) in keep.iter().enumerate() {
            let xs: Vec<(u32, f64)> = idx.iter().copied().zip(at.by_ref().copied()).collect();
            if !self.row_live[r] {
                continue;
            }
            let half = xs.iter().rfind(|p| p.1 > 0.5);
            let col = half.map(|p| self.base[r][p.0 as usize].col);
            match (col, rounded.as_mut()) {
                (Some(c), Some(cols)) => cols[r] = c,
                _ => rounded = None,
            }
        }
        // Two rows on a column (x at a half each, to the solver's accuracy): no allocation.
        if let Some(cols) = &rounded {
            let mut seen = vec![false; self.col_live.len()];
            let dup = cols
                .iter()
                .filter(|&&c| c != NONE)
                .any(|&c| std::mem::replace(&mut seen[c as usize], true));
            if dup {
                rounded = None;
            }
        }
        Some(TieCut {
            bound: x.bound - mu * least,
            rc,
            rounded,
            used,
        })
    }

    /// The LP over the pairs in `held`, each worth `weight` (points or ties): maximise
    /// `Σ weight·x` with each live row matched once, each column at most once, each cap row
    /// at most its cap, `x ≥ 0`, and where `least` is given as `(a, l)`, `Σ a·x ≥ l`.
    fn restricted_lp(
        &self,
        held: &[Vec<u32>],
        weight: &dyn Fn(&Edge) -> f64,
        least: Option<Least<'_>>,
    ) -> Option<Duals> {
        let n_cols = self.col_live.len();
        let n_k = self.cap.len();
        // Constraint numbers: live rows (equalities), then columns, then cap rows.
        let mut row_at = vec![NONE; held.len()];
        let mut n_eq = 0;
        for (r, at) in row_at.iter_mut().enumerate() {
            if self.row_live[r] {
                *at = n_eq as u32;
                n_eq += 1;
            }
        }
        let col_base = n_eq;
        let cap_base = col_base + n_cols;
        let n_vars: usize = held.iter().map(Vec::len).sum();
        let least_at = cap_base + n_k;
        let x_base = least_at + usize::from(least.is_some());
        let mut colptr = Vec::with_capacity(n_vars + 1);
        let mut rowval = Vec::with_capacity(4 * n_vars);
        let mut nzval = Vec::with_capacity(4 * n_vars);
        let mut q = Vec::with_capacity(n_vars);
        colptr.push(0);
        let mut j = 0;
        for (r, idx) in held.iter().enumerate() {
            for &i in idx {
                let e = &self.base[r][i as usize];
                q.push(-weight(e));
                let mut rows = vec![row_at[r] as usize, col_base + e.col as usize];
                if !self.dummy[e.col as usize] {
                    rows.extend(self.counted_in(r, e.col).map(|k| cap_base + k));
                }
                rows.sort_unstable();
                nzval.extend(rows.iter().map(|_| 1.0));
                rowval.extend_from_slice(&rows);
                if let Some((a, _)) = &least {
                    rowval.push(least_at);
                    nzval.push(-a(r, e));
                }
                // Each pair's own `−x ≤ 0` row.
                rowval.push(x_base + j);
                nzval.push(-1.0);
                colptr.push(rowval.len());
                j += 1;
            }
        }
        let m = x_base + n_vars;
        let a = CscMatrix::new(m, n_vars, colptr, rowval, nzval);
        let mut b = vec![0.0; m];
        b[..n_eq].fill(1.0);
        b[col_base..cap_base].fill(1.0);
        for k in 0..n_k {
            b[cap_base + k] = self.cap[k] as f64;
        }
        if let Some((_, l)) = least {
            b[least_at] = -l;
        }
        let p = CscMatrix::zeros((n_vars, n_vars));
        let cones = [
            SupportedConeT::ZeroConeT(n_eq),
            SupportedConeT::NonnegativeConeT(m - n_eq),
        ];
        let settings = DefaultSettings::<f64> {
            verbose: false,
            max_threads: 1,
            ..DefaultSettings::default()
        };
        let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings).ok()?;
        solver.solve();
        let s = &solver.solution;
        if !matches!(s.status, SolverStatus::Solved | SolverStatus::AlmostSolved) {
            return None;
        }
        let mut row = vec![0.0; held.len()];
        for (r, &at) in row_at.iter().enumerate() {
            if at != NONE {
                row[r] = s.z[at as usize];
            }
        }
        Some(Duals {
            row,
            col: s.z[col_base..cap_base].to_vec(),
            cap: s.z[cap_base..least_at].to_vec(),
            least: if least.is_some() { s.z[least_at] } else { 0.0 },
            x: s.x.clone(),
            value: -s.obj_val,
        })
    }
}
