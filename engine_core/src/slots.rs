//! The portfolio as the engine keeps it between operations: units and households in stable
//! slots, with what scoring reads kept per slot and updated per operation (who lives where,
//! rooms needed, waiting points, sitting tenants' skills per building). A re-match reads it
//! as it is instead of rebuilding a snapshot of the whole portfolio, which at national scale
//! cost more than most re-matches themselves.

use std::collections::BTreeMap;

use crate::model::{rooms_needed, Household, Names, Policy, Unit};

#[derive(Clone, Debug, Default)]
pub struct Slots {
    /// Slot of each id (unit slots come from [`Names`], household slots from here).
    pub unit_ids: BTreeMap<String, u32>,
    pub hh_ids: BTreeMap<String, u32>,
    pub units: Vec<Option<Unit>>,
    pub households: Vec<Option<Household>>,
    /// Own unit slot per household slot, occupant per unit slot.
    pub own: Vec<Option<usize>>,
    pub occupant: Vec<Option<usize>>,
    pub needed: Vec<i64>,
    /// Waiting points on the current run date (0 before one is set).
    pub waiting: Vec<i64>,
    pub unit_building: Vec<u32>,
    pub unit_district: Vec<u32>,
    pub unit_school: Vec<Option<u32>>,
    /// Units of each building, occupied or not.
    pub building_units: Vec<Vec<u32>>,
    /// Per building: (skill, sitting tenants with it), sorted by skill.
    pub building_skills: Vec<Vec<(u32, u32)>>,
    /// Skills with codes below 64 as bit sets: per household, and per building those that at
    /// least one / two sitting tenants have (used when there are at most 64 skills).
    pub hh_mask: Vec<u64>,
    pub one: Vec<u64>,
    pub two: Vec<u64>,
    hh_free: Vec<u32>,
}

impl Slots {
    pub fn unit(&self, u: usize) -> &Unit {
        self.units[u].as_ref().expect("live unit slot")
    }

    pub fn hh(&self, h: usize) -> &Household {
        self.households[h].as_ref().expect("live household slot")
    }

    pub fn unit_slot(&self, id: &str) -> Option<usize> {
        self.unit_ids.get(id).map(|&s| s as usize)
    }

    pub fn hh_slot(&self, id: &str) -> Option<usize> {
        self.hh_ids.get(id).map(|&s| s as usize)
    }

    pub fn get_unit(&self, id: &str) -> Option<&Unit> {
        self.unit_slot(id).map(|u| self.unit(u))
    }

    pub fn get_hh(&self, id: &str) -> Option<&Household> {
        self.hh_slot(id).map(|h| self.hh(h))
    }

    /// The sitting tenant of unit `id`, if any.
    pub fn tenant_of(&self, id: &str) -> Option<&Household> {
        let u = self.unit_slot(id)?;
        self.occupant[u].map(|h| self.hh(h))
    }

    /// Unit slots in id order (the order of every output).
    pub fn unit_order(&self) -> Vec<usize> {
        self.unit_ids.values().map(|&s| s as usize).collect()
    }

    /// Household slots in id order.
    pub fn hh_order(&self) -> Vec<usize> {
        self.hh_ids.values().map(|&s| s as usize).collect()
    }

    pub fn n_units(&self) -> usize {
        self.unit_ids.len()
    }

    pub fn n_households(&self) -> usize {
        self.hh_ids.len()
    }

    fn grow_buildings(&mut self, n: usize) {
        if n > self.building_units.len() {
            self.building_units.resize_with(n, Vec::new);
            self.building_skills.resize_with(n, Vec::new);
            self.one.resize(n, 0);
            self.two.resize(n, 0);
        }
    }

