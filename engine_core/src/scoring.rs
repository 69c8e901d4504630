//! Policy v1 (DESIGN §5): rooms needed, eligibility rules 1–7 (and 8, recent declines) and the score components, on a
//! snapshot of the portfolio's slots with strings interned to integers.

use serde::Serialize;

use crate::mix::MixRules;
pub use crate::model::rooms_needed;
use crate::model::{Household, Kind, Names, Policy, Unit};
use crate::slots::Slots;

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

/// Waiting points of `h` on run date `as_of` (days since the epoch).
pub fn waiting_points(p: &Policy, h: &Household, as_of: i64) -> i64 {
    let days = h.applied_on.map_or(0, |d| (as_of - d).max(0));
    p.waiting_points_per_period * p.waiting_max_periods.min(days / p.waiting_period_days)
}

/// What the score reads of a unit apart from its building: rooms, step-free access, care
/// unit, district and school district (interned).
pub type GroupKey = (i64, bool, bool, u32, Option<u32>);

/// What scoring reads, borrowed from the [`Slots`] (built in constant time). Units and
/// households are addressed by slot.
pub struct ScoreView<'a> {
    pub policy: &'a Policy,
    pub p: &'a Slots,
    /// Own unit slot per household, occupant per unit.
    pub own: &'a [Option<usize>],
    pub occupant: &'a [Option<usize>],
    pub needed: &'a [i64],
    waiting: &'a [i64],
    unit_building: &'a [u32],
    pub(crate) unit_district: &'a [u32],
    pub(crate) unit_school: &'a [Option<u32>],
    /// Skill bit sets usable (at most 64 distinct skills, the usual case): the resource mix
    /// is then one popcount instead of a search per skill (a pricing hot path).
    masks: bool,
    /// The bits of the skills there are (when `masks`).
    all_skills: u64,
    /// The policy's per-unit mix rules (task coverage, flag bonuses), where it has any.
    pub(crate) mix: Option<MixRules>,
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
    Declined,
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
            Ineligible::Declined => write!(
                f,
                "rule 8: household declined an offer of this unit within the policy's decline_holdoff_days"
            ),
        }
    }
}

impl<'a> ScoreView<'a> {
    pub fn new(policy: &'a Policy, p: &'a Slots, names: &Names) -> Self {
        ScoreView {
            policy,
            p,
            own: &p.own,
            occupant: &p.occupant,
            needed: &p.needed,
            waiting: &p.waiting,
            unit_building: &p.unit_building,
            unit_district: &p.unit_district,
            unit_school: &p.unit_school,
            masks: names.skills.len() <= 64,
            all_skills: match names.skills.len() {
                0 => 0,
                n => u64::MAX >> (64 - n.min(64)),
            },
            mix: MixRules::new(policy, p),
        }
    }

