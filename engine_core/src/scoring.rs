//! Policy v1 (DESIGN §5): rooms needed, eligibility rules 1–7 and the score components, on a
//! snapshot with units and households sorted by id and strings interned to integers.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Household, Kind, Names, Policy, Unit};

/// Score components of one pair; field order is the order in the result file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub size_fit: i64,
    pub waiting: i64,
    pub urgency: i64,
    pub tenure_stability: i64,
    pub preference: i64,
    pub resource_mix: i64,
}

impl Breakdown {
    pub fn total(&self) -> i64 {
        self.size_fit
            + self.waiting
            + self.urgency
            + self.tenure_stability
            + self.preference
            + self.resource_mix
    }
}

pub fn rooms_needed(p: &Policy, h: &Household) -> i64 {
    if h.adults == 1 && h.children == 0 {
        return p.single_adult_rooms;
    }
    let bedrooms = 1 + (h.adults - 2).max(0) + (h.children + 1) / 2;
    bedrooms + 1
}

/// Everything scoring needs, precomputed once per snapshot.
pub struct Snapshot<'a> {
    pub policy: &'a Policy,
    pub units: Vec<&'a Unit>,
    pub households: Vec<&'a Household>,
    /// Own unit index per household, occupant index per unit.
    pub own: Vec<Option<usize>>,
    pub occupant: Vec<Option<usize>>,
    pub needed: Vec<i64>,
    waiting: Vec<i64>,
    unit_building: Vec<u32>,
    pub(crate) unit_district: Vec<u32>,
    pub(crate) unit_school: Vec<Option<u32>>,
    /// Per building: (skill, number of sitting tenants with it), sorted by skill.
    building_skills: Vec<Vec<(u32, u32)>>,
    n_buildings: usize,
    /// The same as bit sets when there are at most 64 distinct skills (the usual case): per
    /// household its skills, per building the skills at least one / two tenants have. The
    /// resource mix is then one popcount instead of a search per skill (a pricing hot path).
    masks: Option<SkillMasks>,
}

struct SkillMasks {
    household: Vec<u64>,
    one: Vec<u64>,
    two: Vec<u64>,
}

/// Why a pair is not eligible; `Display` names the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ineligible {
    Occupied(String),
    Rooms { has: i64, needs: i64 },
    Access,
    CareNeeded,
    CareUnit,
    NoTransfer,
    Worse { here: i64, own: i64 },
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ineligible::Occupied(h) => write!(f, "rule 1: unit is let to household {h}"),
            Ineligible::Rooms { has, needs } => {
                write!(f, "rule 2: unit has {has} rooms, household needs {needs}")
            }
            Ineligible::Access => write!(
                f,
                "rule 3: household needs step-free access, unit is not accessible"
            ),
            Ineligible::CareNeeded => {
                write!(f, "rule 4: household has a care need, unit is not a care unit")
            }
            Ineligible::CareUnit => {
                write!(f, "rule 4: unit is a care unit, household has no care need")
            }
            Ineligible::NoTransfer => write!(
                f,
                "rule 5: sitting tenant without a transfer request is eligible for their current unit only"
            ),
            Ineligible::Worse { here, own } => write!(
                f,
                "rule 7: unit scores {here} for the household, below {own} for its current unit"
            ),
        }
    }
}

impl<'a> Snapshot<'a> {
    /// `units` and `households` must be sorted by id, cross-references already checked and
    /// codes set by `names`. Linear in the portfolio with small constants: strings were
    /// interned when the entities came in.
    pub fn new(
        policy: &'a Policy,
        units: Vec<&'a Unit>,
        households: Vec<&'a Household>,
        as_of: i64,
        names: &Names,
    ) -> Self {
        let mut pos_of_slot = vec![u32::MAX; names.slots()];
        for (i, u) in units.iter().enumerate() {
            pos_of_slot[u.codes.slot as usize] = i as u32;
        }
        let mut own = vec![None; households.len()];
        let mut occupant = vec![None; units.len()];
        for (i, h) in households.iter().enumerate() {
            if let Some(slot) = h.codes.own_slot {
                let u = pos_of_slot[slot as usize] as usize;
                own[i] = Some(u);
                occupant[u] = Some(i);
            }
        }
        let unit_building: Vec<u32> = units.iter().map(|u| u.codes.building).collect();
        let unit_district: Vec<u32> = units.iter().map(|u| u.codes.district).collect();
        let unit_school: Vec<Option<u32>> = units.iter().map(|u| u.codes.school).collect();
        let n_buildings = names.buildings.len();
        let masks = (names.skills.len() <= 64).then(|| {
            let mut m = SkillMasks {
                household: households
                    .iter()
                    .map(|h| h.codes.skills.iter().fold(0u64, |acc, &s| acc | (1 << s)))
                    .collect(),
                one: vec![0; n_buildings],
                two: vec![0; n_buildings],
            };
            for (i, o) in own.iter().enumerate() {
                if let Some(u) = *o {
                    let b = unit_building[u] as usize;
                    let k = m.household[i];
                    m.two[b] |= m.one[b] & k;
                    m.one[b] |= k;
                }
            }
            m
        });
        let mut building_skills = vec![Vec::new(); n_buildings];
        if masks.is_none() {
            let mut count: BTreeMap<(u32, u32), u32> = BTreeMap::new();
            for (i, o) in own.iter().enumerate() {
                if let Some(u) = *o {
                    for &s in &households[i].codes.skills {
                        *count.entry((unit_building[u], s)).or_default() += 1;
                    }
                }
            }
            for ((b, s), c) in count {
                building_skills[b as usize].push((s, c));
            }
        }
        let waiting = households
            .iter()
            .map(|h| {
                let days = h.applied_on.map_or(0, |d| (as_of - d).max(0));
                policy.waiting_points_per_period
                    * policy
                        .waiting_max_periods
                        .min(days / policy.waiting_period_days)
            })
            .collect();
        let needed = households.iter().map(|h| rooms_needed(policy, h)).collect();
        Snapshot {
            policy,
            units,
            households,
            own,
            occupant,
            needed,
            waiting,
            unit_building,
            unit_district,
            unit_school,
            building_skills,
            n_buildings,
            masks,
        }
    }

