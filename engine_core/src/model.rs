//! Input records and their strict JSON readers. Errors read "path.field: reason".

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::date::parse_date;

/// Largest magnitude accepted for counts and points, so that no score sum can overflow i64.
const MAX_INT: i64 = 1_000_000_000;

/// Reads one JSON object field by field and rejects fields nobody asked for.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(v: &'a Value, path: &str) -> Result<Self, String> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
                seen: Vec::new(),
            }),
            _ => Err(format!("{}: expected an object", display(path))),
        }
    }

    pub(crate) fn field_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.seen.push(name);
        self.map.get(name)
    }

    pub(crate) fn req(&mut self, name: &'static str) -> Result<&'a Value, String> {
        let path = self.field_path(name);
        self.get(name).ok_or_else(|| format!("{path}: missing"))
    }

    /// Optional fields: absent and null both read as None.
    pub(crate) fn opt(&mut self, name: &'static str) -> Option<&'a Value> {
        self.get(name).filter(|v| !v.is_null())
    }

    pub(crate) fn int(&mut self, name: &'static str, lo: i64, hi: i64) -> Result<i64, String> {
        let v = self.req(name)?;
        int_in(v, &self.field_path(name), lo, hi)
    }

    pub(crate) fn boolean(&mut self, name: &'static str) -> Result<bool, String> {
        let v = self.req(name)?;
        v.as_bool()
            .ok_or_else(|| format!("{}: expected true or false", self.field_path(name)))
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<String, String> {
        let v = self.req(name)?;
        str_of(v, &self.field_path(name))
    }

    pub(crate) fn nonempty(&mut self, name: &'static str) -> Result<String, String> {
        let s = self.string(name)?;
        if s.is_empty() {
            return Err(format!("{}: must not be empty", self.field_path(name)));
        }
        Ok(s)
    }

    /// A field that must be present but may be null.
    pub(crate) fn nullable_string(&mut self, name: &'static str) -> Result<Option<String>, String> {
        let v = self.req(name)?;
        if v.is_null() {
            return Ok(None);
        }
        str_of(v, &self.field_path(name)).map(Some)
    }

    pub(crate) fn string_list(&mut self, name: &'static str) -> Result<Vec<String>, String> {
        let path = self.field_path(name);
        let Value::Array(items) = self.req(name)? else {
            return Err(format!("{path}: expected a list of strings"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| str_of(v, &format!("{path}[{i}]")))
            .collect()
    }

    pub(crate) fn finish(self) -> Result<(), String> {
        // BTreeMap-backed map: the first unknown field reported is the same on every run.
        for k in self.map.keys() {
            if !self.seen.contains(&k.as_str()) {
                return Err(format!("{}: unknown field", self.field_path(k)));
            }
        }
        Ok(())
    }
}

fn display(path: &str) -> &str {
    if path.is_empty() {
        "<root>"
    } else {
        path
    }
}

fn str_of(v: &Value, path: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{path}: expected a string"))
}

pub(crate) fn int_in(v: &Value, path: &str, lo: i64, hi: i64) -> Result<i64, String> {
    // Accept 3.0 as 3 (JSON writers differ) but never 3.5.
    let i = match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() <= MAX_INT as f64)
                .map(|f| f as i64)
        }),
        _ => None,
    };
    let i = i.ok_or_else(|| format!("{path}: expected an integer"))?;
    if i < lo || i > hi {
        return Err(format!("{path}: must be between {lo} and {hi}, got {i}"));
    }
    Ok(i)
}

pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: invalid JSON ({e})"))
}

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
        }
    }
}

