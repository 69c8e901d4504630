//! The core's input records: units, households, mix caps, the policy and a whole instance.
//! Read from JSON by the `io` module.

use std::collections::BTreeMap;

/// Parameters of allocation policy version 1 (DESIGN §5); all points are integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub version: i64,
    pub size_fit_base: i64,
    pub size_fit_excess_penalty: i64,
    pub size_fit_deficit_penalty: i64,
    pub waiting_points_per_period: i64,
    pub waiting_period_days: i64,
    pub waiting_max_periods: i64,
    pub urgency_points: i64,
    pub stay_bonus: i64,
    pub transfer_own_unit_bonus: i64,
    pub same_building_bonus: i64,
    pub school_district_bonus: i64,
    pub preferred_district_bonus: i64,
    pub skill_bonus: i64,
    pub skill_bonus_max: i64,
    pub single_adult_rooms: i64,
    /// Task-coverage rules (points form), scored as part of the resource mix.
    pub coverage: Vec<Coverage>,
    /// Points for flagged households in named buildings, scored as part of the resource mix.
    pub mix_bonuses: Vec<MixBonus>,
    /// Ties broken by the households' published lottery numbers drawn from this seed
    /// (`warm::RowKey`); none: by a hash of each (household, unit) pair, as in policy v1.
    pub lottery_seed: Option<String>,
}

/// Points for a household with `flag` in a unit of `buildings` (every building if empty):
/// a building's participation model asking for more of some residents (pilot 1's young
/// residents, report 000).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixBonus {
    pub flag: Flag,
    pub points: i64,
    /// Sorted; empty: every building.
    pub buildings: Vec<String>,
}

/// Whether `building` is among `buildings` (sorted; empty: every building).
pub fn in_buildings(buildings: &[String], building: &str) -> bool {
    buildings.is_empty()
        || buildings
            .binary_search_by(|b| b.as_str().cmp(building))
            .is_ok()
}

/// Where a task-coverage rule looks for residents with a task: the unit's building, its
/// stairwell, or its floor of the building.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoverScope {
    Building,
    Stairwell,
    Floor,
}

/// A task-coverage rule, points form: `points` for each listed task the household has that
/// no other resident of the unit's scope has (at most 64 tasks), in units of `buildings`.
/// A `hard` rule is also a constraint of the capped search: each listed task covered by at
/// least one resident of each scope wherever the portfolio can cover it, before any points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    pub scope: CoverScope,
    pub tasks: Vec<String>,
    pub points: i64,
    /// Sorted; empty: every building.
    pub buildings: Vec<String>,
    pub hard: bool,
}

impl CoverScope {
    /// The scope of unit `u` under this scope kind (a floor is one floor of a building).
    pub fn key(self, u: &Unit) -> (&str, i64) {
        match self {
            CoverScope::Building => (u.building.as_str(), 0),
            CoverScope::Stairwell => (u.stairwell.as_str(), 0),
            CoverScope::Floor => (u.building.as_str(), u.floor),
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            version: 1,
            size_fit_base: 100,
            size_fit_excess_penalty: 40,
            size_fit_deficit_penalty: 100,
            waiting_points_per_period: 2,
            waiting_period_days: 30,
            waiting_max_periods: 60,
            urgency_points: 150,
            stay_bonus: 1000,
            transfer_own_unit_bonus: 0,
            same_building_bonus: 60,
            school_district_bonus: 80,
            preferred_district_bonus: 40,
            skill_bonus: 25,
            skill_bonus_max: 75,
            single_adult_rooms: 1,
            coverage: Vec::new(),
            mix_bonuses: Vec::new(),
            lottery_seed: None,
        }
    }
}

/// Rooms a household needs (DESIGN §5): a single adult without children needs
/// `single_adult_rooms`; otherwise bedrooms = 1 + max(0, adults - 2) + ceil(children / 2),
/// plus one room.
pub fn rooms_needed(p: &Policy, h: &Household) -> i64 {
    if h.adults == 1 && h.children == 0 {
        return p.single_adult_rooms;
    }
    let bedrooms = 1 + (h.adults - 2).max(0) + (h.children + 1) / 2;
    bedrooms + 1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ordinary,
    Care,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    pub id: String,
    pub building: String,
    pub stairwell: String,
    pub floor: i64,
    pub rooms: i64,
    pub area_m2: f64,
    pub rent_nok_month: i64,
    pub accessible: bool,
    pub kind: Kind,
    pub district: String,
    pub school_district: Option<String>,
    /// Interned strings and stable slot, set by the engine (see [`Names`]).
    pub codes: UnitCodes,
}

/// A unit's strings as integers, and its stable slot (its position never moves when other
/// units come and go, unlike its rank by id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitCodes {
    pub slot: u32,
    pub building: u32,
    pub district: u32,
    pub school: Option<u32>,
}

/// A household's strings as integers (sorted, duplicates dropped) and its own unit's slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HouseholdCodes {
    pub skills: Vec<u32>,
    pub preferred: Vec<u32>,
    pub school: Option<u32>,
    pub own_slot: Option<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct Interner(BTreeMap<String, u32>);

