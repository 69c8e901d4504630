//! "How far am I from a flat": the points an unhoused applicant lacks to be proposed a unit
//! in the last re-match, from the optimal duals ([`Warm::cheapest_move`] over every eligible
//! pair), and the unit it would then get.
//!
//! More points on every pair of the household (as waiting points add) house it once they
//! outweigh the loss of the best matching that houses it against the decision. Uncapped,
//! the kept duals give that loss exactly. Capped, the duals of the priced problem at the
//! kept prices bound it from below (the Lagrangian bound, less the decision's gap to it),
//! and the matching they find, where it keeps every cap, bounds it from above: the figure is
//! exact when both meet.

use super::capped::{dummy_col, unit_col};
use super::*;
use crate::warm::Move;

/// What [`Engine::points_lacking`] finds for one household.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lack {
    /// `proposed` (it has a unit: 0 points), `lacking` (`points` more would get it `unit`),
    /// `no_unit` (no number of points would: no eligible unit can be freed for it),
    /// `sitting_tenant` (housed; a transfer is not a question of points alone) or
    /// `not_computed` (a decision of the legacy capped search, which keeps no prices, or one
    /// under a hard coverage rule).
    pub status: &'static str,
    /// The fewest points that may do: exact, or a lower bound when `exact` is false.
    pub points: Option<i64>,
    pub exact: bool,
    /// Points that surely do (equal to `points` when exact; `None`: unknown).
    pub at_most: Option<i64>,
    pub unit: Option<String>,
}

impl Lack {
    fn only(status: &'static str, points: Option<i64>, unit: Option<String>) -> Self {
        Lack {
            status,
            points,
            exact: status != "sitting_tenant",
            at_most: points,
            unit,
        }
    }
}

/// What one set of admitted pairs gives: bounds on the points needed, and the unit.
struct Found {
    lo: i64,
    hi: Option<i64>,
    unit: usize,
}

