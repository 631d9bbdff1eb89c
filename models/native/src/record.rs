//! A stored record as the folds read and change it: a Python dict of scalars, lists
//! and Misra-Gries summaries, changed in place.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// Counts above this are not exactly floats: Python's int arithmetic would then differ.
pub(crate) const EXACT_INT: u64 = 1 << 53;

/// The record's float field `name` (an int, as an earlier release may have stored it,
/// reads as Python's arithmetic would convert it); None if absent or not a number.
pub(crate) fn float_field(d: &Bound<'_, PyDict>, name: &Bound<'_, PyString>) -> Option<f64> {
    d.get_item(name).ok()??.extract::<f64>().ok()
}

/// The record's int field `name`; None if absent, not an int, or beyond `EXACT_INT`.
pub(crate) fn int_field(d: &Bound<'_, PyDict>, name: &Bound<'_, PyString>) -> Option<i64> {
    let v = d.get_item(name).ok()??.extract::<i64>().ok()?;
    (v.unsigned_abs() < EXACT_INT).then_some(v)
}

/// A Misra-Gries summary (`account_state.misra_gries`): a list of `[key, count]` lists.
pub(crate) struct Summary<'py> {
    list: Bound<'py, PyList>,
    entries: Vec<(Bound<'py, PyList>, String, i64)>,
}

impl<'py> Summary<'py> {
    pub(crate) fn read(list: Bound<'py, PyAny>) -> Option<Self> {
        let list = list.cast_into::<PyList>().ok()?;
        let mut entries = Vec::with_capacity(list.len());
        for item in list.iter() {
            let entry = item.cast_into::<PyList>().ok()?;
            if entry.len() != 2 {
                return None;
            }
            let key = entry.get_item(0).ok()?.cast_into::<PyString>().ok()?.to_str().ok()?
                .to_owned();
            let count = entry.get_item(1).ok()?.extract::<i64>().ok()?;
            entries.push((entry, key, count));
        }
        Some(Self { list, entries })
    }

    /// Count `key`; true if it was tracked already. The summary read stays current, so
    /// it can count again.
    pub(crate) fn count(&mut self, py: Python<'py>, key: &str, size: usize) -> PyResult<bool> {
        if let Some((entry, _, count)) = self.entries.iter_mut().find(|(_, k, _)| k == key) {
            *count += 1;
            entry.set_item(1, *count)?;
            return Ok(true);
        }
        if self.entries.len() < size {
            let entry = PyList::new(py, [key.into_pyobject(py)?.into_any(),
                                         1i64.into_pyobject(py)?.into_any()])?;
            self.list.append(&entry)?;
            self.entries.push((entry, key.to_owned(), 1));
            return Ok(false);
        }
        for (entry, _, count) in &mut self.entries {
            *count -= 1;
            entry.set_item(1, *count)?;
        }
        self.entries.retain(|(_, _, count)| *count > 0);
        let kept = PyList::new(py, self.entries.iter().map(|(entry, _, _)| entry))?;
        self.list.set_slice(0, self.list.len(), &kept)?;
        Ok(false)
    }
}