    #[inline]
    pub fn unit(&self, u: usize) -> &'a Unit {
        self.p.unit(u)
    }

    #[inline]
    pub fn hh(&self, h: usize) -> &'a Household {
        self.p.hh(h)
    }

    /// Resource-mix points of household `h` in building `b`: its skills that no sitting tenant
    /// of `b` has, not counting `h` itself.
    #[inline]
    pub(crate) fn resource_mix(&self, h: usize, b: u32) -> i64 {
        let lives_here = self.own[h].is_some_and(|u| self.unit_building[u] == b);
        if self.masks {
            // A tenant's own skills are in `one` of its building: only a second holder counts.
            let have = if lives_here {
                self.p.two[b as usize]
            } else {
                self.p.one[b as usize]
            };
            let missing = i64::from((self.p.hh_mask[h] & !have).count_ones());
            return (self.policy.skill_bonus * missing).min(self.policy.skill_bonus_max);
        }
        self.resource_mix_listed(h, b, lives_here)
    }

    /// [`ScoreView::resource_mix`] of household `h` in buildings other than its own, as row
    /// pricing's walk asks for it once per building: the household's skill bits are read
    /// once, and the points come from one mask and a popcount.
    #[inline]
    pub(crate) fn mix_elsewhere(&self, h: usize) -> impl Fn(u32) -> i64 + '_ {
        let mask = self.skill_masks(h);
        let (bonus, cap) = (self.policy.skill_bonus, self.policy.skill_bonus_max);
        move |b: u32| match mask {
            Some(m) => {
                debug_assert!(self.own[h].is_none_or(|u| self.unit_building[u] != b));
                (bonus * i64::from((m & !self.p.one[b as usize]).count_ones())).min(cap)
            }
            None => self.resource_mix(h, b),
        }
    }

    /// [`ScoreView::resource_mix`] from the skill lists (more than 64 skills): kept out of
    /// line so that the bit-set path inlines into row pricing's walk.
    #[inline(never)]
    fn resource_mix_listed(&self, h: usize, b: u32, lives_here: bool) -> i64 {
        let have = &self.p.building_skills[b as usize];
        let missing = self
            .hh(h)
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
        out.extend((0..self.n_buildings() as u32).map(|b| self.resource_mix(h, b)));
    }

    /// Breakdown with the resource-mix points `rm` given (pricing bounds them separately);
    /// the policy's mix-rule points are added to them here.
    pub(crate) fn breakdown(&self, h: usize, u: usize, rm: i64) -> Breakdown {
        let p = self.policy;
        let hh = self.hh(h);
        let unit = self.unit(u);
        let needed = self.needed[h];
        let size_fit = if unit.rooms >= needed {
            p.size_fit_base - p.size_fit_excess_penalty * (unit.rooms - needed)
        } else {
            -p.size_fit_deficit_penalty * (needed - unit.rooms)
        };
        let mut tenure = 0;
        match self.own[h] {
            // A unit held by an offer is not yet its home: no stay bonus.
            Some(o) if o == u && hh.holds_offer() => {}
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
        // The policy's per-unit mix rules (task coverage, flag bonuses) are part of the
        // resource mix: all reward what a household brings to where it would live.
        let rules = self.mix.as_ref().map_or(0, |m| m.points(h, self.own[h], u));
        Breakdown {
            size_fit,
            waiting: self.waiting[h],
            urgency: p.urgency_points * hh.urgency,
            tenure_stability: tenure,
            preference,
            resource_mix: rm + rules,
        }
    }

    pub(crate) fn n_buildings(&self) -> usize {
        self.p.one.len()
    }

    pub(crate) fn building_of(&self, u: usize) -> u32 {
        self.unit_building[u]
    }

    pub(crate) fn waiting(&self, h: usize) -> i64 {
        self.waiting[h]
    }

    /// Rules 2–5 for a vacant unit with the attributes of `key`, and the score without the
    /// waiting points and the building-dependent parts (resource mix, same building); `None`
    /// if not eligible. Equals `breakdown(h, u, 0)` minus those for every unit of the group
    /// (and minus mix-rule points: households that score any are priced unit by unit).
    pub(crate) fn group_base(&self, h: usize, key: &GroupKey) -> Option<i64> {
        let &(rooms, accessible, care, district, school) = key;
        let hh = self.hh(h);
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

    /// Whether household `h` scores points under the policy's mix rules (which depend on the
    /// unit's building, stairwell or floor): pricing then scores its units one by one.
    #[inline]
    pub(crate) fn by_unit(&self, h: usize) -> bool {
        self.mix.as_ref().is_some_and(|m| m.scores(h))
    }

    /// Do skills fit the bit sets (at most 64 skill names)?
    pub(crate) fn masks(&self) -> bool {
        self.masks
    }

    /// Skill bit sets (when there are at most 64 skills): of household `h`, and those of
    /// building `b` that count against it (held by another tenant).
    #[inline]
    pub(crate) fn skill_masks(&self, h: usize) -> Option<u64> {
        self.masks.then(|| self.p.hh_mask[h])
    }

    /// Skills (bits) that no sitting tenant of building `b` has: a household living elsewhere
    /// scores the mix points of its skills among them. `None` beyond 64 skills.
    #[inline]
    pub(crate) fn missing_in(&self, b: u32) -> Option<u64> {
        self.masks
            .then(|| !self.p.one[b as usize] & self.all_skills)
    }

    /// The bits of the skills named so far (names only grow). `None` beyond 64 skills.
    #[inline]
    pub(crate) fn skill_bits(&self) -> Option<u64> {
        self.masks.then_some(self.all_skills)
    }

    #[inline]
    pub(crate) fn building_masks(&self, b: u32) -> (u64, u64) {
        if self.masks {
            (self.p.one[b as usize], self.p.two[b as usize])
        } else {
            (0, 0)
        }
    }

    pub(crate) fn skill_count(&self, h: usize) -> usize {
        self.hh(h).codes.skills.len()
    }

    /// Rules 1–5 as a yes/no, without building the reason (the pricing hot path).
    #[inline]
    pub(crate) fn static_ok(&self, h: usize, u: usize) -> bool {
        let hh = self.hh(h);
        let unit = self.unit(u);
        self.occupant[u].is_none_or(|o| o == h)
            && unit.rooms >= self.needed[h]
            && (!hh.needs_accessible || unit.accessible)
            && hh.care_need == (unit.kind == Kind::Care)
            && (self.own[h].is_none() || hh.transfer_requested)
            && !hh.declined(&unit.id)
    }

    /// Rules 1–5, the ones that do not need a score.
    fn static_rules(&self, h: usize, u: usize) -> Result<(), Ineligible> {
        let hh = self.hh(h);
        let unit = self.unit(u);
        if let Some(o) = self.occupant[u] {
            if o != h {
                return Err(Ineligible::Occupied(self.hh(o).id.clone()));
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
        if self.hh(h).declined(&self.unit(u).id) {
            return Err(Ineligible::Declined);
        }
        Ok(b)
    }

    /// Calls `f(u, total)` for every eligible unit `u` of `h`, in the order of `order` (unit
    /// slots).
    pub fn for_each_eligible(
        &self,
        h: usize,
        order: &[usize],
        scratch: &mut Vec<i64>,
        mut f: impl FnMut(usize, i64),
    ) {
        if let (Some(o), false) = (self.own[h], self.hh(h).transfer_requested) {
            // Rule 5: nothing else to look at.
            f(o, self.breakdown_of(h, o).total());
            return;
        }
        self.resource_mix_all(h, scratch);
        let rm = |b: u32| scratch[b as usize];
        let own_total =
            self.own[h].map(|o| self.breakdown(h, o, rm(self.unit_building[o])).total());
        for &u in order {
            if let Ok(b) = self.check_with(h, u, &rm, own_total) {
                f(u, b.total());
            }
        }
    }

    pub fn breakdown_of(&self, h: usize, u: usize) -> Breakdown {
        self.breakdown(h, u, self.resource_mix(h, self.unit_building[u]))
    }
}