/// The fewest whole points `δ` with `δ·2⁶⁴ > loss`.
fn need(loss: i128) -> i64 {
    (loss.div_euclid(1i128 << 64) + 1).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl Engine {
    /// The fewest extra points (added to every pair of the household, as waiting points
    /// are) that would get household `h_id` proposed a unit in the last re-match, all else
    /// equal, and the unit it would get.
    pub fn points_lacking(&self, h_id: &str) -> Result<Lack, String> {
        let d = self.last_decision()?;
        let s = self.snapshot()?;
        let h = self
            .p
            .hh_slot(h_id)
            .ok_or_else(|| format!("household: unknown household {h_id}"))?;
        let o = Order::new(&self.p);
        let unit_of = self.unit_of(d, &o);
        let k =
            o.hs.iter()
                .position(|&x| x == h)
                .ok_or("internal: household not in order")?;
        if let Some(u) = unit_of[k] {
            return Ok(Lack::only("proposed", Some(0), Some(s.unit(u).id.clone())));
        }
        if s.own[h].is_some() {
            return Ok(Lack::only("sitting_tenant", None, None));
        }
        // All of its eligible pairs, those at 0 points or below too: more points admit them.
        let mut mine: Vec<(usize, i64)> = Vec::new();
        let mut scratch = Vec::new();
        s.for_each_eligible(h, &o.us, &mut scratch, |u, w| mine.push((u, w)));
        if !self.caps.is_empty() {
            let shut = self.shut_scopes(&s, &o, h);
            mine.retain(|&(u, _)| !shut(u));
        }
        let found = match (&d.unit_of, &self.capped) {
            (None, _) => search(&mine, |delta| self.uncapped_move(&s, &o, h, &mine, delta))?,
            // Under a hard coverage rule more points can also undo a cover, which the
            // search below does not weigh.
            (Some(decided), Some(st)) if self.kept_caps && !self.has_hard_cover() => {
                let mut cols = vec![NONE; self.p.households.len()];
                for (k, &x) in o.hs.iter().enumerate() {
                    cols[x] = match decided[k] {
                        Some(u) => unit_col(u),
                        None if s.own[x].is_none() => dummy_col(x),
                        None => return Err("internal: a sitting tenant left unhoused".into()),
                    };
                }
                let value = st
                    .solver
                    .keeps_caps(&cols, &[])
                    .ok_or("internal: the decision exceeds a cap")?;
                let (warm, bound) = st.solver.priced_optimum()?;
                let found = search(&mine, |delta| {
                    capped_move(st, &warm, bound - value, value, h, &mine, delta)
                })?;
                match found {
                    Some((f, delta)) => settle(st, value, h, &mine, f, delta)?,
                    None => None,
                }
            }
            _ => {
                return Ok(Lack {
                    status: "not_computed",
                    points: None,
                    exact: false,
                    at_most: None,
                    unit: None,
                })
            }
        };
        Ok(match found {
            None => Lack::only("no_unit", None, None),
            Some((f, delta)) => {
                let points = f.lo.max(delta);
                let at_most = f.hi.map(|x| x.max(delta));
                Lack {
                    status: "lacking",
                    points: Some(points),
                    exact: at_most == Some(points),
                    at_most,
                    unit: Some(s.unit(f.unit).id.clone()),
                }
            }
        })
    }

    /// Units a cap keeps `h` out of whatever else moves: a scope whose cap its flagged
    /// sitting tenants without a transfer request fill already (they cannot leave it).
    fn shut_scopes<'s>(
        &self,
        s: &'s ScoreView<'_>,
        o: &Order,
        h: usize,
    ) -> impl Fn(usize) -> bool + 's {
        let table = self.cap_table(s, o);
        let mut stuck = vec![0i64; table.rows.len()];
        for (r, cap) in self.caps.iter().enumerate() {
            for &x in &o.hs {
                let hx = s.hh(x);
                if let (Some(u), true, false) =
                    (s.own[x], hx.flag(&cap.flag), hx.transfer_requested)
                {
                    let k = table.unit_cons[r][u];
                    if k != NONE {
                        stuck[k as usize] += 1;
                    }
                }
            }
        }
        let rules: Vec<usize> = (0..self.caps.len())
            .filter(|&r| s.hh(h).flag(&self.caps[r].flag))
            .collect();
        move |u: usize| {
            rules.iter().any(|&r| {
                let k = table.unit_cons[r][u];
                k != NONE && stuck[k as usize] >= table.rows[k as usize].2
            })
        }
    }

    /// The uncapped case: the kept duals, exact.
    fn uncapped_move(
        &self,
        s: &ScoreView<'_>,
        o: &Order,
        h: usize,
        mine: &[(usize, i64)],
        delta: i64,
    ) -> Result<Option<Found>, String> {
        let (inc, maps) = (&self.inc, &self.inc.maps);
        let edge = |row: u32, u: usize, w: i64| Edge {
            w,
            t: warm::tie(
                inc.row_key[row as usize],
                inc.col_key[maps.col_of_u[u] as usize],
            ),
            col: maps.col_of_u[u],
        };
        let r0 = maps.row_of_h[h];
        let first: Vec<Edge> = mine
            .iter()
            .filter(|&&(_, w)| w + delta > 0)
            .map(|&(u, w)| edge(r0, u, w))
            .collect();
        let mut scratch = Vec::new();
        // Every other row's pairs as the matcher sees them (applicants: above 0, and their
        // private "unmatched" column).
        let mut edges_of = |row: u32, out: &mut Vec<Edge>| {
            let x = maps.h_of_row[row as usize] as usize;
            let applicant = s.own[x].is_none();
            s.for_each_eligible(x, &o.us, &mut scratch, |u, w| {
                if !applicant || w > 0 {
                    out.push(edge(row, u, w));
                }
            });
            if applicant {
                out.push(Edge {
                    w: 0,
                    t: warm::tie(inc.row_key[row as usize], UNMATCHED_KEY),
                    col: inc.dummy[row as usize],
                });
            }
        };
        let Some(m) = inc.warm.cheapest_move(r0, &first, &mut edges_of)? else {
            return Ok(None);
        };
        if m.loss <= 0 {
            return Err("internal: the optimum leaves out a household it could house".into());
        }
        let n = need(m.loss);
        Ok(Some(Found {
            lo: n,
            hi: Some(n),
            unit: maps.u_of_col[m.path[0].1 as usize] as usize,
        }))
    }
}

