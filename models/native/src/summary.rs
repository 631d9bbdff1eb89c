//! `account_state.misra_gries` on a Python list of `[key, count]` lists, changed in place.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

/// A Misra-Gries summary (`account_state.misra_gries`): a list of `[key, count]` lists.
pub(crate) struct Summary<'py> {
    pub(crate) list: Bound<'py, PyList>,
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

    /// Count `key`; true if it was tracked already.
    pub(crate) fn count(&self, py: Python<'py>, key: &str, size: usize) -> PyResult<bool> {
        if let Some((entry, _, count)) = self.entries.iter().find(|(_, k, _)| k == key) {
            entry.set_item(1, count + 1)?;
            return Ok(true);
        }
        if self.entries.len() < size {
            self.list.append(PyList::new(py, [key.into_pyobject(py)?.into_any(),
                                              1i64.into_pyobject(py)?.into_any()])?)?;
            return Ok(false);
        }
        let kept = PyList::empty(py);
        for (entry, _, count) in &self.entries {
            entry.set_item(1, count - 1)?;
            if count - 1 > 0 {
                kept.append(entry)?;
            }
        }
        self.list.set_slice(0, self.list.len(), &kept)?;
        Ok(false)
    }
}

