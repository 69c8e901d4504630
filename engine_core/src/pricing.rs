//! Implicit edges. At national scale about half of all household × unit pairs are eligible
//! (some 3·10⁸), far too many to hold. The matcher keeps a small restricted set of edges per
//! household and proves that no edge left out could improve the optimum: with the solver's
//! duals, every eligible pair's reduced cost must be non-negative ("pricing", as in column
//! generation). Pricing is fast because vacant units fall into few groups that agree on every
//! attribute the score reads except the building (rooms, access, kind, district, school
//! district): a group's best possible score for a household bounds all its units, so most
//! groups are dismissed with one comparison.

use std::collections::BTreeMap;

use crate::model::Kind;
use crate::scoring::{GroupKey, ScoreView};
use crate::warm::{self, RowKey, TIE_BITS};

/// Group ids kept across solves: a key keeps its id for the engine's lifetime, so bounds
/// computed per household over the groups stay valid while the household does not change.
#[derive(Clone, Debug, Default)]
pub struct GroupIndex {
    ids: BTreeMap<GroupKey, u32>,
    pub keys: Vec<GroupKey>,
}

/// Vacant units (no sitting tenant) grouped by [`GroupKey`], kept across solves and updated
/// per unit that changed. Units are unit slots; a group may be empty (its key was seen
/// before).
#[derive(Clone, Debug, Default)]
pub struct Groups {
    /// Units of each group.
    pub units: Vec<Vec<u32>>,
    /// Group of each unit slot; `u32::MAX` for occupied units and free slots.
    pub of_unit: Vec<u32>,
    /// Vacant units of each building (by building code).
    pub in_building: Vec<Vec<u32>>,
    /// Building each listed unit was listed under (its building may change since).
    listed_in: Vec<u32>,
    /// Number of units listed.
    pub vacant: usize,
    /// Groups whose units changed since [`Groups::take_changed`].
    changed: Vec<u32>,
}

impl Groups {
    /// Groups the vacant units of `s` among `units` (slots); new keys get new ids in `index`.
    pub fn new(s: &ScoreView, index: &mut GroupIndex, units: &[usize]) -> Self {
        let mut g = Groups {
            units: vec![Vec::new(); index.keys.len()],
            ..Groups::default()
        };
        for &u in units {
            g.insert(s, index, u);
        }
        g
    }

    /// Takes unit slot `u` off the lists, if listed.
    pub fn remove(&mut self, u: usize) {
        let Some(&g) = self.of_unit.get(u) else {
            return;
        };
        if g == u32::MAX {
            return;
        }
        let slot = u as u32;
        self.units[g as usize].retain(|&x| x != slot);
        self.in_building[self.listed_in[u] as usize].retain(|&x| x != slot);
        self.of_unit[u] = u32::MAX;
        self.vacant -= 1;
        self.changed.push(g);
    }

    /// Lists unit slot `u` if it is vacant (after [`Groups::remove`] if it was listed).
    pub fn insert(&mut self, s: &ScoreView, index: &mut GroupIndex, u: usize) {
        debug_assert!(self.of_unit.get(u).is_none_or(|&g| g == u32::MAX));
        if s.occupant[u].is_some() {
            return;
        }
        let unit = s.unit(u);
        let key = (
            unit.rooms,
            unit.accessible,
            unit.kind == Kind::Care,
            s.unit_district[u],
            s.unit_school[u],
        );
        let next = index.keys.len() as u32;
        let g = *index.ids.entry(key).or_insert(next);
        if g == next {
            index.keys.push(key);
        }
        if self.units.len() < index.keys.len() {
            self.units.resize_with(index.keys.len(), Vec::new);
        }
        if u >= self.of_unit.len() {
            self.of_unit.resize(u + 1, u32::MAX);
            self.listed_in.resize(u + 1, u32::MAX);
        }
        let b = s.building_of(u);
        if b as usize >= self.in_building.len() {
            self.in_building.resize_with(b as usize + 1, Vec::new);
        }
        self.units[g as usize].push(u as u32);
        self.in_building[b as usize].push(u as u32);
        self.of_unit[u] = g;
        self.listed_in[u] = b;
        self.vacant += 1;
        self.changed.push(g);
    }