/// The capped case: bounds from the priced problem at the kept prices (`gap`: how far the
/// decision, of weight `value`, lies below that problem's bound).
fn capped_move(
    st: &capped::CapState,
    warm: &Warm,
    gap: i128,
    value: i128,
    h: usize,
    mine: &[(usize, i64)],
    delta: i64,
) -> Result<Option<Found>, String> {
    let solver = &st.solver;
    let r0 = h as u32;
    let plain: Vec<Edge> = mine
        .iter()
        .filter(|&&(_, w)| w + delta > 0)
        .map(|&(u, w)| Edge {
            w,
            t: warm::tie(st.row_key[h], st.col_key[u]),
            col: unit_col(u),
        })
        .collect();
    let here = warm.col_of(r0);
    let m = if here.is_multiple_of(2) {
        // The priced optimum already houses it: the prices prove no lower bound above 0.
        Move {
            loss: 0,
            path: vec![(r0, here)],
        }
    } else {
        let kept = solver.kept_prices();
        let first: Vec<Edge> = plain.iter().map(|&e| kept.price(r0, e)).collect();
        let mut edges_of = |row: u32, out: &mut Vec<Edge>| kept.priced_edges(row, out);
        match warm.cheapest_move(r0, &first, &mut edges_of)? {
            Some(m) => m,
            None => return Ok(None),
        }
    };
    let mut cols = warm.matching();
    for &(r, c) in &m.path {
        cols[r as usize] = c;
    }
    let extra: Vec<(u32, Edge)> = plain.iter().map(|&e| (r0, e)).collect();
    let hi = solver.keeps_caps(&cols, &extra).map(|w| need(value - w));
    Ok(Some(Found {
        lo: need(m.loss - gap),
        hi,
        unit: m.path[0].1 as usize / 2,
    }))
}

/// The first number of points that a set of admitted pairs covers. An applicant's pair is
/// proposable only above 0 points, so more points admit more of its pairs; between two such
/// thresholds the admitted pairs, and so the bounds, stay the same. Returns the bounds found
/// and the threshold they start from; `None` if no number of points would do.
fn search(
    mine: &[(usize, i64)],
    mut at: impl FnMut(i64) -> Result<Option<Found>, String>,
) -> Result<Option<(Found, i64)>, String> {
    let mut thresholds: Vec<i64> = mine.iter().map(|&(_, w)| 1 - w).collect();
    thresholds.sort_unstable();
    thresholds.dedup();
    let Some(&lowest) = thresholds.first() else {
        return Ok(None);
    };
    let mut delta = lowest.max(1);
    loop {
        let next = thresholds.iter().copied().find(|&t| t > delta);
        if let Some(f) = at(delta)? {
            if next.is_none_or(|t| f.lo.max(delta) < t) {
                return Ok(Some((f, delta)));
            }
        }
        match next {
            Some(t) => delta = t,
            None => return Ok(None),
        }
    }
}

/// Node budget of each capped re-solve that settles a figure the bounds leave open.
const PROBE_NODES: u64 = 200;
/// Most capped re-solves one figure may take: each costs about a capped re-match, and
/// `explain` answers interactively; past it the bounds so far are returned (`exact` false).
const PROBES: u32 = 6;
/// More points than any two matchings' scores differ by (scores stay below 2³⁰ points).
const ALWAYS: i64 = 1 << 31;

