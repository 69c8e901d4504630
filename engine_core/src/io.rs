//! Reading the core's inputs from their JSON forms (the instance file, the policy, one unit,
//! one household, the caps), strictly: unknown fields are refused, and errors read
//! "path.field: reason". The engine itself takes typed values ([`crate::model`]).

use serde_json::{Map, Value};

use crate::date::parse_date;
use crate::model::{
    Cap, CoverScope, Coverage, Flag, Household, HouseholdCodes, Instance, Kind, Limit, MixBonus,
    Policy, Scope, Unit, UnitCodes,
};

/// Largest magnitude accepted for counts and points, so that no score sum can overflow i64.
const MAX_INT: i64 = 1_000_000_000;

/// The policy's parameters.
pub fn policy(text: &str) -> Result<Policy, String> {
    Policy::from_json(text)
}

/// An instance file (as_of, units, households and optional caps).
pub fn instance(text: &str) -> Result<Instance, String> {
    let v = parse_json(text, "instance")?;
    let mut o = Obj::new(&v, "")?;
    let as_of_v = o.string("as_of")?;
    let as_of = parse_date(&as_of_v).map_err(|e| format!("as_of: {e}"))?;
    let Value::Array(units_v) = o.req("units")? else {
        return Err("units: expected a list".into());
    };
    let Value::Array(hh_v) = o.req("households")? else {
        return Err("households: expected a list".into());
    };
    let caps = match o.opt("caps") {
        Some(c) => caps_from_value(c, "caps")?,
        None => Vec::new(),
    };
    o.finish()?;
    let units = units_v
        .iter()
        .enumerate()
        .map(|(i, uv)| Unit::from_value(uv, &format!("units[{i}]")))
        .collect::<Result<_, _>>()?;
    let households = hh_v
        .iter()
        .enumerate()
        .map(|(i, hv)| Household::from_value(hv, &format!("households[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(Instance {
        as_of,
        units,
        households,
        caps,
    })
}

/// One unit record.
pub fn unit(text: &str) -> Result<Unit, String> {
    Unit::from_value(&parse_json(text, "unit")?, "unit")
}

/// One household record.
pub fn household(text: &str) -> Result<Household, String> {
    Household::from_value(&parse_json(text, "household")?, "household")
}

/// A list of mix caps.
pub fn caps(text: &str) -> Result<Vec<Cap>, String> {
    caps_from_value(&parse_json(text, "caps")?, "caps")
}

/// A date (YYYY-MM-DD) as a day number, for `field`.
pub fn date(text: &str, field: &str) -> Result<i64, String> {
    parse_date(text).map_err(|e| format!("{field}: {e}"))
}

/// Reads one JSON object field by field and rejects fields nobody asked for.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str) -> Result<Self, String> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
                seen: Vec::new(),
            }),
            _ => Err(format!("{}: expected an object", display(path))),
        }
    }

    fn field_path(&self, name: &str) -> String {
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

    fn req(&mut self, name: &'static str) -> Result<&'a Value, String> {
        let path = self.field_path(name);
        self.get(name).ok_or_else(|| format!("{path}: missing"))
    }

    /// Optional fields: absent and null both read as None.
    fn opt(&mut self, name: &'static str) -> Option<&'a Value> {
        self.get(name).filter(|v| !v.is_null())
    }

    fn int(&mut self, name: &'static str, lo: i64, hi: i64) -> Result<i64, String> {
        let v = self.req(name)?;
        int_in(v, &self.field_path(name), lo, hi)
    }

    fn boolean(&mut self, name: &'static str) -> Result<bool, String> {
        let v = self.req(name)?;
        v.as_bool()
            .ok_or_else(|| format!("{}: expected true or false", self.field_path(name)))
    }

    fn string(&mut self, name: &'static str) -> Result<String, String> {
        let v = self.req(name)?;
        str_of(v, &self.field_path(name))
    }

    fn nonempty(&mut self, name: &'static str) -> Result<String, String> {
        let s = self.string(name)?;
        if s.is_empty() {
            return Err(format!("{}: must not be empty", self.field_path(name)));
        }
        Ok(s)
    }

    /// A field that must be present but may be null.
    fn nullable_string(&mut self, name: &'static str) -> Result<Option<String>, String> {
        let v = self.req(name)?;
        if v.is_null() {
            return Ok(None);
        }
        str_of(v, &self.field_path(name)).map(Some)
    }

    fn string_list(&mut self, name: &'static str) -> Result<Vec<String>, String> {
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

    /// A string field that must be one of `options` (name, value).
    fn one_of<T: Copy>(&mut self, name: &'static str, options: &[(&str, T)]) -> Result<T, String> {
        let got = self.string(name)?;
        if let Some(&(_, v)) = options.iter().find(|(n, _)| *n == got) {
            return Ok(v);
        }
        let names: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
        let (last, rest) = names.split_last().expect("options");
        let listed = if rest.is_empty() {
            last.clone()
        } else {
            format!("{} or {last}", rest.join(", "))
        };
        Err(format!(
            "{}: expected {listed}, got {got:?}",
            self.field_path(name)
        ))
    }

    fn finish(self) -> Result<(), String> {
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

fn int_in(v: &Value, path: &str, lo: i64, hi: i64) -> Result<i64, String> {
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

fn parse_json(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: invalid JSON ({e})"))
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
            coverage: Vec::new(),
            mix_bonuses: Vec::new(),
            lottery_seed: None,
        };
        // Optional: policies written before the mix rules have none.
        let coverage = match o.opt("coverage") {
            Some(v) => list_of(v, "policy.coverage", Coverage::from_value)?,
            None => Vec::new(),
        };
        let mix_bonuses = match o.opt("mix_bonuses") {
            Some(v) => list_of(v, "policy.mix_bonuses", MixBonus::from_value)?,
            None => Vec::new(),
        };
        let lottery_seed = match o.opt("lottery_seed") {
            Some(Value::Null) | None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err("policy.lottery_seed: expected a non-empty string".into()),
        };
        o.finish()?;
        let policy = Policy {
            coverage,
            mix_bonuses,
            lottery_seed,
            ..policy
        };
        if policy.version < 1 {
            return Err("policy.version: must be at least 1".into());
        }
        if policy.waiting_period_days < 1 {
            return Err("policy.waiting_period_days: must be at least 1".into());
        }
        Ok(policy)
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
        let kind = o.one_of(
            "kind",
            &[("ordinary", Kind::Ordinary), ("care", Kind::Care)],
        )?;
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
        let held_unit = match o.opt("held_unit") {
            Some(_) => o.nullable_string("held_unit")?,
            None => None,
        };
        if current_unit.is_some() && held_unit.is_some() {
            return Err(format!(
                "{}: a sitting tenant's offer holds no unit",
                o.field_path("held_unit")
            ));
        }
        // Optional: households written before declines held units off have none.
        let mut declined_units = match o.opt("declined_units") {
            Some(_) => o.string_list("declined_units")?,
            None => Vec::new(),
        };
        declined_units.sort_unstable();
        declined_units.dedup();
        let transfer_requested = o.boolean("transfer_requested")?;
        // Optional: households written before tags existed have none.
        let mut tags = match o.opt("tags") {
            Some(_) => o.string_list("tags")?,
            None => Vec::new(),
        };
        tags.sort_unstable();
        tags.dedup();
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
            held_unit,
            declined_units,
            transfer_requested,
            tags,
            codes: HouseholdCodes::default(),
        })
    }
}

/// A list of records, each read by `read` with its path.
fn list_of<T>(
    v: &Value,
    path: &str,
    read: fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let Value::Array(items) = v else {
        return Err(format!("{}: expected a list", display(path)));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| read(v, &format!("{path}[{i}]")))
        .collect()
}

/// Optional `buildings`: sorted, duplicates dropped (absent or empty: every building).
fn buildings(o: &mut Obj<'_>) -> Result<Vec<String>, String> {
    let mut out = match o.opt("buildings") {
        Some(_) => o.string_list("buildings")?,
        None => Vec::new(),
    };
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn flag_of(name: String) -> Flag {
    match name.as_str() {
        "disadvantaged" => Flag::Disadvantaged,
        "refugee" => Flag::Refugee,
        "care_need" => Flag::CareNeed,
        _ => Flag::Tag(name),
    }
}

impl MixBonus {
    pub fn from_value(v: &Value, path: &str) -> Result<Self, String> {
        let mut o = Obj::new(v, path)?;
        let flag = flag_of(o.nonempty("flag")?);
        let points = o.int("points", 0, MAX_INT)?;
        let buildings = buildings(&mut o)?;
        o.finish()?;
        Ok(MixBonus {
            flag,
            points,
            buildings,
        })
    }
}

impl Coverage {
    pub fn from_value(v: &Value, path: &str) -> Result<Self, String> {
        let mut o = Obj::new(v, path)?;
        let scope = o.one_of(
            "scope",
            &[
                ("building", CoverScope::Building),
                ("stairwell", CoverScope::Stairwell),
                ("floor", CoverScope::Floor),
            ],
        )?;
        let tasks_path = o.field_path("tasks");
        let mut tasks = o.string_list("tasks")?;
        tasks.sort_unstable();
        tasks.dedup();
        if tasks.is_empty() || tasks.len() > 64 || tasks.iter().any(|t| t.is_empty()) {
            return Err(format!(
                "{tasks_path}: expected 1 to 64 task names, none empty"
            ));
        }
        let points = o.int("points", 0, MAX_INT)?;
        let buildings = buildings(&mut o)?;
        let hard = match o.opt("hard") {
            Some(_) => o.boolean("hard")?,
            None => false,
        };
        o.finish()?;
        Ok(Coverage {
            scope,
            tasks,
            points,
            buildings,
            hard,
        })
    }
}

impl Cap {
    pub fn from_value(v: &Value, path: &str) -> Result<Self, String> {
        let mut o = Obj::new(v, path)?;
        let flag = flag_of(o.nonempty("flag")?);
        let scope = o.one_of(
            "scope",
            &[
                ("building", Scope::Building),
                ("stairwell", Scope::Stairwell),
            ],
        )?;
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
        let buildings = buildings(&mut o)?;
        o.finish()?;
        Ok(Cap {
            flag,
            scope,
            limit,
            buildings,
        })
    }
}

pub fn caps_from_value(v: &Value, path: &str) -> Result<Vec<Cap>, String> {
    list_of(v, path, Cap::from_value)
}
