//! The twin of `account_state.update`: one event folded into an account's statistics.
//!
//! The account's record stays a Python dict (the `AccountState`'s `__dict__`): the
//! scalars are read once, updated here in f64 and i64 exactly as the Python statements
//! do (same operations in the same order; `exp`, `log` and `log1p` are the C library's,
//! as Python's `math` calls them), and written back only where Python assigns them, so
//! a stored record keeps its types (an int stays an int until Python would make it a
//! float). The lists and the offsets dict are changed in place, as Python changes them.
//! Anything the fold does not expect (a record of another shape, an event field of
//! another type, an id with lone surrogates) returns None before anything is changed,
//! and the Python twin takes the event.

use pyo3::conversion::FromPyObjectOwned;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString};

use crate::record::{float_field, int_field, Summary, EXACT_INT};

/// `max(floor, 1.0 / n)` as Python's `max` gives it (the first of equals).
pub(crate) fn share(floor: f64, n: i64) -> f64 {
    let inv = 1.0 / n as f64;
    if inv > floor { inv } else { floor }
}

/// Python's `float // float` (`float_floor_div`), for the bucket and hour of an event time.
fn py_floordiv(vx: f64, wx: f64) -> f64 {
    let m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 && (wx < 0.0) != (m < 0.0) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0_f64.copysign(vx / wx);
    }
    let floordiv = div.floor();
    if div - floordiv > 0.5 { floordiv + 1.0 } else { floordiv }
}

/// Python's `round(x, 3)`: the float nearest the decimal rounded half to even. Away
/// from a tie, `x * 1000` (within half an ulp of the exact product) rounds to the same
/// integer as the exact product, and dividing it by 1000 is correctly rounded; near
/// one, the exact decimal conversion decides.
fn round3(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let y = x * 1000.0;
    if y.abs() < 1e15 && (y - y.floor() - 0.5).abs() > (y.abs() + 1.0) * 1e-12 {
        return y.round() / 1000.0;
    }
    format!("{x:.3}").parse().expect("a formatted float parses")
}

/// splitmix64's finaliser (`cooccurrence._mix`).
fn mix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The event fields the fold reads (`account_state.update`).
struct EventIn<'py> {
    ts: Bound<'py, PyFloat>,
    id_hash: u32,
    src: Option<(i64, Bound<'py, PyAny>)>,
    content: Option<Bound<'py, PyAny>>,
    template_fp: Option<String>,
    header_fp: Option<String>,
    system_fp: Option<Bound<'py, PyString>>,
    cot: Option<bool>,
    focus: Option<bool>,
    tools: Option<u64>,
    tool_calls: Option<u64>,
    turns: Option<u64>,
    output_tokens: u64,
    input_tokens: u64,
    stop_reason: Option<String>,
}

fn optional<'py, T: FromPyObjectOwned<'py>>(ev: &Bound<'py, PyAny>,
                                           name: &Bound<'py, PyString>) -> Option<Option<T>> {
    let v = ev.getattr(name).ok()?;
    if v.is_none() {
        return Some(None);
    }
    v.extract::<T>().ok().map(Some)
}

fn small(v: Option<u64>) -> Option<Option<u64>> {
    match v {
        Some(c) if c >= EXACT_INT => None,
        c => Some(c),
    }
}

impl<'py> EventIn<'py> {
    fn read(py: Python<'py>, ev: &Bound<'py, PyAny>) -> Option<Self> {
        let ts = ev.getattr(intern!(py, "ts")).ok()?.cast_into::<PyFloat>().ok()?;
        let id = ev.getattr(intern!(py, "event_id")).ok()?;
        let id_hash = crc32fast::hash(id.cast::<PyString>().ok()?.to_str().ok()?.as_bytes());
        let src = ev.getattr(intern!(py, "src")).ok()?;
        let src = if src.is_none() {
            None
        } else {
            let src = src.cast_into::<PyList>().ok()?;
            if src.len() != 2 {
                return None;
            }
            Some((src.get_item(0).ok()?.extract::<i64>().ok()?, src.get_item(1).ok()?))
        };
        let content = ev.getattr(intern!(py, "content")).ok()?;
        let count = |name| optional::<u64>(ev, name).and_then(small);
        Some(Self {
            ts,
            id_hash,
            src,
            content: (!content.is_none()).then_some(content),
            template_fp: optional(ev, intern!(py, "template_fp"))?,
            header_fp: optional(ev, intern!(py, "header_fp"))?,
            system_fp: optional(ev, intern!(py, "system_fp"))?,
            cot: optional(ev, intern!(py, "cot"))?,
            focus: optional(ev, intern!(py, "focus"))?,
            tools: count(intern!(py, "tools"))?,
            tool_calls: count(intern!(py, "tool_calls"))?,
            turns: count(intern!(py, "turns"))?,
            output_tokens: count(intern!(py, "output_tokens"))??,
            input_tokens: count(intern!(py, "input_tokens"))??,
            stop_reason: optional(ev, intern!(py, "stop_reason"))?,
        })
    }
}

