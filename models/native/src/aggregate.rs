//! The twin of `fingerprints._update_shape`: a key's rates, synchrony, template
//! concentration, model adoption and burst, on the aggregate's `__dict__` in place.
//!
//! As in `account`, the scalars are read first and written back only where Python
//! assigns them, and anything of an unexpected shape returns None before any change.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyString, PyTuple};

use crate::account::share;
use crate::record::{float_field, int_field, Summary};

/// `fingerprints._update_shape`'s constants, handed over by the Python module.
#[pyclass(frozen)]
pub struct AggregateShape {
    alpha: f64,
    sync_seconds: f64,
    day: f64,
    top_templates: usize,
    max_models: usize,
}

#[pymethods]
impl AggregateShape {
    #[new]
    fn new(alpha: f64, sync_seconds: f64, day: f64, top_templates: usize, max_models: usize)
           -> Self {
        Self { alpha, sync_seconds, day, top_templates, max_models }
    }

    /// `_update_shape(agg, key, tick, burst)` on `agg.__dict__`: True when done, None (and
    /// nothing changed) when the aggregate or the tick is not of the expected shape.
    fn update<'py>(&self, py: Python<'py>, d: &Bound<'py, PyDict>, key: &str,
                   tick: &Bound<'py, PyAny>, burst: &Bound<'py, PyAny>)
                   -> PyResult<Option<bool>> {
        let get = |name: &Bound<'py, PyString>| -> Option<Bound<'py, PyAny>> {
            d.get_item(name).ok().flatten()
        };
        let attr = |name: &Bound<'py, PyString>| tick.getattr(name).ok();
        let (f, i) = (|name| float_field(d, name), |name| int_field(d, name));
        let (Some(ticks), Some(last), Some(sync), Some(rate), Some(new_ticks), Some(agg_burst),
             Some(tpl_ticks), Some(newest)) = (
            i(intern!(py, "ticks")), f(intern!(py, "last")), f(intern!(py, "sync")),
            f(intern!(py, "rate")), i(intern!(py, "new_ticks")), f(intern!(py, "burst")),
            i(intern!(py, "tpl_ticks")), f(intern!(py, "newest")),
        ) else {
            return Ok(None);
        };
        let (Some(last_account), Some(models), Some(mut tpls)) = (
            get(intern!(py, "last_account")).and_then(|v| v.cast_into::<PyString>().ok()),
            get(intern!(py, "models")).and_then(|v| v.cast_into::<PyDict>().ok()),
            get(intern!(py, "tpls")).and_then(Summary::read),
        ) else {
            return Ok(None);
        };
        let (Some(ts_obj), Some(account), Some(new_account), Some(keys), Some(model)) = (
            attr(intern!(py, "ts")).and_then(|v| v.cast_into::<PyFloat>().ok()),
            attr(intern!(py, "account")).and_then(|v| v.cast_into::<PyString>().ok()),
            attr(intern!(py, "new_account")).and_then(|v| v.cast_into::<PyBool>().ok()),
            attr(intern!(py, "keys")).and_then(|v| v.cast_into::<PyTuple>().ok()),
            attr(intern!(py, "model")).and_then(|v| v.cast_into::<PyString>().ok()),
        ) else {
            return Ok(None);
        };
        let Ok(burst) = burst.cast::<PyFloat>() else { return Ok(None) };
        let Some(keys) = keys.iter().map(|k| k.cast_into::<PyString>().ok()?.to_str().ok()
                                               .map(str::to_owned))
            .collect::<Option<Vec<String>>>() else { return Ok(None) };
        let Some(firsts) = models.iter().map(|(m, t)| {
            Some((m.cast_into::<PyString>().ok()?.to_str().ok()?.to_owned(),
                  t.extract::<f64>().ok()?))
        }).collect::<Option<Vec<(String, f64)>>>() else { return Ok(None) };
        let (Ok(account_str), Ok(last_account_str), Ok(model_str)) =
            (account.to_str(), last_account.to_str(), model.to_str()) else { return Ok(None) };
        // everything is as expected: from here on, the Python statements in order
        let ts = ts_obj.value();
        let gap = ts - last;
        let a = share(self.alpha, ticks + 1);
        if ticks != 0 {
            let other = account_str != last_account_str;
            let near = other && 0.0 <= gap && gap <= self.sync_seconds;
            d.set_item(intern!(py, "sync"), sync + a * ((if near { 1.0 } else { 0.0 }) - sync))?;
        }
        let idle = if 0.0 > gap { 0.0 } else { gap };
        d.set_item(intern!(py, "rate"), rate * (-idle / self.day).exp() + 1.0)?;
        d.set_item(intern!(py, "ticks"), ticks + 1)?;
        if ts > last {
            d.set_item(intern!(py, "last"), &ts_obj)?;
        }
        d.set_item(intern!(py, "last_account"), &account)?;
        d.set_item(intern!(py, "new_ticks"), new_ticks + i64::from(new_account.is_true()))?;
        if burst.value() > agg_burst {
            d.set_item(intern!(py, "burst"), burst)?;
        }
        if !key.starts_with("tpl:") {
            let mut counted = tpl_ticks;
            for tpl in keys.iter().filter(|k| k.starts_with("tpl:")) {
                counted += 1;
                d.set_item(intern!(py, "tpl_ticks"), counted)?;
                tpls.count(py, tpl, self.top_templates)?;
            }
        }
        if !model_str.is_empty() {
            let mut firsts = firsts;
            if !firsts.iter().any(|(m, _)| m == model_str) && firsts.len() < self.max_models {
                models.set_item(&model, &ts_obj)?;
                firsts.push((model_str.to_owned(), ts));
            }
            // `max(models, key=models.__getitem__)`: the first of the latest
            let mut best: Option<&(String, f64)> = None;
            for entry in &firsts {
                if best.is_none_or(|b| entry.1 > b.1) {
                    best = Some(entry);
                }
            }
            let same = best.is_some_and(|(m, _)| m == model_str);
            d.set_item(intern!(py, "newest"),
                       newest + a * ((if same { 1.0 } else { 0.0 }) - newest))?;
        }
        Ok(Some(true))
    }
}