    /// Groups whose units changed since the last call (may repeat).
    pub fn take_changed(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.changed)
    }

    /// Group of unit slot `u`, if listed.
    pub fn group_of(&self, u: usize) -> Option<u32> {
        self.of_unit.get(u).copied().filter(|&g| g != u32::MAX)
    }

    /// Vacant units of building `b`.
    pub fn in_building(&self, b: u32) -> &[u32] {
        self.in_building
            .get(b as usize)
            .map_or(&[], |v| v.as_slice())
    }
}

/// One group's vacant units as row pricing walks them: those whose column dual is 0 (mostly
/// units nobody takes, the bulk at national scale) in runs of one building, whose score for a
/// household is one number, then the others by falling dual (ties by unit). Each unit comes
/// with its column's dual and tie-break key, so that the walk reads no per-unit state
/// elsewhere (those reads were most of its time at national scale).
#[derive(Clone, Debug, Default)]
pub struct PricedGroup {
    /// (building, end of its run in `zero`).
    pub runs: Vec<(u32, u32)>,
    /// (unit, column key), dual 0.
    pub zero: Vec<(u32, u64)>,
    /// The others, highest dual first.
    pub rest: Vec<Priced>,
    /// Per skill `k`, the positions in `rest` of the units whose building no sitting tenant
    /// with `k` lives in (ascending, so by falling dual), from `lacking_at[k]` to
    /// `lacking_at[k + 1]`. Only these can score resource-mix points, so a household's walk
    /// of `rest` bounds the others without them (most units, where its skills are all
    /// present) and walks these lists with them. Empty beyond 64 skills.
    lacking: Vec<u32>,
    lacking_at: Vec<u32>,
    /// The skills named when the lists were made: a household with a skill named since walks
    /// `rest` as a whole.
    known: u64,
}

/// A vacant unit with a non-zero column dual, as row pricing reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priced {
    pub v: i128,
    pub unit: u32,
    pub building: u32,
    pub key: u64,
}

impl PricedGroup {
    /// `col(u)` is unit `u`'s column dual and key. The engine sorts a group again whenever
    /// one of its duals moved, so they are exact while rows are priced (and only fall during
    /// the column pricing of a round, so they stay upper bounds until the next one).
    pub fn new(s: &ScoreView, units: &[u32], col: impl Fn(u32) -> (i128, u64)) -> Self {
        let mut zero: Vec<(u32, u32, u64)> = Vec::new();
        let mut rest: Vec<Priced> = Vec::new();
        for &u in units {
            let (v, key) = col(u);
            let building = s.building_of(u as usize);
            if v == 0 {
                zero.push((building, u, key));
            } else {
                rest.push(Priced {
                    v,
                    unit: u,
                    building,
                    key,
                });
            }
        }
        zero.sort_unstable();
        rest.sort_unstable_by(|a, b| b.v.cmp(&a.v).then(a.unit.cmp(&b.unit)));
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for (i, &(b, _, _)) in zero.iter().enumerate() {
            match runs.last_mut() {
                Some(last) if last.0 == b => last.1 = i as u32 + 1,
                _ => runs.push((b, i as u32 + 1)),
            }
        }
        let (lacking, lacking_at) = lacking_lists(s, &rest);
        PricedGroup {
            runs,
            zero: zero.into_iter().map(|(_, u, k)| (u, k)).collect(),
            rest,
            lacking,
            lacking_at,
            known: s.skill_bits().unwrap_or(0),
        }
    }

    /// Does this group, kept between solves, list what `fresh` (made now) does? Its skill
    /// lists need to agree on the skills named when it was made only.
    pub fn agrees_with(&self, fresh: &PricedGroup) -> bool {
        self.runs == fresh.runs
            && self.zero == fresh.zero
            && self.rest == fresh.rest
            && self.lacking_at.is_empty() == fresh.lacking_at.is_empty()
            && (self.lacking_at.is_empty()
                || bits(self.known).all(|k| self.lacking(k) == fresh.lacking(k)))
    }