/// The record's scalars, as read; written back field by field where Python assigns.
struct Scalars {
    n: i64,
    first: f64,
    last: f64,
    hours_ts: f64,
    r_hour: f64,
    r_day: f64,
    gap_mean: f64,
    gap_var: f64,
    gaps: i64,
    text_n: i64,
    tpl_reuse: f64,
    sys_reuse: f64,
    cot_n: i64,
    cot: f64,
    cot_ev: f64,
    focus_n: i64,
    focus: f64,
    tools_n: i64,
    tools: f64,
    tool_calls: f64,
    turns_n: i64,
    turns: f64,
    out_in: f64,
    out_tok: f64,
    stop_n: i64,
    max_stop: f64,
}

/// `account_state.update`'s constants and helpers, handed over by the Python module.
#[pyclass(frozen)]
pub struct AccountFold {
    alpha: f64,
    hour: f64,
    day: f64,
    hours_tau: f64,
    hours_step: f64,
    recent_ids: usize,
    top_templates: usize,
    top_headers: usize,
    cot_up: f64,
    cot_down: f64,
    bucket_seconds: f64,
    gap_buckets: i64,
    minute_buckets: i64,
    bare: u64,
    low_bits: u32,
    seeds: Vec<u64>,
    new_signature: Py<PyAny>,
    fold_chunk: Py<PyAny>,
}

#[pymethods]
impl AccountFold {
    /// The Python modules' constants by name (`constants`), the signature seeds, and
    /// `cooccurrence.new_signature` and `content.fold_chunk` themselves.
    #[new]
    fn new(constants: &Bound<'_, PyDict>, seeds: Vec<u64>, new_signature: Py<PyAny>,
           fold_chunk: Py<PyAny>) -> PyResult<Self> {
        let f = |name: &str| constant::<f64>(constants, name);
        let i = |name: &str| constant::<i64>(constants, name);
        Ok(Self {
            alpha: f("ALPHA")?,
            hour: f("HOUR")?,
            day: f("DAY")?,
            hours_tau: f("HOURS_TAU")?,
            hours_step: f("HOURS_STEP")?,
            recent_ids: i("RECENT_IDS")? as usize,
            top_templates: i("TOP_TEMPLATES")? as usize,
            top_headers: i("TOP_HEADERS")? as usize,
            cot_up: f("COT_UP")?,
            cot_down: f("COT_DOWN")?,
            bucket_seconds: f("BUCKET_SECONDS")?,
            gap_buckets: i("GAP_BUCKETS")?,
            minute_buckets: i("MINUTE_BUCKETS")?,
            bare: i("BARE")? as u64,
            low_bits: i("LOW")? as u32,
            seeds,
            new_signature,
            fold_chunk,
        })
    }

