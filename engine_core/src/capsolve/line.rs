//! A re-match's first step: where the kept prices no longer prove the optimum because a few
//! cap rows are over- or under-filled (an event moved a household into or out of a
//! scope), each such row's price alone is moved to where its count meets its cap, along the
//! line of that one price, before the cutting-plane model takes over. Where the bound is
//! linear in each price between the matchings met, this costs a few re-augmentations instead
//! of the model's dozens of moves; it never decides anything, since the search that follows
//! proves whatever it finds.

use super::held::Scan;
use super::CapSolver;
use crate::warm::Warm;

/// At most this many cap rows are moved one by one; more mean the event moved the prices
/// widely, which the model does better.
const LINE_ROWS: usize = 8;

/// Evaluations per row.
const LINE_EVALS: usize = 24;

/// A point on one price's line: the price, the bound there and the row's count.
#[derive(Clone, Copy, Debug)]
struct Point {
    mu: i128,
    bound: i128,
    count: i64,
}

impl CapSolver {
    /// Moves the prices of the few cap rows the priced optimum over-fills, or under-fills
    /// while priced, each to the kink of the bound along its own price.
    pub(super) fn line_search(&self, warm: &mut Warm, lambda: &mut [i128]) {
        if !self.settle(warm, lambda, &[], Scan::All) {
            return;
        }
        let counts = self.counts(warm);
        let rows: Vec<usize> = (0..self.cap.len())
            .filter(|&k| counts[k] > self.cap[k] || (counts[k] < self.cap[k] && lambda[k] > 0))
            .collect();
        if rows.len() > LINE_ROWS {
            return;
        }
        for k in rows {
            if self.line(warm, lambda, k).is_none() {
                return;
            }
        }
    }

    /// The bound and row `k`'s count with row `k`'s price at `mu`.
    fn eval(&self, warm: &mut Warm, lambda: &mut [i128], k: usize, mu: i128) -> Option<Point> {
        let mut batch = Vec::new();
        let mut lowered = Vec::new();
        if self.raises(k, lambda[k], mu) {
            self.flagged_into(k, &mut lowered);
        }
        self.move_price(warm, lambda, k, mu, &mut batch);
        warm.reweight(&batch);
        if !self.settle(warm, lambda, &[], Scan::Changed(&lowered)) {
            return None;
        }
        let cert = warm.certify()?;
        Some(Point {
            mu,
            bound: cert.value + self.slack(lambda),
            count: self.counts(warm)[k],
        })
    }

    /// Moves row `k`'s price to the kink where its count crosses its cap (Eisner and
    /// Severance's search along one parameter: each new matching's line narrows the
    /// bracket), and leaves it on the side where the count keeps the cap.
    fn line(&self, warm: &mut Warm, lambda: &mut [i128], k: usize) -> Option<()> {
        let cap = self.cap[k];
        let here = self.eval(warm, lambda, k, lambda[k])?;
        // The bound's slope in row k's price is `cap − count`.
        let slope = |p: &Point| i128::from(cap - p.count);
        let (mut lo, mut hi);
        if here.count > cap {
            lo = here;
            // Double the step up until the count keeps the cap.
            let mut step: i128 = 1 << (crate::warm::TIE_BITS + super::SCALE);
            loop {
                let p = self.eval(warm, lambda, k, (lo.mu + step).min(self.max_price(k)))?;
                if p.count <= cap {
                    hi = p;
                    break;
                }
                if p.mu >= self.max_price(k) {
                    return Some(());
                }
                lo = p;
                step *= 16;
            }
        } else if here.count < cap && here.mu > 0 {
            hi = here;
            let mut step: i128 = 1 << (crate::warm::TIE_BITS + super::SCALE);
            loop {
                let p = self.eval(warm, lambda, k, (hi.mu - step).max(0))?;
                if p.count >= cap || p.mu == 0 {
                    lo = p;
                    break;
                }
                hi = p;
                step *= 16;
            }
            if lo.count < cap {
                // Even unpriced the row is not full: price 0 is where it belongs.
                return Some(());
            }
        } else {
            return Some(());
        }
        // lo: count ≥ cap (slope ≤ 0); hi: count ≤ cap (slope ≥ 0). The lines of their
        // matchings meet at the bound's kink, unless another matching lies between.
        for _ in 0..LINE_EVALS {
            if hi.mu - lo.mu <= 1 || lo.count == cap || hi.count == cap {
                break;
            }
            let (sa, sb) = (slope(&lo), slope(&hi));
            // lo.bound + sa (m − lo.mu) = hi.bound + sb (m − hi.mu), with sa < 0 < sb.
            let num = hi.bound - lo.bound + sa * lo.mu - sb * hi.mu;
            let m = num.div_euclid(sa - sb).clamp(lo.mu + 1, hi.mu - 1);
            let p = self.eval(warm, lambda, k, m)?;
            let on_lines =
                p.bound == (lo.bound + sa * (m - lo.mu)).max(hi.bound + sb * (m - hi.mu));
            if p.count > cap {
                lo = p;
            } else {
                hi = p;
            }
            if on_lines {
                // No matching between the two: the kink lies at `m` or just above it.
                if lo.mu == m {
                    hi = self.eval(warm, lambda, k, m + 1)?;
                }
                break;
            }
        }
        // End on the side where the count keeps the cap (and fills it, where it can).
        let end = if lo.count == cap { lo } else { hi };
        if lambda[k] != end.mu {
            self.eval(warm, lambda, k, end.mu)?;
        }
        Some(())
    }
}