    /// Positions in `rest` of the units in buildings that lack skill `k` (see `lacking`).
    fn lacking(&self, k: u32) -> &[u32] {
        let at = |k: usize| self.lacking_at[k] as usize;
        &self.lacking[at(k as usize)..at(k as usize + 1)]
    }
}

/// [`PricedGroup`]'s per-skill lists of `rest` (a counting sort by skill); none beyond 64
/// skills. The engine sorts a group again when a building's skills change.
fn lacking_lists(s: &ScoreView, rest: &[Priced]) -> (Vec<u32>, Vec<u32>) {
    if s.skill_bits().is_none() || rest.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let missing = |e: &Priced| s.missing_in(e.building).unwrap_or(0);
    let mut at = vec![0u32; 65];
    for e in rest {
        for k in bits(missing(e)) {
            at[k as usize + 1] += 1;
        }
    }
    for k in 0..64 {
        at[k + 1] += at[k];
    }
    let mut next = at.clone();
    let mut lists = vec![0u32; at[64] as usize];
    for (i, e) in rest.iter().enumerate() {
        for k in bits(missing(e)) {
            lists[next[k as usize] as usize] = i as u32;
            next[k as usize] += 1;
        }
    }
    (lists, at)
}

/// The positions of the set bits of `m`, lowest first.
fn bits(mut m: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (m != 0).then(|| {
            let k = m.trailing_zeros();
            m &= m - 1;
            k
        })
    })
}

/// A candidate edge found by pricing: its value `w·2⁶⁴ + tie + v(col)`, unit and score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub val: i128,
    pub unit: u32,
    pub w: i64,
}

/// Does household `h` take part in pricing? Sitting tenants without a transfer request have
/// their own unit as the only eligible pair (rule 5).
pub fn priceable(s: &ScoreView, h: usize) -> bool {
    s.own[h].is_none() || s.hh(h).transfer_requested
}

/// Eligibility and score of a vacant unit `u` for a priceable household `h` (rules 2–4 and 7,
/// and the applicants' "score above 0"); `own_total` is the score of `h`'s own unit, if any.
/// The reference column pricing's compact scores are tested against.
#[cfg(test)]
pub fn vacant_score(s: &ScoreView, h: usize, u: usize, own_total: Option<i64>) -> Option<i64> {
    s.static_ok(h, u).then_some(())?;
    let w = s.breakdown_of(h, u).total();
    match own_total {
        Some(o) => (w >= o).then_some(w),
        None => (w > 0).then_some(w),
    }
}

/// Per compatible group of household `h`: an upper bound of its score over the group's units
/// outside `h`'s own building, the group, and the score without the building-dependent parts
/// (resource mix, same building), both without the waiting points (a new date moves them for
/// every group alike); best bound first (ties by group). They depend only on the household and the group keys, so the
/// engine keeps them between solves.
pub fn group_bounds(s: &ScoreView, keys: &[GroupKey], h: usize) -> Vec<GroupBound> {
    if !priceable(s, h) {
        return Vec::new();
    }
    let p = s.policy;
    let n_skills = s.skill_count(h) as i64;
    let rules_max = s.mix.as_ref().map_or(0, |m| m.max_points(h));
    let mix_max = (p.skill_bonus * n_skills).min(p.skill_bonus_max).max(0) + rules_max;
    let mut out = Vec::new();
    for (g, key) in keys.iter().enumerate() {
        let Some(base) = s.group_base(h, key) else {
            continue;
        };
        // Units in the household's own building (worth the same-building bonus more) are
        // priced on their own, so the bound leaves that bonus out.
        out.push(GroupBound {
            best: base + mix_max,
            group: g as u32,
            base,
        });
    }
    out.sort_unstable_by(|a, b| b.best.cmp(&a.best).then(a.group.cmp(&b.group)));
    out
}

#[derive(Clone, Copy, Debug)]
pub struct GroupBound {
    pub best: i64,
    pub group: u32,
    pub base: i64,
}

/// How far below the cut row pricing still scores pairs exactly (4 points).
const MARGIN: i128 = 4 << 64;

/// Pairs worth up to [`MARGIN`] below the cut are scored exactly too (not only bounded), so
/// that the bound returned leaves the row that much room: a dual rise smaller than that (the
/// common tie-break-sized rises along augmenting paths) needs no new pricing.
#[inline]
fn floor(cut: i128) -> i128 {
    cut.saturating_sub(MARGIN)
}

