//! The policy's mix rules scored unit by unit, as part of the resource mix:
//! - task coverage (`coverage`, points form): which listed tasks the residents of each scope
//!   (building, stairwell or floor) already cover, and the points a household scores for a
//!   unit by bringing a task its scope lacks. Residents are the households living in a unit
//!   (sitting tenants, and applicants whose unit an open offer holds); a resident's own tasks
//!   do not count against it, as in the resource mix;
//! - flag bonuses (`mix_bonuses`): points for a household with a flag in named buildings.
//!
//! Both may be limited to named buildings (a building's participation model). Built for each
//! solve from the slots (a few array passes): the figures depend only on who lives where,
//! which every operation that moves someone marks as a changed building.

use std::collections::BTreeMap;

use crate::model::{in_buildings, Coverage, MixBonus, Policy};
use crate::slots::Slots;

/// Outside every scope of a rule: a free slot, or a unit in a building the rule leaves out.
const NO_SCOPE: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
struct Rule {
    points: i64,
    /// Task bits of each household slot (0 for free slots).
    hh: Vec<u64>,
    /// Scope of each unit slot (`NO_SCOPE`: none).
    scope_of: Vec<u32>,
    /// Per scope: the tasks at least one / at least two residents have.
    one: Vec<u64>,
    two: Vec<u64>,
}

/// A flag bonus for one solve.
#[derive(Clone, Debug, Default)]
struct Bonus {
    points: i64,
    /// Each household slot has the flag.
    hh: Vec<bool>,
    /// Each unit slot is in one of the rule's buildings.
    unit: Vec<bool>,
}

/// The mix rules' figures, for one solve.
#[derive(Clone, Debug, Default)]
pub struct MixRules {
    rules: Vec<Rule>,
    bonuses: Vec<Bonus>,
}

impl MixRules {
    /// `None` when the policy has no mix rule.
    pub fn new(policy: &Policy, p: &Slots) -> Option<Self> {
        if policy.coverage.is_empty() && policy.mix_bonuses.is_empty() {
            return None;
        }
        let rules = policy.coverage.iter().map(|c| Rule::new(c, p)).collect();
        let bonuses = policy
            .mix_bonuses
            .iter()
            .map(|b| Bonus::new(b, p))
            .collect();
        Some(MixRules { rules, bonuses })
    }

    /// Mix-rule points of household `h` (living in `own`, if anywhere) for unit `u`.
    #[inline]
    pub fn points(&self, h: usize, own: Option<usize>, u: usize) -> i64 {
        let cover: i64 = self
            .rules
            .iter()
            .map(|r| {
                let tasks = r.hh[h];
                let sc = r.scope_of[u];
                if tasks == 0 || sc == NO_SCOPE {
                    return 0;
                }
                let here = own.is_some_and(|o| r.scope_of[o] == sc);
                let have = if here {
                    r.two[sc as usize]
                } else {
                    r.one[sc as usize]
                };
                r.points * i64::from((tasks & !have).count_ones())
            })
            .sum();
        let bonus: i64 = self
            .bonuses
            .iter()
            .filter(|b| b.hh[h] && b.unit[u])
            .map(|b| b.points)
            .sum();
        cover + bonus
    }

    /// Most mix-rule points household `h` can score anywhere.
    pub fn max_points(&self, h: usize) -> i64 {
        let cover: i64 = self
            .rules
            .iter()
            .map(|r| r.points * i64::from(r.hh[h].count_ones()))
            .sum();
        let bonus: i64 = self
            .bonuses
            .iter()
            .filter(|b| b.hh[h])
            .map(|b| b.points)
            .sum();
        cover + bonus
    }

    /// Whether household `h` can score mix-rule points (its scores then depend on the unit's
    /// building, stairwell or floor).
    pub fn scores(&self, h: usize) -> bool {
        self.rules.iter().any(|r| r.points > 0 && r.hh[h] != 0)
            || self.bonuses.iter().any(|b| b.points > 0 && b.hh[h])
    }
}

impl Bonus {
    fn new(b: &MixBonus, p: &Slots) -> Self {
        Bonus {
            points: b.points,
            hh: p
                .households
                .iter()
                .map(|h| h.as_ref().is_some_and(|h| h.flag(&b.flag)))
                .collect(),
            unit: p
                .units
                .iter()
                .map(|u| {
                    u.as_ref()
                        .is_some_and(|u| in_buildings(&b.buildings, &u.building))
                })
                .collect(),
        }
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
                let u = u
                    .as_ref()
                    .filter(|u| in_buildings(&c.buildings, &u.building));
                u.map_or(NO_SCOPE, |u| {
                    let key = c.scope.key(u);
                    let n = ids.len() as u32;
                    *ids.entry(key).or_insert(n)
                })
            })
            .collect();
        let mut one = vec![0u64; ids.len()];
        let mut two = vec![0u64; ids.len()];
        for (u, occ) in p.occupant.iter().enumerate() {
            if let (Some(h), Some(&sc)) = (occ, scope_of.get(u)) {
                if sc == NO_SCOPE {
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