impl Interner {
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.0.get(s) {
            return i;
        }
        let n = self.0.len() as u32;
        self.0.insert(s.to_string(), n);
        n
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The engine's interned strings and unit slots, kept for its lifetime so that a re-match
/// does not intern the whole portfolio again. Codes only grow; ids are never reused for
/// another string, so equal strings always get equal codes.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub buildings: Interner,
    /// Districts and school districts share one space (a school district may be compared
    /// with a district name).
    pub districts: Interner,
    pub skills: Interner,
    next_slot: u32,
    free_slots: Vec<u32>,
}

impl Names {
    /// Sets `u`'s codes; `slot` is its existing slot, if the id is known.
    pub fn code_unit(&mut self, u: &mut Unit, slot: Option<u32>) {
        let slot = slot.unwrap_or_else(|| {
            self.free_slots.pop().unwrap_or_else(|| {
                self.next_slot += 1;
                self.next_slot - 1
            })
        });
        u.codes = UnitCodes {
            slot,
            building: self.buildings.id(&u.building),
            district: self.districts.id(&u.district),
            school: u.school_district.as_deref().map(|s| self.districts.id(s)),
        };
    }

    pub fn free_slot(&mut self, slot: u32) {
        self.free_slots.push(slot);
    }

    /// Sets `h`'s codes; `own_slot` is the slot of its current unit, if any.
    pub fn code_household(&mut self, h: &mut Household, own_slot: Option<u32>) {
        let mut skills: Vec<u32> = h.skills.iter().map(|s| self.skills.id(s)).collect();
        skills.sort_unstable();
        skills.dedup();
        let mut preferred: Vec<u32> = h
            .preferred_districts
            .iter()
            .map(|d| self.districts.id(d))
            .collect();
        preferred.sort_unstable();
        h.codes = HouseholdCodes {
            skills,
            preferred,
            school: h.school_district.as_deref().map(|s| self.districts.id(s)),
            own_slot,
        };
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Household {
    pub id: String,
    pub adults: i64,
    pub children: i64,
    pub needs_accessible: bool,
    pub care_need: bool,
    pub disadvantaged: bool,
    pub refugee: bool,
    pub urgency: i64,
    /// Day number of the application date.
    pub applied_on: Option<i64>,
    pub skills: Vec<String>,
    pub preferred_districts: Vec<String>,
    pub school_district: Option<String>,
    pub current_unit: Option<String>,
    /// A vacant unit held for this applicant by an open offer (a policy's choice): it lives
    /// there for the matcher, as a sitting tenant would, without the stay bonus.
    pub held_unit: Option<String>,
    /// Units it declined an offer of within the policy's `decline_holdoff_days` (sorted):
    /// not proposed to it again until then. Units not in the portfolio have no effect.
    pub declined_units: Vec<String>,
    pub transfer_requested: bool,
    /// The office's own labels (e.g. "young", "student"), sorted, without duplicates: mix
    /// caps may count them as they count the two flags.
    pub tags: Vec<String>,
    /// Interned strings, set by the engine (see [`Names`]).
    pub codes: HouseholdCodes,
}

impl Household {
    /// The unit it lives in for the matcher: its own, or one held for it by an offer.
    pub fn home(&self) -> Option<&String> {
        self.current_unit.as_ref().or(self.held_unit.as_ref())
    }

    /// Whether its home is a unit held by an offer (not yet let to it).
    pub fn holds_offer(&self) -> bool {
        self.current_unit.is_none() && self.held_unit.is_some()
    }

    /// Whether it declined unit `id` recently (see `declined_units`).
    pub fn declined(&self, id: &str) -> bool {
        !self.declined_units.is_empty()
            && self
                .declined_units
                .binary_search_by(|d| d.as_str().cmp(id))
                .is_ok()
    }

    pub fn flag(&self, flag: &Flag) -> bool {
        match flag {
            Flag::Disadvantaged => self.disadvantaged,
            Flag::Refugee => self.refugee,
            Flag::CareNeed => self.care_need,
            Flag::Tag(t) => self.tags.binary_search(t).is_ok(),
        }
    }
}

/// What a mix cap counts: a built-in attribute, or households carrying a tag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    Disadvantaged,
    Refugee,
    CareNeed,
    Tag(String),
}

impl Flag {
    pub fn name(&self) -> &str {
        match self {
            Flag::Disadvantaged => "disadvantaged",
            Flag::Refugee => "refugee",
            Flag::CareNeed => "care_need",
            Flag::Tag(t) => t,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Building,
    Stairwell,
}

impl Scope {
    pub fn key(self, u: &Unit) -> &str {
        match self {
            Scope::Building => &u.building,
            Scope::Stairwell => &u.stairwell,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Share(f64),
    Count(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cap {
    pub flag: Flag,
    pub scope: Scope,
    pub limit: Limit,
    /// The buildings whose scopes it caps (sorted; empty: every building).
    pub buildings: Vec<String>,
}

impl Cap {
    /// Cap value before the sitting-tenant floor: max_count, or the share rounded down.
    pub fn value(&self, units_in_scope: usize) -> i64 {
        match self.limit {
            Limit::Count(c) => c,
            // The epsilon keeps 0.3 × 10 at 3 despite binary floating point.
            Limit::Share(s) => (s * units_in_scope as f64 + 1e-9).floor() as i64,
        }
    }
}

/// A portfolio at one date: what [`crate::Engine::load`] replaces the state with.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Day number of the run date.
    pub as_of: i64,
    pub units: Vec<Unit>,
    pub households: Vec<Household>,
    pub caps: Vec<Cap>,
}