/// May a pair scoring `w` be proposed to a household whose own unit scores `own_total`
/// (rule 7), or to an applicant (above 0)?
#[inline]
fn eligible(own_total: Option<i64>, w: i64) -> bool {
    match own_total {
        Some(o) => w >= o,
        None => w > 0,
    }
}

/// The best candidates of one row pricing, and the bound on everything else seen.
struct Best<'o> {
    out: &'o mut Vec<Candidate>,
    limit: usize,
    cut: i128,
    rest: i128,
    /// Bound on the pairs of an applicant that rules 2–4 allow but whose score is not above 0
    /// (walked or bounded on the way; the others are in `rest`).
    low: i128,
    /// Units the household declined lately (rule 8), if any: never offered, bounded nowhere
    /// (the household is priced anew when a hold lapses).
    declined: Option<&'o dyn Fn(usize) -> bool>,
}

impl Best<'_> {
    /// One unit of a group's `rest` in row pricing's walk, scoring `w` for the household
    /// (`own_total` as for [`price_row`]).
    #[inline]
    fn walk(
        &mut self,
        e: &Priced,
        w: i64,
        own_total: Option<i64>,
        row_key: RowKey,
        in_graph: &dyn Fn(usize) -> bool,
    ) {
        if self.declined.is_some_and(|d| d(e.unit as usize)) {
            return;
        }
        let top_u = (i128::from(w) << 64) + (1i128 << TIE_BITS) + e.v;
        if top_u <= floor(self.cut) {
            // Cannot come near the cut whatever its tie-break: skip hashing it.
            self.rest = self.rest.max(top_u);
            return;
        }
        if eligible(own_total, w) {
            self.offer(
                (i128::from(w) << 64) + i128::from(warm::tie(row_key, e.key)) + e.v,
                e.unit as usize,
                w,
                in_graph,
            );
        } else {
            self.low = self.low.max(top_u);
        }
    }

    fn offer(&mut self, val: i128, unit: usize, w: i64, in_graph: &dyn Fn(usize) -> bool) {
        if self.declined.is_some_and(|d| d(unit)) {
            return;
        }
        if val <= self.cut {
            // Pairs already in the graph are not "left out" (the matched one sits at -u).
            if val > self.rest && !in_graph(unit) {
                self.rest = val;
            }
            return;
        }
        let unit = unit as u32;
        let at = self
            .out
            .partition_point(|x| x.val > val || (x.val == val && x.unit < unit));
        self.out.insert(at, Candidate { val, unit, w });
        if self.out.len() > self.limit {
            let dropped = self.out.pop().expect("over the limit");
            self.rest = self.rest.max(dropped.val);
        }
        if self.out.len() == self.limit {
            self.cut = self.cut.max(self.out[self.limit - 1].val);
        }
    }
}

