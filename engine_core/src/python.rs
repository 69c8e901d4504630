//! Thin PyO3 binding: `pyengine._core.Engine`. Errors become ValueError with the message.

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::engine::{Engine as Core, ENGINE_VERSION, LEGACY_ENGINE_VERSION};
use crate::io;

fn err(e: String) -> PyErr {
    PyValueError::new_err(e)
}

/// Decodes `obj` (`str`, or UTF-8 `bytes` as msgspec writes them) once, with `read`, into
/// the core's typed value.
fn read<T>(obj: &Bound<'_, PyAny>, read: impl FnOnce(&str) -> Result<T, String>) -> PyResult<T> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        let s = std::str::from_utf8(b.as_bytes())
            .map_err(|e| PyValueError::new_err(format!("expected UTF-8 JSON: {e}")))?;
        return read(s).map_err(err);
    }
    read(&obj.extract::<String>()?).map_err(err)
}

#[pyclass(name = "Engine", module = "pyengine._core")]
struct Engine {
    inner: Core,
}

#[pymethods]
impl Engine {
    #[new]
    fn new(policy: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Engine {
            inner: Core::new(read(policy, io::policy)?),
        })
    }

    fn load_instance(&mut self, instance: &Bound<'_, PyAny>) -> PyResult<()> {
        let inst = read(instance, io::instance)?;
        self.inner.load(inst).map_err(err)
    }

    fn upsert_unit(&mut self, unit: &Bound<'_, PyAny>) -> PyResult<()> {
        let unit = read(unit, io::unit)?;
        self.inner.upsert_unit(unit).map_err(err)
    }

    fn remove_unit(&mut self, id: &str) -> PyResult<()> {
        self.inner.remove_unit(id).map_err(err)
    }

    fn upsert_household(&mut self, household: &Bound<'_, PyAny>) -> PyResult<()> {
        let household = read(household, io::household)?;
        self.inner.upsert_household(household).map_err(err)
    }

    fn remove_household(&mut self, id: &str) -> PyResult<()> {
        self.inner.remove_household(id).map_err(err)
    }

    fn set_as_of(&mut self, as_of: &str) -> PyResult<()> {
        let day = io::date(as_of, "as_of").map_err(err)?;
        self.inner.set_as_of(day).map_err(err)
    }

    fn set_caps(&mut self, caps: &Bound<'_, PyAny>) -> PyResult<()> {
        let caps = read(caps, io::caps)?;
        self.inner.set_caps(caps);
        Ok(())
    }

    /// Capped re-matches by the kept price search (`True`, the default) or as engine
    /// 0.1.0 did (`False`: replaying the runs it recorded).
    fn use_kept_caps(&mut self, kept: bool) {
        self.inner.use_kept_caps(kept);
    }

    /// The engine version decisions are made as (`LEGACY_ENGINE_VERSION` after
    /// `use_kept_caps(False)`).
    fn engine_version(&self) -> &'static str {
        self.inner.engine_version()
    }

    /// Result file as JSON bytes; the GIL is released while solving.
    #[pyo3(signature = (node_limit = 0))]
    fn solve<'py>(&mut self, py: Python<'py>, node_limit: u64) -> PyResult<Bound<'py, PyBytes>> {
        // Mutable: the warm matching is updated in place (incremental re-match).
        let core = &mut self.inner;
        let out = py.detach(|| core.solve(node_limit)).map_err(err)?;
        Ok(PyBytes::new(py, out.as_bytes()))
    }

    /// Re-matches and returns only the figures (objective, bound, uncapped_objective,
    /// optimal, nodes, matched) as a dict; the GIL is released while solving.
    #[pyo3(signature = (node_limit = 0))]
    fn rematch<'py>(&mut self, py: Python<'py>, node_limit: u64) -> PyResult<Bound<'py, PyDict>> {
        let core = &mut self.inner;
        let s = py.detach(|| core.rematch(node_limit)).map_err(err)?;
        let d = PyDict::new(py);
        d.set_item("objective", s.objective)?;
        d.set_item("bound", s.bound)?;
        d.set_item("uncapped_objective", s.uncapped_objective)?;
        d.set_item("optimal", s.optimal)?;
        d.set_item("nodes", s.nodes)?;
        d.set_item("matched", s.matched)?;
        Ok(d)
    }

    /// Result file of the last re-match as JSON bytes.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let core = &self.inner;
        let out = py.detach(|| core.result()).map_err(err)?;
        Ok(PyBytes::new(py, out.as_bytes()))
    }

    /// What the last re-match changed since the decision was last reported, as JSON bytes
    /// (`assignments`, `withdrawn`, `caps`, `caps_dropped`); it is then taken as reported.
    fn delta<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let core = &mut self.inner;
        let out = py
            .detach(|| {
                core.delta()
                    .and_then(|d| serde_json::to_string(&d).map_err(|e| format!("internal: {e}")))
            })
            .map_err(err)?;
        Ok(PyBytes::new(py, out.as_bytes()))
    }

    /// Takes the last re-match's decision as reported (the caller has the whole result), or
    /// with `clear`, forgets what was reported.
    #[pyo3(signature = (clear = false))]
    fn mark_reported(&mut self, py: Python<'_>, clear: bool) -> PyResult<()> {
        let core = &mut self.inner;
        py.detach(|| core.mark_reported(clear)).map_err(err)
    }

    #[allow(clippy::type_complexity)]
    fn pairs<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
        Bound<'py, PyArray1<i64>>,
    )> {
        let core = &self.inner;
        let (h, u, w) = py.detach(|| core.pairs()).map_err(err)?;
        Ok((h.into_pyarray(py), u.into_pyarray(py), w.into_pyarray(py)))
    }

    /// (unit id, score) of every unit the household is eligible for, in unit id order.
    fn eligible_units(&self, py: Python<'_>, household: &str) -> PyResult<Vec<(String, i64)>> {
        let core = &self.inner;
        py.detach(|| core.eligible_units(household)).map_err(err)
    }

    /// The points an unhoused applicant lacks to be proposed a unit in the last re-match:
    /// a dict of status, points, exact and unit (see `Engine::points_lacking` in the crate).
    fn points_lacking<'py>(
        &self,
        py: Python<'py>,
        household: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let core = &self.inner;
        let lack = py.detach(|| core.points_lacking(household)).map_err(err)?;
        let d = PyDict::new(py);
        d.set_item("status", lack.status)?;
        d.set_item("points", lack.points)?;
        d.set_item("exact", lack.exact)?;
        d.set_item("at_most", lack.at_most)?;
        d.set_item("unit", lack.unit)?;
        Ok(d)
    }

    /// (household id, score) of every household eligible for the unit, in household id order.
    fn eligible_households(&self, py: Python<'_>, unit: &str) -> PyResult<Vec<(String, i64)>> {
        let core = &self.inner;
        py.detach(|| core.eligible_households(unit)).map_err(err)
    }

    fn household_ids(&self) -> Vec<String> {
        self.inner.household_ids()
    }

    fn unit_ids(&self) -> Vec<String> {
        self.inner.unit_ids()
    }

    /// Score components as a dict, or None when the pair is not eligible.
    fn score_breakdown<'py>(
        &self,
        py: Python<'py>,
        household: &str,
        unit: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(b) = self.inner.score_breakdown(household, unit).map_err(err)? else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("size_fit", b.size_fit)?;
        d.set_item("waiting", b.waiting)?;
        d.set_item("urgency", b.urgency)?;
        d.set_item("tenure_stability", b.tenure_stability)?;
        d.set_item("preference", b.preference)?;
        d.set_item("resource_mix", b.resource_mix)?;
        Ok(Some(d))
    }

    fn ineligibility_reason(&self, household: &str, unit: &str) -> PyResult<Option<String>> {
        self.inner
            .ineligibility_reason(household, unit)
            .map_err(err)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ENGINE_VERSION", ENGINE_VERSION)?;
    m.add("LEGACY_ENGINE_VERSION", LEGACY_ENGINE_VERSION)?;
    m.add_class::<Engine>()?;
    Ok(())
}