    /// `account_state.update(state, ev, late_tolerance)` on `state.__dict__`: whether the
    /// event was too late for the timing statistics; None (nothing changed) when the
    /// record or the event is not of the expected shape.
    fn update<'py>(&self, py: Python<'py>, d: &Bound<'py, PyDict>, ev: &Bound<'py, PyAny>,
                   late_tolerance: f64) -> PyResult<Option<bool>> {
        let Some(ev) = EventIn::read(py, ev) else { return Ok(None) };
        let Some(mut s) = read_scalars(py, d) else { return Ok(None) };
        let item = |name: &Bound<'py, PyString>| -> Option<Bound<'py, PyAny>> {
            d.get_item(name).ok().flatten()
        };
        let (Some(ids), Some(offs), Some(hours), Some(tsig), Some(sys_fp)) = (
            item(intern!(py, "ids")).and_then(|v| v.cast_into::<PyList>().ok()),
            item(intern!(py, "offs")).and_then(|v| v.cast_into::<PyDict>().ok()),
            item(intern!(py, "hours")).and_then(|v| v.cast_into::<PyList>().ok()),
            item(intern!(py, "tsig")).and_then(|v| v.cast_into::<PyList>().ok()),
            item(intern!(py, "sys_fp")).and_then(|v| v.cast_into::<PyString>().ok()),
        ) else {
            return Ok(None);
        };
        let Some(hour_values) = hours.iter().map(|h| h.extract::<f64>().ok())
            .collect::<Option<Vec<f64>>>() else { return Ok(None) };
        let Some(sig) = read_signature(&tsig, self.seeds.len()) else { return Ok(None) };
        let (Some(mut tpl), Some(mut hdr)) = (item(intern!(py, "tpl")).and_then(Summary::read),
                                      item(intern!(py, "hdr")).and_then(Summary::read))
        else {
            return Ok(None);
        };
        let ts = ev.ts.value();
        if hour_values.len() != 24 || ev.turns == Some(0) || !ts.is_finite() {
            return Ok(None);
        }

        // everything is as expected: from here on, the Python statements in order
        s.n += 1;
        if s.n == 1 {
            (s.first, s.last, s.hours_ts) = (ts, ts, ts);
            for name in [intern!(py, "first"), intern!(py, "last"), intern!(py, "hours_ts")] {
                d.set_item(name, &ev.ts)?;
            }
        } else if ts < s.first {
            s.first = ts;
            d.set_item(intern!(py, "first"), &ev.ts)?;
        }
        d.set_item(intern!(py, "n"), s.n)?;
        ids.append(ev.id_hash)?;
        if ids.len() > self.recent_ids {
            ids.del_item(0)?;
        }
        if let Some((partition, offset)) = &ev.src {
            offs.set_item(partition.to_string(), offset)?;
        }
        let too_late = ts < s.last - late_tolerance;
        if !too_late {
            self.timing(py, d, &mut s, &ev, hours, hour_values)?;
        }
        self.bucket_update(py, &tsig, sig, ts)?;
        self.content(py, d, &mut s, &ev, &mut tpl, &mut hdr, &sys_fp)?;
        self.shape(py, d, &mut s, &ev)?;
        Ok(Some(too_late))
    }
}

/// The constant `name` the Python module handed over; a KeyError naming it if it did not.
fn constant<'py, T: FromPyObjectOwned<'py>>(constants: &Bound<'py, PyDict>, name: &str)
    -> PyResult<T> {
    constants.get_item(name)?
        .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.to_owned()))?
        .extract()
        .map_err(Into::into)
}

fn read_scalars(py: Python<'_>, d: &Bound<'_, PyDict>) -> Option<Scalars> {
    let f = |name| float_field(d, name);
    let i = |name| int_field(d, name);
    Some(Scalars {
        n: i(intern!(py, "n"))?,
        first: f(intern!(py, "first"))?,
        last: f(intern!(py, "last"))?,
        hours_ts: f(intern!(py, "hours_ts"))?,
        r_hour: f(intern!(py, "r_hour"))?,
        r_day: f(intern!(py, "r_day"))?,
        gap_mean: f(intern!(py, "gap_mean"))?,
        gap_var: f(intern!(py, "gap_var"))?,
        gaps: i(intern!(py, "gaps"))?,
        text_n: i(intern!(py, "text_n"))?,
        tpl_reuse: f(intern!(py, "tpl_reuse"))?,
        sys_reuse: f(intern!(py, "sys_reuse"))?,
        cot_n: i(intern!(py, "cot_n"))?,
        cot: f(intern!(py, "cot"))?,
        cot_ev: f(intern!(py, "cot_ev"))?,
        focus_n: i(intern!(py, "focus_n"))?,
        focus: f(intern!(py, "focus"))?,
        tools_n: i(intern!(py, "tools_n"))?,
        tools: f(intern!(py, "tools"))?,
        tool_calls: f(intern!(py, "tool_calls"))?,
        turns_n: i(intern!(py, "turns_n"))?,
        turns: f(intern!(py, "turns"))?,
        out_in: f(intern!(py, "out_in"))?,
        out_tok: f(intern!(py, "out_tok"))?,
        stop_n: i(intern!(py, "stop_n"))?,
        max_stop: f(intern!(py, "max_stop"))?,
    })
}

/// The signature's onsets, latest bucket and minima (`cooccurrence.new_signature`).
struct Signature {
    onsets: i64,
    latest: i64,
    minima: Vec<u64>,
}