/// Row pricing: the (up to) `limit` vacant units with the highest value
/// `w·2⁶⁴ + tie(u) + v(u)` above `threshold` for household `h`, best first (ties by unit).
/// Returns an upper bound on the value of every eligible pair of `h` not returned, as tight
/// as the walk allows (the caller keeps it to skip this row until its dual rises past it),
/// and [`Bounds::low`]: with the first, a bound on the pairs of an applicant that are not
/// eligible only for a score not above 0 (a new date can make them eligible).
/// `bounds` are [`group_bounds`] of `h`, `own_total` the score of its own unit (rule 7), if
/// any; `by_price[g]` is group `g`'s units as [`PricedGroup`]; `own_building` the vacant
/// units in the building of `h`'s own unit.
#[allow(clippy::too_many_arguments)]
pub fn price_row(
    s: &ScoreView,
    bounds: &[GroupBound],
    by_price: &[PricedGroup],
    own_building: &[u32],
    h: usize,
    own_total: Option<i64>,
    threshold: i128,
    limit: usize,
    row_key: RowKey,
    tie: &dyn Fn(usize) -> u64,
    v: &dyn Fn(usize) -> i128,
    in_graph: &dyn Fn(usize) -> bool,
    out: &mut Vec<Candidate>,
) -> Bounds {
    out.clear();
    if bounds.is_empty() {
        // No compatible group: no vacant unit is eligible, in the own building either.
        return Bounds {
            rest: i128::MIN,
            low: i128::MIN,
        };
    }
    let wait = s.waiting(h);
    let slack = 1i128 << TIE_BITS;
    debug_assert!(limit > 0, "row pricing looks for at least one candidate");
    // Everything not returned is worth at most `rest`.
    let hh = s.hh(h);
    let declined = |u: usize| hh.declined(&s.unit(u).id);
    let mut best = Best {
        out,
        limit,
        cut: threshold,
        rest: i128::MIN,
        low: i128::MIN,
        declined: (!hh.declined_units.is_empty()).then_some(&declined as &dyn Fn(usize) -> bool),
    };
    // The own building first: its units score the same-building bonus above what their
    // group's bound allows for, so the group walk below leaves them out.
    for &u in own_building {
        let u = u as usize;
        if !s.static_ok(h, u) {
            continue;
        }
        let w = s.breakdown_of(h, u).total();
        let val = (i128::from(w) << 64) + i128::from(tie(u)) + v(u);
        if eligible(own_total, w) {
            best.offer(val, u, w, in_graph);
        } else {
            best.low = best.low.max(val);
        }
    }
    let own_b = s.own[h].map(|o| s.building_of(o));
    let mix = s.mix_elsewhere(h);
    if s.by_unit(h) {
        // Mix-rule points differ between buildings and between units of one building (by
        // stairwell or floor): every vacant unit of the compatible groups is scored as it is.
        for gb in bounds {
            let pg = &by_price[gb.group as usize];
            let zero = pg.zero.iter().map(|&(u, key)| (u, key, 0));
            let rest = pg.rest.iter().map(|e| (e.unit, e.key, e.v));
            for (u, key, vu) in zero.chain(rest) {
                let u = u as usize;
                if Some(s.building_of(u)) == own_b {
                    continue; // seen above
                }
                let w = s.breakdown_of(h, u).total();
                let val = (i128::from(w) << 64) + i128::from(warm::tie(row_key, key)) + vu;
                if eligible(own_total, w) {
                    best.offer(val, u, w, in_graph);
                } else {
                    best.low = best.low.max(val);
                }
            }
        }
        return Bounds {
            rest: best.rest,
            low: best.low,
        };
    }
    for gb in bounds {
        let top = (i128::from(gb.best + wait) << 64) + slack;
        // Column duals are never positive: no later group can beat the cut.
        if top <= floor(best.cut) {
            best.rest = best.rest.max(top);
            break;
        }
        let pg = &by_price[gb.group as usize];
        // Units at dual 0, a building at a time: one score per building.
        let mut start = 0usize;
        for &(b, end) in &pg.runs {
            let run = &pg.zero[start..end as usize];
            start = end as usize;
            if Some(b) == own_b {
                continue; // seen above
            }
            let w = gb.base + wait + mix(b);
            let top_b = (i128::from(w) << 64) + slack;
            if top_b <= floor(best.cut) {
                best.rest = best.rest.max(top_b);
                continue;
            }
            if !eligible(own_total, w) {
                best.low = best.low.max(top_b);
                continue;
            }
            for &(u, key) in run {
                let u = u as usize;
                debug_assert_eq!(v(u), 0, "a group's duals are kept exact");
                best.offer(
                    (i128::from(w) << 64) + i128::from(warm::tie(row_key, key)),
                    u,
                    w,
                    in_graph,
                );
            }
        }
        // Units with a non-zero dual. Where the group keeps per-skill lists, the walk over all
        // of them bounds a unit by the score without mix points (it skips those that score
        // some: they are on the lists of the skills they lack), and each of the household's
        // skills' lists is walked with the full bound, a unit on the first list that has it.
        let m = match (s.skill_masks(h), pg.lacking_at.is_empty()) {
            (Some(m), false) if m & !pg.known == 0 => m,
            _ => 0,
        };
        let top_all = if m == 0 {
            top
        } else {
            (i128::from(gb.base + wait) << 64) + slack
        };
        let lacks = |b: u32| s.missing_in(b).unwrap_or(0);
        for e in &pg.rest {
            // Units come by falling dual: the rest of the group cannot beat the cut either.
            if top_all + e.v <= floor(best.cut) {
                best.rest = best.rest.max(top_all + e.v);
                break;
            }
            if Some(e.building) == own_b || lacks(e.building) & m != 0 {
                continue; // seen above, or on a skill's list below
            }
            debug_assert_eq!(v(e.unit as usize), e.v, "a group's duals are kept exact");
            // With skill masks, a unit left here lacks none of the household's skills.
            let rm = if m != 0 { 0 } else { mix(e.building) };
            best.walk(e, gb.base + wait + rm, own_total, row_key, in_graph);
        }
        let mut seen = 0u64;
        for k in bits(m) {
            for &i in pg.lacking(k) {
                let e = &pg.rest[i as usize];
                if top + e.v <= floor(best.cut) {
                    best.rest = best.rest.max(top + e.v);
                    break;
                }
                debug_assert!(
                    lacks(e.building) & (1 << k) != 0,
                    "lists follow the buildings"
                );
                if Some(e.building) == own_b || lacks(e.building) & seen != 0 {
                    continue; // seen above, or on an earlier skill's list
                }
                debug_assert_eq!(v(e.unit as usize), e.v, "a group's duals are kept exact");
                best.walk(
                    e,
                    gb.base + wait + mix(e.building),
                    own_total,
                    row_key,
                    in_graph,
                );
            }
            seen |= 1 << k;
        }
    }
    Bounds {
        rest: best.rest,
        low: best.low,
    }
}