    /// Adds or replaces a unit whose codes `names` set. A sitting tenant stays (its skills
    /// move with the unit if the building changed).
    pub fn put_unit(&mut self, u: Unit, names: &Names) {
        self.grow_buildings(names.buildings.len());
        let slot = u.codes.slot as usize;
        if slot >= self.units.len() {
            self.units.resize_with(slot + 1, || None);
            self.occupant.resize(slot + 1, None);
            self.unit_building.resize(slot + 1, 0);
            self.unit_district.resize(slot + 1, 0);
            self.unit_school.resize(slot + 1, None);
        }
        let tenant = self.occupant[slot];
        if self.units[slot].is_some() {
            if let Some(h) = tenant {
                self.count_skills(h, false);
            }
            let b = self.unit_building[slot] as usize;
            self.building_units[b].retain(|&x| x as usize != slot);
        }
        self.unit_building[slot] = u.codes.building;
        self.unit_district[slot] = u.codes.district;
        self.unit_school[slot] = u.codes.school;
        self.building_units[u.codes.building as usize].push(slot as u32);
        self.unit_ids.insert(u.id.clone(), slot as u32);
        self.units[slot] = Some(u);
        if let Some(h) = tenant {
            self.count_skills(h, true);
        }
    }

    /// Removes a unit nobody lives in.
    pub fn take_unit(&mut self, id: &str) -> Option<Unit> {
        let slot = self.unit_ids.remove(id)? as usize;
        debug_assert!(self.occupant[slot].is_none());
        let b = self.unit_building[slot] as usize;
        self.building_units[b].retain(|&x| x as usize != slot);
        self.units[slot].take()
    }

    /// Adds or replaces a household whose codes are set (its own unit must exist and be
    /// free of other tenants); `waiting` are its waiting points on the run date.
    pub fn put_household(&mut self, h: Household, policy: &Policy, waiting: i64, names: &Names) {
        self.grow_buildings(names.buildings.len());
        let slot = match self.hh_ids.get(&h.id) {
            Some(&s) => {
                self.leave(s as usize);
                s as usize
            }
            None => {
                let s = self.hh_free.pop().unwrap_or(self.households.len() as u32) as usize;
                self.hh_ids.insert(h.id.clone(), s as u32);
                s
            }
        };
        if slot >= self.households.len() {
            self.households.resize_with(slot + 1, || None);
            self.own.resize(slot + 1, None);
            self.needed.resize(slot + 1, 0);
            self.waiting.resize(slot + 1, 0);
            self.hh_mask.resize(slot + 1, 0);
        }
        self.needed[slot] = rooms_needed(policy, &h);
        self.waiting[slot] = waiting;
        self.hh_mask[slot] = h
            .codes
            .skills
            .iter()
            .filter(|&&s| s < 64)
            .fold(0, |m, &s| m | (1 << s));
        let own = h.codes.own_slot.map(|u| u as usize);
        self.households[slot] = Some(h);
        self.own[slot] = own;
        if let Some(u) = own {
            debug_assert!(self.occupant[u].is_none());
            self.occupant[u] = Some(slot);
            self.count_skills(slot, true);
        }
    }

    pub fn take_household(&mut self, id: &str) -> Option<Household> {
        let slot = self.hh_ids.remove(id)? as usize;
        self.leave(slot);
        self.hh_free.push(slot as u32);
        self.households[slot].take()
    }

    /// Household `h` moves out of its own unit, if any.
    fn leave(&mut self, h: usize) {
        if let Some(u) = self.own[h] {
            self.count_skills(h, false);
            self.own[h] = None;
            self.occupant[u] = None;
        }
    }

    /// Adds (or removes) the skills of sitting tenant `h` to those of its building.
    fn count_skills(&mut self, h: usize, add: bool) {
        let Some(u) = self.own[h] else { return };
        let b = self.unit_building[u] as usize;
        let skills = &self.households[h]
            .as_ref()
            .expect("live household")
            .codes
            .skills;
        let list = &mut self.building_skills[b];
        for &s in skills {
            match (list.binary_search_by_key(&s, |&(k, _)| k), add) {
                (Ok(i), true) => list[i].1 += 1,
                (Err(i), true) => list.insert(i, (s, 1)),
                (Ok(i), false) => {
                    list[i].1 -= 1;
                    if list[i].1 == 0 {
                        list.remove(i);
                    }
                }
                (Err(_), false) => debug_assert!(false, "skill counted"),
            }
        }
        let (mut one, mut two) = (0u64, 0u64);
        for &(s, c) in list.iter().filter(|&&(s, _)| s < 64) {
            one |= 1 << s;
            if c >= 2 {
                two |= 1 << s;
            }
        }
        self.one[b] = one;
        self.two[b] = two;
    }
}