    /// Resource-mix points of household `h` in building `b`: its skills that no sitting tenant
    /// of `b` has, not counting `h` itself.
    #[inline]
    pub(crate) fn resource_mix(&self, h: usize, b: u32) -> i64 {
        let lives_here = self.own[h].is_some_and(|u| self.unit_building[u] == b);
        if let Some(m) = &self.masks {
            // A tenant's own skills are in `one` of its building: only a second holder counts.
            let have = if lives_here {
                m.two[b as usize]
            } else {
                m.one[b as usize]
            };
            let missing = i64::from((m.household[h] & !have).count_ones());
            return (self.policy.skill_bonus * missing).min(self.policy.skill_bonus_max);
        }
        let have = &self.building_skills[b as usize];
        let missing = self.households[h]
            .codes
            .skills
            .iter()
            .filter(|&&s| {
                let c = have
                    .binary_search_by_key(&s, |&(k, _)| k)
                    .map_or(0, |i| have[i].1);
                c - u32::from(lives_here) == 0
            })
            .count() as i64;
        (self.policy.skill_bonus * missing).min(self.policy.skill_bonus_max)
    }

    /// Resource-mix points of `h` for every building, indexed by building id.
    fn resource_mix_all(&self, h: usize, out: &mut Vec<i64>) {
        out.clear();
        out.extend((0..self.n_buildings as u32).map(|b| self.resource_mix(h, b)));
    }

    /// Breakdown with the resource-mix points `rm` given (pricing bounds them separately).
    pub(crate) fn breakdown(&self, h: usize, u: usize, rm: i64) -> Breakdown {
        let p = self.policy;
        let hh = self.households[h];
        let unit = self.units[u];
        let needed = self.needed[h];
        let size_fit = if unit.rooms >= needed {
            p.size_fit_base - p.size_fit_excess_penalty * (unit.rooms - needed)
        } else {
            -p.size_fit_deficit_penalty * (needed - unit.rooms)
        };
        let mut tenure = 0;
        match self.own[h] {
            Some(o) if o == u => {
                tenure += if hh.transfer_requested {
                    p.transfer_own_unit_bonus
                } else {
                    p.stay_bonus
                };
            }
            Some(o) if self.unit_building[o] == self.unit_building[u] => {
                tenure += p.same_building_bonus;
            }
            _ => {}
        }
        if hh.children > 0 && hh.codes.school.is_some() && hh.codes.school == self.unit_school[u] {
            tenure += p.school_district_bonus;
        }
        let preference = if hh
            .codes
            .preferred
            .binary_search(&self.unit_district[u])
            .is_ok()
        {
            p.preferred_district_bonus
        } else {
            0
        };
        Breakdown {
            size_fit,
            waiting: self.waiting[h],
            urgency: p.urgency_points * hh.urgency,
            tenure_stability: tenure,
            preference,
            resource_mix: rm,
        }
    }

    pub(crate) fn n_buildings(&self) -> usize {
        self.n_buildings
    }

    pub(crate) fn building_of(&self, u: usize) -> u32 {
        self.unit_building[u]
    }

    pub(crate) fn waiting(&self, h: usize) -> i64 {
        self.waiting[h]
    }