/// What a row pricing leaves out: `rest` bounds the eligible pairs not returned; `low`
/// together with `rest` bounds the pairs of an applicant that rules 2–4 allow but whose
/// score is not above 0 (the pairs a new date can make eligible). Pairs below the walk's
/// floor count in `rest` whatever their score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub rest: i128,
    pub low: i128,
}

/// A priceable household in one cache line, for column pricing, which scores every such
/// household against one unit: reading them through the snapshot costs a few cache misses
/// each at national scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compact {
    pub h: u32,
    needed: i64,
    /// Waiting and urgency points.
    fixed: i64,
    /// Score of the own unit (rule 7), or `i64::MIN` for applicants (who need above 0).
    own_total: i64,
    skills: u64,
    /// Preferred districts as bits of their codes.
    preferred: u64,
    school: u32,
    own_building: u32,
    needs_accessible: bool,
    care_need: bool,
    children: bool,
    /// Codes beyond 64, no skill masks, declined units or mix-rule points: score through the
    /// snapshot instead.
    slow: bool,
}

impl Compact {
    /// The record of household `h` if it takes part in pricing, with its own unit's score.
    pub fn of(s: &ScoreView, h: usize) -> Option<Self> {
        priceable(s, h).then(|| {
            let own_total = s.own[h].map(|o| s.breakdown_of(h, o).total());
            Compact::new(s, h, own_total)
        })
    }

    pub fn new(s: &ScoreView, h: usize, own_total: Option<i64>) -> Self {
        let hh = s.hh(h);
        let c = &hh.codes;
        let skills = s.skill_masks(h);
        // A household with declined units or mix-rule points is scored through the snapshot,
        // which knows them.
        let slow = skills.is_none()
            || c.preferred.iter().any(|&d| d >= 64)
            || !hh.declined_units.is_empty()
            || s.by_unit(h);
        Compact {
            h: h as u32,
            needed: s.needed[h],
            fixed: s.waiting(h) + s.policy.urgency_points * hh.urgency,
            own_total: own_total.unwrap_or(i64::MIN),
            skills: skills.unwrap_or(0),
            preferred: c
                .preferred
                .iter()
                .filter(|&&d| d < 64)
                .fold(0, |m, &d| m | (1 << d)),
            school: c.school.unwrap_or(u32::MAX),
            own_building: s.own[h].map_or(u32::MAX, |o| s.building_of(o)),
            needs_accessible: hh.needs_accessible,
            care_need: hh.care_need,
            children: hh.children > 0,
            slow,
        }
    }
}