fn read_signature(tsig: &Bound<'_, PyList>, rows: usize) -> Option<Signature> {
    if tsig.len() != rows + 2 {
        return None;
    }
    let int = |i: usize| tsig.get_item(i).ok()?.extract::<i64>().ok();
    let minima = (2..rows + 2).map(|i| tsig.get_item(i).ok()?.extract::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    Some(Signature { onsets: int(0)?, latest: int(1)?, minima })
}

impl AccountFold {
    /// `account_state._update_timing`.
    fn timing<'py>(&self, py: Python<'py>, d: &Bound<'py, PyDict>, s: &mut Scalars,
                   ev: &EventIn<'py>, mut hours: Bound<'py, PyList>, mut values: Vec<f64>)
                   -> PyResult<()> {
        let ts = ev.ts.value();
        let dt = ts - s.last;
        if dt > 0.0 {
            s.r_hour = s.r_hour * (-dt / self.hour).exp() + 1.0;
            s.r_day = s.r_day * (-dt / self.day).exp() + 1.0;
            s.last = ts;
            d.set_item(intern!(py, "last"), &ev.ts)?;
        } else {
            s.r_hour += 1.0;
            s.r_day += 1.0;
        }
        d.set_item(intern!(py, "r_hour"), s.r_hour)?;
        d.set_item(intern!(py, "r_day"), s.r_day)?;
        if dt >= 0.0 && s.n > 1 {
            s.gaps += 1;
            let dev = dt.ln_1p() - s.gap_mean;
            let a = share(self.alpha, s.gaps);
            s.gap_mean += a * dev;
            s.gap_var = (1.0 - a) * (s.gap_var + a * dev * dev);
            d.set_item(intern!(py, "gaps"), s.gaps)?;
            d.set_item(intern!(py, "gap_mean"), s.gap_mean)?;
            d.set_item(intern!(py, "gap_var"), s.gap_var)?;
        }
        if ts > s.hours_ts + self.hours_step {
            let k = (-(ts - s.hours_ts) / self.hours_tau).exp();
            for h in values.iter_mut() {
                *h = if *h != 0.0 { round3(*h * k) } else { 0.0 };
            }
            hours = PyList::new(py, &values)?;
            d.set_item(intern!(py, "hours"), &hours)?;
            s.hours_ts = ts;
            d.set_item(intern!(py, "hours_ts"), &ev.ts)?;
        }
        let at = (py_floordiv(ts, self.hour) as i64).rem_euclid(24) as usize;
        hours.set_item(at, values[at] + 1.0)?;
        Ok(())
    }

    /// `cooccurrence.bucket_update`.
    fn bucket_update(&self, py: Python<'_>, tsig: &Bound<'_, PyList>, mut sig: Signature,
                     ts: f64) -> PyResult<()> {
        if sig.minima[0] <= self.bare {  // stored by an earlier release: start afresh
            let fresh = self.new_signature.call0(py)?;
            tsig.set_slice(0, tsig.len(), fresh.bind(py))?;
            let Some(read) = read_signature(tsig, self.seeds.len()) else {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "new_signature() gave a signature of another shape"));
            };
            sig = read;
        }
        let bucket = py_floordiv(ts, self.bucket_seconds) as i64;
        let idle = bucket - sig.latest;
        if idle <= 0 {
            return Ok(());
        }
        tsig.set_item(1, bucket)?;
        if idle < self.gap_buckets || bucket.rem_euclid(self.minute_buckets) == 0 {
            return Ok(());
        }
        tsig.set_item(0, sig.onsets + 1)?;
        let x = mix(bucket as u64);
        let low = (bucket as u64) & ((1u64 << self.low_bits) - 1);
        for (i, seed) in self.seeds.iter().enumerate() {
            let h = ((mix(x ^ seed) >> 33) << self.low_bits) | low;
            if h < sig.minima[i] {
                tsig.set_item(i + 2, h)?;
            }
        }
        Ok(())
    }

    /// `account_state._update_content`.
    #[allow(clippy::too_many_arguments)]
    fn content<'py>(&self, py: Python<'py>, d: &Bound<'py, PyDict>, s: &mut Scalars,
                    ev: &EventIn<'py>, tpl: &mut Summary<'py>, hdr: &mut Summary<'py>,
                    sys_fp: &Bound<'py, PyString>) -> PyResult<()> {
        if let Some(content) = &ev.content {
            let (emb, emb_n) = (intern!(py, "emb"), intern!(py, "emb_n"));
            let got = self.fold_chunk.call1(py, (d.get_item(emb)?, d.get_item(emb_n)?, content))?;
            let (mean, chunks): (Bound<'_, PyAny>, Bound<'_, PyAny>) = got.extract(py)?;
            d.set_item(emb, mean)?;
            d.set_item(emb_n, chunks)?;
        }
        if let Some(template_fp) = &ev.template_fp {
            s.text_n += 1;
            let a = share(self.alpha, s.text_n);
            let reused = tpl.count(py, template_fp, self.top_templates)?;
            s.tpl_reuse += a * ((if reused { 1.0 } else { 0.0 }) - s.tpl_reuse);
            if let Some(header_fp) = &ev.header_fp {
                hdr.count(py, header_fp, self.top_headers)?;
            }
            let same_sys = match &ev.system_fp {
                Some(fp) => fp.to_str()? == sys_fp.to_str()?,
                None => false,
            };
            s.sys_reuse += a * ((if same_sys { 1.0 } else { 0.0 }) - s.sys_reuse);
            d.set_item(intern!(py, "text_n"), s.text_n)?;
            d.set_item(intern!(py, "tpl_reuse"), s.tpl_reuse)?;
            d.set_item(intern!(py, "sys_reuse"), s.sys_reuse)?;
            if let Some(fp) = &ev.system_fp {
                d.set_item(intern!(py, "sys_fp"), fp)?;
            }
        }
        if let Some(cot) = ev.cot {
            s.cot_n += 1;
            let a = share(self.alpha, s.cot_n);
            s.cot += a * ((if cot { 1.0 } else { 0.0 }) - s.cot);
            s.cot_ev = if cot {
                s.cot_ev + self.cot_up
            } else {
                let x = s.cot_ev - self.cot_down;
                if x > 0.0 { x } else { 0.0 }
            };
            d.set_item(intern!(py, "cot_n"), s.cot_n)?;
            d.set_item(intern!(py, "cot"), s.cot)?;
            d.set_item(intern!(py, "cot_ev"), s.cot_ev)?;
        }
        if let Some(focus) = ev.focus {
            s.focus_n += 1;
            let a = share(self.alpha, s.focus_n);
            s.focus += a * ((if focus { 1.0 } else { 0.0 }) - s.focus);
            d.set_item(intern!(py, "focus_n"), s.focus_n)?;
            d.set_item(intern!(py, "focus"), s.focus)?;
        }
        Ok(())
    }

    /// `account_state._update_shape`.
    fn shape(&self, py: Python<'_>, d: &Bound<'_, PyDict>, s: &mut Scalars, ev: &EventIn<'_>)
             -> PyResult<()> {
        if ev.tools.is_some() || ev.tool_calls.is_some() {
            s.tools_n += 1;
            let a = share(self.alpha, s.tools_n);
            s.tools += a * (ev.tools.unwrap_or(0) as f64 - s.tools);
            s.tool_calls += a * (ev.tool_calls.unwrap_or(0) as f64 - s.tool_calls);
            d.set_item(intern!(py, "tools_n"), s.tools_n)?;
            d.set_item(intern!(py, "tools"), s.tools)?;
            d.set_item(intern!(py, "tool_calls"), s.tool_calls)?;
        }
        if let Some(turns) = ev.turns {
            s.turns_n += 1;
            let a = share(self.alpha, s.turns_n);
            s.turns += a * ((turns as f64).ln() - s.turns);
            d.set_item(intern!(py, "turns_n"), s.turns_n)?;
            d.set_item(intern!(py, "turns"), s.turns)?;
        }
        let a = share(self.alpha, s.n);
        let ratio = ((ev.output_tokens + 1) as f64 / (ev.input_tokens + 1) as f64).ln();
        s.out_in += a * (ratio - s.out_in);
        s.out_tok += a * ((ev.output_tokens as f64).ln_1p() - s.out_tok);
        d.set_item(intern!(py, "out_in"), s.out_in)?;
        d.set_item(intern!(py, "out_tok"), s.out_tok)?;
        if let Some(stop) = &ev.stop_reason {
            s.stop_n += 1;
            let a = share(self.alpha, s.stop_n);
            s.max_stop += a * ((if stop == "max_tokens" { 1.0 } else { 0.0 }) - s.max_stop);
            d.set_item(intern!(py, "stop_n"), s.stop_n)?;
            d.set_item(intern!(py, "max_stop"), s.max_stop)?;
        }
        Ok(())
    }
}