    /// Rules 2–5 for a vacant unit with the attributes of `key`, and the score without the
    /// waiting points and the building-dependent parts (resource mix, same building); `None`
    /// if not eligible. Equals `breakdown(h, u, 0)` minus those for every unit of the group.
    pub(crate) fn group_base(&self, h: usize, key: &crate::pricing::GroupKey) -> Option<i64> {
        let &(rooms, accessible, care, district, school) = key;
        let hh = self.households[h];
        let needed = self.needed[h];
        if rooms < needed
            || (hh.needs_accessible && !accessible)
            || hh.care_need != care
            || (self.own[h].is_some() && !hh.transfer_requested)
        {
            return None;
        }
        let p = self.policy;
        let size_fit = p.size_fit_base - p.size_fit_excess_penalty * (rooms - needed);
        let school_bonus =
            if hh.children > 0 && hh.codes.school.is_some() && hh.codes.school == school {
                p.school_district_bonus
            } else {
                0
            };
        let preference = if hh.codes.preferred.binary_search(&district).is_ok() {
            p.preferred_district_bonus
        } else {
            0
        };
        Some(size_fit + p.urgency_points * hh.urgency + school_bonus + preference)
    }

    /// Skill bit sets (when there are at most 64 skills): of household `h`, and those of
    /// building `b` that count against it (held by another tenant).
    #[inline]
    pub(crate) fn skill_masks(&self, h: usize) -> Option<u64> {
        self.masks.as_ref().map(|m| m.household[h])
    }

    #[inline]
    pub(crate) fn building_masks(&self, b: u32) -> (u64, u64) {
        self.masks
            .as_ref()
            .map_or((0, 0), |m| (m.one[b as usize], m.two[b as usize]))
    }

    pub(crate) fn skill_count(&self, h: usize) -> usize {
        self.households[h].codes.skills.len()
    }

    /// Rules 1–5 as a yes/no, without building the reason (the pricing hot path).
    #[inline]
    pub(crate) fn static_ok(&self, h: usize, u: usize) -> bool {
        let hh = self.households[h];
        let unit = self.units[u];
        self.occupant[u].is_none_or(|o| o == h)
            && unit.rooms >= self.needed[h]
            && (!hh.needs_accessible || unit.accessible)
            && hh.care_need == (unit.kind == Kind::Care)
            && (self.own[h].is_none() || hh.transfer_requested)
    }

    /// Rules 1–5, the ones that do not need a score.
    fn static_rules(&self, h: usize, u: usize) -> Result<(), Ineligible> {
        let hh = self.households[h];
        let unit = self.units[u];
        if let Some(o) = self.occupant[u] {
            if o != h {
                return Err(Ineligible::Occupied(self.households[o].id.clone()));
            }
        }
        if unit.rooms < self.needed[h] {
            return Err(Ineligible::Rooms {
                has: unit.rooms,
                needs: self.needed[h],
            });
        }
        if hh.needs_accessible && !unit.accessible {
            return Err(Ineligible::Access);
        }
        match (hh.care_need, unit.kind) {
            (true, Kind::Ordinary) => return Err(Ineligible::CareNeeded),
            (false, Kind::Care) => return Err(Ineligible::CareUnit),
            _ => {}
        }
        if self.own[h].is_some() && !hh.transfer_requested {
            return Err(Ineligible::NoTransfer);
        }
        Ok(())
    }

    /// Score of `(h, u)` if eligible, else the first rule (by number) that fails.
    pub fn check(&self, h: usize, u: usize) -> Result<Breakdown, Ineligible> {
        let rm = |b| self.resource_mix(h, b);
        self.check_with(h, u, &rm, None)
    }

    fn check_with(
        &self,
        h: usize,
        u: usize,
        rm: &dyn Fn(u32) -> i64,
        own_total: Option<i64>,
    ) -> Result<Breakdown, Ineligible> {
        let own = self.own[h];
        if own == Some(u) {
            // Rule 6: one's own unit is always eligible.
            return Ok(self.breakdown(h, u, rm(self.unit_building[u])));
        }
        self.static_rules(h, u)?;
        let b = self.breakdown(h, u, rm(self.unit_building[u]));
        if let Some(o) = own {
            // Only transfer requesters get here (rule 5); rule 7: never move someone down.
            let own_total = own_total
                .unwrap_or_else(|| self.breakdown(h, o, rm(self.unit_building[o])).total());
            if b.total() < own_total {
                return Err(Ineligible::Worse {
                    here: b.total(),
                    own: own_total,
                });
            }
        }
        Ok(b)
    }

    /// Calls `f(u, total)` for every eligible unit of `h`, in unit order.
    pub fn for_each_eligible(
        &self,
        h: usize,
        scratch: &mut Vec<i64>,
        mut f: impl FnMut(usize, i64),
    ) {
        if let (Some(o), false) = (self.own[h], self.households[h].transfer_requested) {
            // Rule 5: nothing else to look at.
            f(o, self.breakdown_of(h, o).total());
            return;
        }
        self.resource_mix_all(h, scratch);
        let rm = |b: u32| scratch[b as usize];
        let own_total =
            self.own[h].map(|o| self.breakdown(h, o, rm(self.unit_building[o])).total());
        for u in 0..self.units.len() {
            if let Ok(b) = self.check_with(h, u, &rm, own_total) {
                f(u, b.total());
            }
        }
    }

    pub fn breakdown_of(&self, h: usize, u: usize) -> Breakdown {
        self.breakdown(h, u, self.resource_mix(h, self.unit_building[u]))
    }
}