/// The priceable households' [`Compact`] records, kept between solves by row slot and
/// updated per household that changed: listing the priceable households and building their
/// records anew took about 7 ms a solve at national scale, more than pricing a dozen columns.
/// Their order follows the history of changes; nothing that reads them depends on it.
#[derive(Clone, Debug, Default)]
pub struct CompactRows {
    recs: Vec<Compact>,
    /// Row slot of each record.
    rows: Vec<u32>,
    /// Index in `recs` of each row slot's record, or `u32::MAX`.
    at: Vec<u32>,
    /// The snapshot's skill-mask mode the records were built in (`None`: not built).
    masks: Option<bool>,
}

impl CompactRows {
    pub fn recs(&self) -> &[Compact] {
        &self.recs
    }

    /// Do the records need building anew for snapshot `s` (never built, or the skills no
    /// longer fit the bit sets)?
    pub fn stale(&self, s: &ScoreView) -> bool {
        self.masks != Some(s.masks())
    }

    /// Drops every record; [`CompactRows::set`] then rebuilds them for `s`.
    pub fn clear(&mut self, s: &ScoreView) {
        self.recs.clear();
        self.rows.clear();
        self.at.clear();
        self.masks = Some(s.masks());
    }

    /// Row slot `r`'s record: household `h` of `s`, if it is priceable, else none (also for
    /// a row that left, `h == None`).
    pub fn set(&mut self, s: &ScoreView, r: u32, h: Option<usize>) {
        let ru = r as usize;
        if ru >= self.at.len() {
            self.at.resize(ru + 1, u32::MAX);
        }
        let rec = h.and_then(|h| Compact::of(s, h));
        match (self.at[ru], rec) {
            (u32::MAX, Some(rec)) => {
                self.at[ru] = self.recs.len() as u32;
                self.recs.push(rec);
                self.rows.push(r);
            }
            (i, Some(rec)) => self.recs[i as usize] = rec,
            (u32::MAX, None) => {}
            (i, None) => {
                let i = i as usize;
                self.recs.swap_remove(i);
                self.rows.swap_remove(i);
                if let Some(&moved) = self.rows.get(i) {
                    self.at[moved as usize] = i as u32;
                }
                self.at[ru] = u32::MAX;
            }
        }
    }

    /// Row slot `r`'s record, if any.
    pub fn get(&self, r: u32) -> Option<&Compact> {
        let i = *self.at.get(r as usize)?;
        self.recs.get(i as usize)
    }
}

/// What column pricing reads of one vacant unit.
pub struct UnitView {
    rooms: i64,
    accessible: bool,
    care: bool,
    building: u32,
    district: u32,
    school: u32,
    one: u64,
    two: u64,
}

impl UnitView {
    pub fn new(s: &ScoreView, u: usize) -> Self {
        let unit = s.unit(u);
        let building = s.building_of(u);
        let (one, two) = s.building_masks(building);
        UnitView {
            rooms: unit.rooms,
            accessible: unit.accessible,
            care: unit.kind == Kind::Care,
            building,
            district: s.unit_district[u],
            school: s.unit_school[u].unwrap_or(u32::MAX - 1),
            one,
            two,
        }
    }
}

/// [`vacant_score`] of a priceable household for a vacant unit, from compact records.
#[cfg(test)]
pub fn compact_score(s: &ScoreView, c: &Compact, unit: &UnitView, u: usize) -> Option<i64> {
    compact_raw(s, c, unit, u).filter(|&w| c.eligible(w))
}

impl Compact {
    /// Is score `w` eligible: above 0 for an applicant, at least the own unit's (rule 7)?
    #[inline]
    pub fn eligible(&self, w: i64) -> bool {
        if self.own_total == i64::MIN {
            w > 0
        } else {
            w >= self.own_total
        }
    }

    pub fn is_applicant(&self) -> bool {
        self.own_total == i64::MIN
    }
}