impl Policy {
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v = parse_json(text, "policy")?;
        Self::from_value(&v)
    }

    pub fn from_value(v: &Value) -> Result<Self, String> {
        let mut o = Obj::new(v, "policy")?;
        let mut p = |name| o.int(name, 0, MAX_INT);
        let policy = Policy {
            version: p("version")?,
            size_fit_base: p("size_fit_base")?,
            size_fit_excess_penalty: p("size_fit_excess_penalty")?,
            size_fit_deficit_penalty: p("size_fit_deficit_penalty")?,
            waiting_points_per_period: p("waiting_points_per_period")?,
            waiting_period_days: p("waiting_period_days")?,
            waiting_max_periods: p("waiting_max_periods")?,
            urgency_points: p("urgency_points")?,
            stay_bonus: p("stay_bonus")?,
            transfer_own_unit_bonus: p("transfer_own_unit_bonus")?,
            same_building_bonus: p("same_building_bonus")?,
            school_district_bonus: p("school_district_bonus")?,
            preferred_district_bonus: p("preferred_district_bonus")?,
            skill_bonus: p("skill_bonus")?,
            skill_bonus_max: p("skill_bonus_max")?,
            single_adult_rooms: p("single_adult_rooms")?,
        };
        o.finish()?;
        if policy.version < 1 {
            return Err("policy.version: must be at least 1".into());
        }
        if policy.waiting_period_days < 1 {
            return Err("policy.waiting_period_days: must be at least 1".into());
        }
        Ok(policy)
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

impl Unit {
    pub fn from_value(v: &Value, path: &str) -> Result<Self, String> {
        let mut o = Obj::new(v, path)?;
        let id = o.nonempty("id")?;
        let building = o.nonempty("building")?;
        let stairwell = o.nonempty("stairwell")?;
        let floor = o.int("floor", -1000, 1000)?;
        let rooms = o.int("rooms", 0, 1000)?;
        let area_path = o.field_path("area_m2");
        let area_m2 = o
            .req("area_m2")?
            .as_f64()
            .filter(|a| a.is_finite() && *a >= 0.0)
            .ok_or_else(|| format!("{area_path}: expected a non-negative number"))?;
        let rent_nok_month = o.int("rent_nok_month", 0, MAX_INT)?;
        let accessible = o.boolean("accessible")?;
        let kind_path = o.field_path("kind");
        let kind = match o.string("kind")?.as_str() {
            "ordinary" => Kind::Ordinary,
            "care" => Kind::Care,
            other => {
                return Err(format!(
                    "{kind_path}: expected \"ordinary\" or \"care\", got {other:?}"
                ))
            }
        };
        let district = o.string("district")?;
        let school_district = o.nullable_string("school_district")?;
        o.finish()?;
        Ok(Unit {
            id,
            building,
            stairwell,
            floor,
            rooms,
            area_m2,
            rent_nok_month,
            accessible,
            kind,
            district,
            school_district,
            codes: UnitCodes::default(),
        })
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
    pub transfer_requested: bool,
    /// Interned strings, set by the engine (see [`Names`]).
    pub codes: HouseholdCodes,
}

impl Household {
    pub fn from_value(v: &Value, path: &str) -> Result<Self, String> {
        let mut o = Obj::new(v, path)?;
        let id = o.nonempty("id")?;
        let adults = o.int("adults", 0, 1000)?;
        let children = o.int("children", 0, 1000)?;
        let needs_accessible = o.boolean("needs_accessible")?;
        let care_need = o.boolean("care_need")?;
        let disadvantaged = o.boolean("disadvantaged")?;
        let refugee = o.boolean("refugee")?;
        let urgency = o.int("urgency", 0, 3)?;
        let applied_path = o.field_path("applied_on");
        let applied_on = o
            .nullable_string("applied_on")?
            .map(|s| parse_date(&s).map_err(|e| format!("{applied_path}: {e}")))
            .transpose()?;
        let skills = o.string_list("skills")?;
        let preferred_districts = o.string_list("preferred_districts")?;
        let school_district = o.nullable_string("school_district")?;
        let current_unit = o.nullable_string("current_unit")?;
        let transfer_requested = o.boolean("transfer_requested")?;
        o.finish()?;
        Ok(Household {
            id,
            adults,
            children,
            needs_accessible,
            care_need,
            disadvantaged,
            refugee,
            urgency,
            applied_on,
            skills,
            preferred_districts,
            school_district,
            current_unit,
            transfer_requested,
            codes: HouseholdCodes::default(),
        })
    }

    pub fn flag(&self, flag: Flag) -> bool {
        match flag {
            Flag::Disadvantaged => self.disadvantaged,
            Flag::Refugee => self.refugee,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    Disadvantaged,
    Refugee,
}

impl Flag {
    pub fn name(self) -> &'static str {
        match self {
            Flag::Disadvantaged => "disadvantaged",
            Flag::Refugee => "refugee",
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cap {
    pub flag: Flag,
    pub scope: Scope,
    pub limit: Limit,
}

impl Cap {
    pub fn from_value(v: &Value, path: &str) -> Result<Self, String> {
        let mut o = Obj::new(v, path)?;
        let flag_path = o.field_path("flag");
        let flag = match o.string("flag")?.as_str() {
            "disadvantaged" => Flag::Disadvantaged,
            "refugee" => Flag::Refugee,
            other => {
                return Err(format!(
                    "{flag_path}: expected \"disadvantaged\" or \"refugee\", got {other:?}"
                ))
            }
        };
        let scope_path = o.field_path("scope");
        let scope = match o.string("scope")?.as_str() {
            "building" => Scope::Building,
            "stairwell" => Scope::Stairwell,
            other => {
                return Err(format!(
                    "{scope_path}: expected \"building\" or \"stairwell\", got {other:?}"
                ))
            }
        };
        let share_path = o.field_path("max_share");
        let share = o.opt("max_share");
        let count_path = o.field_path("max_count");
        let count = o.opt("max_count");
        let limit = match (share, count) {
            (Some(s), None) => {
                let s = s
                    .as_f64()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .ok_or_else(|| format!("{share_path}: expected a number between 0 and 1"))?;
                Limit::Share(s)
            }
            (None, Some(c)) => Limit::Count(int_in(c, &count_path, 0, MAX_INT)?),
            _ => {
                return Err(format!(
                    "{}: exactly one of max_share and max_count is required",
                    display(path)
                ))
            }
        };
        o.finish()?;
        Ok(Cap { flag, scope, limit })
    }

    /// Cap value before the sitting-tenant floor: max_count, or the share rounded down.
    pub fn value(&self, units_in_scope: usize) -> i64 {
        match self.limit {
            Limit::Count(c) => c,
            // The epsilon keeps 0.3 × 10 at 3 despite binary floating point.
            Limit::Share(s) => (s * units_in_scope as f64 + 1e-9).floor() as i64,
        }
    }
}

pub fn caps_from_value(v: &Value, path: &str) -> Result<Vec<Cap>, String> {
    let Value::Array(items) = v else {
        return Err(format!("{}: expected a list", display(path)));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, c)| Cap::from_value(c, &format!("{path}[{i}]")))
        .collect()
}