/// Closes the bounds of a capped figure, and names the unit, by re-solving on copies of the
/// capped solver with the extra points given to the household. The first probe, at
/// [`ALWAYS`] points, houses it if any matching that keeps the caps can, in the best such
/// matching: no fewer points than that matching's shortfall against the decision can do, so
/// that shortfall is a lower bound, and usually the figure, which one more probe confirms.
/// Otherwise the bounds close by doubling from the lower bound, then halving. Every probe is
/// a proven optimum, so the figure is exact; where the node budget stops a probe, or
/// [`PROBES`] are spent, the bounds so far are returned.
fn settle(
    st: &capped::CapState,
    value: i128,
    h: usize,
    mine: &[(usize, i64)],
    f: Found,
    delta: i64,
) -> Result<Option<(Found, i64)>, String> {
    let row_key = st.row_key[h];
    let solver = &st.solver;
    let plain = |u: usize, w: i64| Edge {
        w,
        t: warm::tie(row_key, st.col_key[u]),
        col: unit_col(u),
    };
    let left = std::cell::Cell::new(PROBES);
    // The capped optimum with `points` more for `h`: `None` if not proven (or out of
    // probes), else the columns of every row.
    let optimum = |points: i64| -> Result<Option<Vec<u32>>, String> {
        if left.get() == 0 {
            return Ok(None);
        }
        left.set(left.get() - 1);
        let mut edges: Vec<Edge> = mine
            .iter()
            .filter(|&&(_, w)| w + points > 0)
            .map(|&(u, w)| Edge {
                w: w + points,
                ..plain(u, w)
            })
            .collect();
        edges.push(Edge {
            w: 0,
            t: warm::tie(row_key, UNMATCHED_KEY),
            col: dummy_col(h),
        });
        edges.sort_unstable_by_key(|e| e.col);
        solver.optimum_with(h as u32, edges, PROBE_NODES)
    };
    let unit_in = |cols: &[u32]| -> Option<usize> {
        let c = cols.get(h).copied().unwrap_or(NONE);
        solver.is_unit_col(c).then_some(c as usize / 2)
    };
    let probe = |points: i64| -> Result<Option<Option<usize>>, String> {
        Ok(optimum(points)?.map(|cols| unit_in(&cols)))
    };
    // Not enough below `lo`; enough at `hi` (in `unit`, where a probe said so).
    let mut lo = f.lo.max(delta);
    let mut hi = f.hi.map(|x| x.max(delta));
    let mut unit = None;
    let open = |lo: i64, hi: Option<i64>| {
        Some((
            Found {
                lo,
                hi,
                unit: f.unit,
            },
            delta,
        ))
    };
    if hi.is_none() {
        let Some(cols) = optimum(ALWAYS)? else {
            return Ok(open(lo, None));
        };
        if unit_in(&cols).is_none() {
            return Ok(None);
        }
        let extra: Vec<(u32, Edge)> = mine.iter().map(|&(u, w)| (h as u32, plain(u, w))).collect();
        let best = solver
            .keeps_caps(&cols, &extra)
            .ok_or("internal: a capped optimum exceeds a cap")?;
        lo = lo.max(need(value - best));
        match probe(lo)? {
            None => return Ok(open(lo, None)),
            Some(Some(u)) => (hi, unit) = (Some(lo), Some(u)),
            Some(None) => lo += 1,
        }
        let mut step = 1i64;
        while hi.is_none() {
            let at = lo.saturating_add(step - 1).min(ALWAYS);
            match probe(at)? {
                None => return Ok(open(lo, None)),
                Some(Some(u)) => (hi, unit) = (Some(at), Some(u)),
                Some(None) => lo = at + 1,
            }
            step = step.saturating_mul(2);
        }
    }
    let mut hi = hi.unwrap_or(ALWAYS);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match probe(mid)? {
            None => return Ok(open(lo, Some(hi))),
            Some(Some(u)) => (hi, unit) = (mid, Some(u)),
            Some(None) => lo = mid + 1,
        }
    }
    let unit = match unit {
        Some(u) => u,
        None => match probe(lo)? {
            Some(Some(u)) => u,
            Some(None) => return Err("internal: the bounds of a capped figure crossed".into()),
            None => return Ok(open(lo, Some(lo))),
        },
    };
    Ok(Some((
        Found {
            lo,
            hi: Some(lo),
            unit,
        },
        delta,
    )))
}