/// Score of a pair that rules 1–4 allow (whatever the score), from compact records.
#[inline]
pub fn compact_raw(s: &ScoreView, c: &Compact, unit: &UnitView, u: usize) -> Option<i64> {
    if c.slow {
        let h = c.h as usize;
        return s.static_ok(h, u).then(|| s.breakdown_of(h, u).total());
    }
    if unit.rooms < c.needed || (c.needs_accessible && !unit.accessible) || c.care_need != unit.care
    {
        return None;
    }
    let p = s.policy;
    let same = c.own_building == unit.building;
    let mut w = p.size_fit_base - p.size_fit_excess_penalty * (unit.rooms - c.needed) + c.fixed;
    if same {
        w += p.same_building_bonus;
    }
    if c.children && c.school == unit.school {
        w += p.school_district_bonus;
    }
    if unit.district < 64 && c.preferred & (1 << unit.district) != 0 {
        w += p.preferred_district_bonus;
    }
    let have = if same { unit.two } else { unit.one };
    let missing = i64::from((c.skills & !have).count_ones());
    w += (p.skill_bonus * missing).min(p.skill_bonus_max);
    Some(w)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Household, Names, Policy, Unit};
    use crate::slots::Slots;

    /// Column pricing's compact scores equal the snapshot's, pair by pair.
    #[test]
    fn compact_score_equals_vacant_score() {
        let policy = Policy::default(); // version 1
        let mut x: u64 = 12345;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let districts = ["A", "B", "C", "D"];
        let skills = ["s1", "s2", "s3", "s4", "s5"];
        let mut names = Names::default();
        let mut portfolio = Slots::default();
        let mut slot_of = std::collections::BTreeMap::new();
        for i in 0..60 {
            let v = json!({"id": format!("U{i:03}"), "building": format!("B{}", next(6)),
                "stairwell": "S", "floor": 1, "rooms": 1 + next(4), "area_m2": 40.0,
                "rent_nok_month": 5000, "accessible": next(2) == 0,
                "kind": if next(5) == 0 { "care" } else { "ordinary" },
                "district": districts[next(4) as usize],
                "school_district": if next(2) == 0 { json!(districts[next(4) as usize]) } else { json!(null) }});
            let mut u = Unit::from_value(&v, "u").unwrap();
            names.code_unit(&mut u, None);
            slot_of.insert(u.id.clone(), u.codes.slot);
            portfolio.put_unit(u, &names);
        }
        let as_of = crate::date::parse_date("2021-05-01").unwrap();
        for i in 0..80 {
            let own = (i < 30).then(|| format!("U{:03}", i * 2));
            let sk: Vec<&str> = skills.iter().copied().filter(|_| next(3) == 0).collect();
            let pref: Vec<&str> = districts.iter().copied().filter(|_| next(3) == 0).collect();
            let v = json!({"id": format!("H{i:03}"), "adults": 1 + next(2), "children": next(3),
                "needs_accessible": next(5) == 0, "care_need": next(5) == 0,
                "disadvantaged": false, "refugee": false, "urgency": next(4),
                "applied_on": "2020-01-01", "skills": sk, "preferred_districts": pref,
                "school_district": if next(2) == 0 { json!(districts[next(4) as usize]) } else { json!(null) },
                "current_unit": own, "transfer_requested": next(2) == 0});
            let mut h = Household::from_value(&v, "h").unwrap();
            let own_slot = h.current_unit.as_ref().map(|c| slot_of[c]);
            names.code_household(&mut h, own_slot);
            let wait = crate::scoring::waiting_points(&policy, &h, as_of);
            portfolio.put_household(h, &policy, wait, &names);
        }
        let s = ScoreView::new(&policy, &portfolio, &names);
        let (households, units) = (portfolio.hh_order(), portfolio.unit_order());
        let mut compared = 0;
        for h in households.into_iter().filter(|&h| priceable(&s, h)) {
            let own_total = s.own[h].map(|o| s.breakdown_of(h, o).total());
            let c = Compact::new(&s, h, own_total);
            for &u in units.iter().filter(|&&u| s.occupant[u].is_none()) {
                let view = UnitView::new(&s, u);
                assert_eq!(
                    compact_score(&s, &c, &view, u),
                    vacant_score(&s, h, u, own_total),
                    "household {h} unit {u}"
                );
                compared += 1;
            }
        }
        assert!(compared > 1000, "{compared}");
    }
}
