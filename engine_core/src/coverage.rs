//! Task coverage (the policy's `coverage` rules, points form): which listed tasks the residents
//! of each scope (building, stairwell or floor) already cover, and the points a household
//! scores for a unit by bringing a task its scope lacks. Residents are the households living
//! in a unit (sitting tenants, and applicants whose unit an open offer holds); a resident's
//! own tasks do not count against it, as in the resource mix.
//!
//! Built for each solve from the slots (a few array passes): the figures depend only on who
//! lives where, which every operation that moves someone marks as a changed building.

use std::collections::BTreeMap;

use crate::model::{CoverScope, Coverage, Policy};
use crate::slots::Slots;

#[derive(Clone, Debug, Default)]
struct Rule {
    points: i64,
    /// Task bits of each household slot (0 for free slots).
    hh: Vec<u64>,
    /// Scope of each unit slot (`u32::MAX` for free slots).
    scope_of: Vec<u32>,
    /// Per scope: the tasks at least one / at least two residents have.
    one: Vec<u64>,
    two: Vec<u64>,
}

/// The coverage figures of every rule, for one solve.
#[derive(Clone, Debug, Default)]
pub struct CoverIndex {
    rules: Vec<Rule>,
}

impl CoverIndex {
    /// `None` when the policy has no coverage rule.
    pub fn new(policy: &Policy, p: &Slots) -> Option<Self> {
        if policy.coverage.is_empty() {
            return None;
        }
        let rules = policy.coverage.iter().map(|c| Rule::new(c, p)).collect();
        Some(CoverIndex { rules })
    }

    /// Coverage points of household `h` (living in `own`, if anywhere) for unit `u`.
    #[inline]
    pub fn points(&self, h: usize, own: Option<usize>, u: usize) -> i64 {
        self.rules
            .iter()
            .map(|r| {
                let tasks = r.hh[h];
                if tasks == 0 {
                    return 0;
                }
                let sc = r.scope_of[u] as usize;
                let here = own.is_some_and(|o| r.scope_of[o] as usize == sc);
                let have = if here { r.two[sc] } else { r.one[sc] };
                r.points * i64::from((tasks & !have).count_ones())
            })
            .sum()
    }

    /// Most coverage points household `h` can score anywhere.
    pub fn max_points(&self, h: usize) -> i64 {
        self.rules
            .iter()
            .map(|r| r.points * i64::from(r.hh[h].count_ones()))
            .sum()
    }

    /// Whether household `h` has a listed task (its scores then depend on the unit's scope).
    pub fn scores(&self, h: usize) -> bool {
        self.rules.iter().any(|r| r.points > 0 && r.hh[h] != 0)
    }
}

impl Rule {
    fn new(c: &Coverage, p: &Slots) -> Self {
        let hh: Vec<u64> = p
            .households
            .iter()
            .map(|h| {
                h.as_ref().map_or(0, |h| {
                    h.skills
                        .iter()
                        .filter_map(|s| c.tasks.binary_search(s).ok())
                        .fold(0u64, |m, i| m | 1 << i)
                })
            })
            .collect();
        // Scope keys in a deterministic order (the ids are only compared, never output).
        let mut ids: BTreeMap<(&str, i64), u32> = BTreeMap::new();
        let scope_of: Vec<u32> = p
            .units
            .iter()
            .map(|u| {
                u.as_ref().map_or(u32::MAX, |u| {
                    let key = match c.scope {
                        CoverScope::Building => (u.building.as_str(), 0),
                        CoverScope::Stairwell => (u.stairwell.as_str(), 0),
                        CoverScope::Floor => (u.building.as_str(), u.floor),
                    };
                    let n = ids.len() as u32;
                    *ids.entry(key).or_insert(n)
                })
            })
            .collect();
        let mut one = vec![0u64; ids.len()];
        let mut two = vec![0u64; ids.len()];
        for (u, occ) in p.occupant.iter().enumerate() {
            if let (Some(h), Some(&sc)) = (occ, scope_of.get(u)) {
                if sc == u32::MAX {
                    continue;
                }
                let m = hh[*h];
                two[sc as usize] |= one[sc as usize] & m;
                one[sc as usize] |= m;
            }
        }
        Rule {
            points: c.points,
            hh,
            scope_of,
            one,
            two,
        }
    }
}
