//! The compiled hot path of distillguard: `distillguard.models._native`.
//!
//! Each item here is the twin of a Python function that stays the reference
//! (named in its doc comment); `tests/models/test_native_parity.py` checks that
//! both give the same output. The rules themselves (the regular expressions) are
//! handed over by the Python module at start-up, so there is one source for each.
//!
//! Only ASCII text is analysed here: on ASCII, Python's and this crate's `\w`,
//! `\d`, `\b`, lower-casing and whitespace agree exactly; on other text they
//! differ in corners (Unicode versions, what counts as a word character), so
//! anything else returns `None` and the Python twin decides.

mod account;
mod aggregate;
mod forest;
mod pooling;
mod record;
mod scan;

use std::collections::HashMap;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use memchr::{memchr, memchr2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use regex::bytes::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::scan::{replace_code_blocks, replace_names, Rewrite, Rule, HTTP, WWW};

/// Python's `str.split()` whitespace among ASCII characters (it counts \x1c-\x1f too).
fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f)
}

/// Lower-case hex digits, for the digest.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// `text_signals.fingerprint`: BLAKE2b with an 8-byte digest, as 16 hex characters.
fn fingerprint(text: &[u8]) -> String {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b digest size");
    hasher.update(text);
    let mut out = [0u8; 8];
    hasher.finalize_variable(&mut out).expect("the buffer has the digest's size");
    let mut hex = String::with_capacity(16);
    for b in out {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

/// `text_signals.exact_fingerprint`: blind to case and to runs of whitespace.
fn exact_fingerprint(text: &[u8]) -> String {
    let mut norm = Vec::with_capacity(text.len());
    // a space goes in before a word only if a word came before it
    let mut gap = false;
    for &b in text {
        if is_py_space(b) {
            gap = !norm.is_empty();
        } else {
            if gap {
                norm.push(b' ');
                gap = false;
            }
            norm.push(b.to_ascii_lowercase());
        }
    }
    fingerprint(&norm)
}

/// `text_signals.prompt_header`: the fixed opening of a long prompt.
fn prompt_header(prompt: &[u8], chars: usize, min_chars: usize) -> Option<&[u8]> {
    if prompt.len() < 2 * chars {
        return None;
    }
    let cut = prompt[min_chars..chars].iter().position(|&b| b == b'\n').map(|i| i + min_chars);
    Some(match cut {
        Some(i) if i > 0 => &prompt[..i],
        _ => &prompt[..chars],
    })
}

/// The prompt and system text reduced to fingerprints and flags (`text_signals`).
#[pyclass(frozen)]
struct TextSignals {
    inline_code: Rule,
    quoted: Rule,
    url: Rule,
    ident: Rule,
    number: Rule,
    word: Rule,
    coding: Regex,
    cot: Regex,
    process: Regex,
    expose: Regex,
    clause: Regex,
    clause_words: usize,
    analysed_chars: usize,
    header_chars: usize,
    header_min_chars: usize,
}

/// One prompt's signals: prompt, header and template fingerprints, CoT, coding, system.
type Signals = (Option<String>, Option<String>, Option<String>, Option<bool>, Option<bool>,
                Option<String>);

impl TextSignals {
    /// `text_signals.template_skeleton`.
    fn skeleton(&self, text: &[u8]) -> Vec<u8> {
        let mut s = Rewrite::new(text);
        if memchr(b'`', &s.text).is_some() {
            s.pass(replace_code_blocks);
            s.pass(|t, out| self.inline_code.substitute(t, b" <code> ", out));
        }
        if memchr2(b'"', b'\'', &s.text).is_some() {
            s.pass(|t, out| self.quoted.substitute(t, b" <q> ", out));
        }
        if HTTP.find(&s.text).is_some() || WWW.find(&s.text).is_some() {
            s.pass(|t, out| self.url.substitute(t, b" <url> ", out));
        }
        s.pass(|t, out| self.ident.substitute(t, b" <id> ", out));
        s.pass(|t, out| self.number.substitute(t, b" <n> ", out));
        s.pass(replace_names);
        s.text.make_ascii_lowercase();
        s.pass(|t, out| self.word.join(t, out));
        s.text
    }

    /// `text_signals.elicits_chain_of_thought`, on lower-cased text.
    fn cot(&self, lowered: &[u8]) -> bool {
        if self.cot.is_match(lowered) {
            return true;
        }
        if !self.process.is_match(lowered) {
            return false;
        }
        self.clause.split(lowered).any(|clause| {
            clause.split(|&b| is_py_space(b)).filter(|w| !w.is_empty()).count()
                <= self.clause_words
                && self.process.is_match(clause)
                && self.expose.is_match(clause)
        })
    }

    /// `text_signals.signals` on text already read; None if either is not ASCII.
    fn analyse(&self, prompt: Option<&str>, system: Option<&str>, coding: bool)
               -> Option<Signals> {
        if !prompt.is_none_or(str::is_ascii) || !system.is_none_or(str::is_ascii) {
            return None;
        }
        let system_fp = system.map(|s| exact_fingerprint(s.as_bytes()));
        let Some(prompt) = prompt else {
            return Some((None, None, None, None, None, system_fp));
        };
        let head = &prompt[..prompt.len().min(self.analysed_chars)];
        let header = prompt_header(prompt.as_bytes(), self.header_chars, self.header_min_chars);
        let lowered = head.to_ascii_lowercase();
        Some((
            Some(exact_fingerprint(prompt.as_bytes())),
            header.map(exact_fingerprint),
            Some(fingerprint(&self.skeleton(head.as_bytes()))),
            Some(self.cot(lowered.as_bytes())),
            coding.then(|| self.coding.is_match(lowered.as_bytes())),
            system_fp,
        ))
    }
}

fn utf8<'a>(text: Option<&'a Bound<'_, PyString>>) -> PyResult<Option<&'a str>> {
    text.map(|t| t.to_str()).transpose()
}

#[pymethods]
impl TextSignals {
    /// Compile the Python module's patterns (`patterns` by name) and take its limits.
    #[new]
    fn new(patterns: HashMap<String, String>, clause_words: usize, analysed_chars: usize,
           header_chars: usize, header_min_chars: usize) -> PyResult<Self> {
        let get = |name: &str| -> PyResult<Regex> {
            let src = patterns.get(name).ok_or_else(|| {
                PyValueError::new_err(format!("no pattern named {name:?}"))
            })?;
            // ASCII classes: on ASCII text they agree with Python's Unicode ones, and the
            // DFAs handle their word boundaries (Unicode ones fall back to slower engines);
            // a pattern with non-ASCII literals (curly quotes) keeps Unicode mode for them
            RegexBuilder::new(src)
                .unicode(!src.is_ascii())
                .build()
                .map_err(|e| PyValueError::new_err(format!("pattern {name}: {e}")))
        };
        let rule = |name: &str| get(name).map(Rule::new);
        Ok(Self {
            inline_code: rule("inline_code")?,
            quoted: rule("quoted")?,
            url: rule("url")?,
            ident: rule("ident")?,
            number: rule("number")?,
            word: rule("word")?,
            coding: get("coding")?,
            cot: get("cot")?,
            process: get("process")?,
            expose: get("expose")?,
            clause: get("clause")?,
            clause_words,
            analysed_chars,
            header_chars,
            header_min_chars,
        })
    }

    /// How each rule that has a hand-written scanner is taken: by the `scanner`, or by its
    /// `regex` when the pattern is not the one the scanner was written for.
    #[getter]
    fn engines(&self) -> HashMap<&'static str, &'static str> {
        let rules = [
            ("ident", self.ident.engine()),
            ("number", self.number.engine()),
            ("word", self.word.engine()),
        ];
        rules.into_iter().collect()
    }

    /// The signals of `prompt` and `system` (`text_signals.signals`), or None when either
    /// is not ASCII (the Python twin decides then). `coding` asks for the keyword test.
    #[pyo3(signature = (prompt, system, coding))]
    fn signals(&self, prompt: Option<&Bound<'_, PyString>>, system: Option<&Bound<'_, PyString>>,
               coding: bool) -> Option<Signals> {
        let (Ok(prompt), Ok(system)) = (utf8(prompt), utf8(system)) else {
            return None;  // lone surrogates: not ASCII either
        };
        self.analyse(prompt, system, coding)
    }
}

/// The contract's limits on a plainly valid event (`events` module constants).
struct Limits {
    max_id_len: usize,
    max_string_len: usize,
    max_count: u64,
    min_ts: f64,
    max_ts: f64,
}

/// Not the plain case: the Python path (`events._build_checked`) decides.
struct Unusual;

type Plain<T> = Result<T, Unusual>;

/// `doc.get(key)`: absent and JSON null are both None.
fn get<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    doc.get(key).filter(|v| !v.is_null())
}

/// A string of at most `limit` code points.
fn string(v: Option<&Value>, limit: usize) -> Plain<Option<&str>> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= limit || s.chars().count() <= limit => Ok(Some(s)),
        Some(_) => Err(Unusual),
    }
}

/// An integer in `minimum..max_count` (JSON floats and booleans are not).
fn count(v: Option<&Value>, minimum: u64, limits: &Limits) -> Plain<Option<u64>> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(c) if minimum <= c && c < limits.max_count => Ok(Some(c)),
            _ => Err(Unusual),
        },
        Some(_) => Err(Unusual),
    }
}

/// A JSON integer as Python's `float(int)` gives it, a JSON float as itself.
fn number(v: Option<&Value>) -> Plain<Option<f64>> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(Unusual),
        Some(_) => Err(Unusual),
    }
}

/// Epoch seconds within the plausible range (RFC 3339 text is the Python path's).
fn time(v: Option<&Value>, limits: &Limits) -> Plain<Option<f64>> {
    match number(v)? {
        Some(t) if !(limits.min_ts <= t && t < limits.max_ts) => Err(Unusual),
        t => Ok(t),
    }
}

/// An id of printable ASCII (others, legal or not, are the Python path's).
fn ident<'a>(v: Option<&'a Value>, limits: &Limits) -> Plain<&'a str> {
    match v {
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= limits.max_id_len
                && s.bytes().all(|b| (0x20..0x7f).contains(&b)) => Ok(s),
        _ => Err(Unusual),
    }
}

/// 16 hex digits, lower-cased.
fn hex16(v: Option<&Value>) -> Plain<Option<String>> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) if s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(s.to_ascii_lowercase()))
        }
        Some(_) => Err(Unusual),
    }
}

/// `events._build_fast` and `events._text_signals` in one pass over the raw record.
#[pyclass(frozen)]
struct FastParser {
    signals: Py<TextSignals>,
    limits: Limits,
    focus_tasks: Vec<String>,
}

/// What `FastParser.fields` gives: the `Event` fields through `header_fp`, and the prompt.
type Fields<'py> = (Bound<'py, PyTuple>, Option<Bound<'py, PyString>>);

#[pymethods]
impl FastParser {
    #[new]
    fn new(signals: Py<TextSignals>, max_id_len: usize, max_string_len: usize, max_count: u64,
           min_ts: f64, max_ts: f64, focus_tasks: Vec<String>) -> Self {
        Self { signals, limits: Limits { max_id_len, max_string_len, max_count, min_ts, max_ts },
               focus_tasks }
    }

    /// The `Event` fields of a plainly valid record (in field order, through `header_fp`)
    /// and its prompt (for the content sampler); None for anything else, which the Python
    /// path then takes (any error, but also legal rarities: RFC 3339 times, non-ASCII ids
    /// or text), so every rejection keeps its reason and message.
    fn fields<'py>(&self, py: Python<'py>, raw: &Bound<'py, PyAny>)
                   -> PyResult<Option<Fields<'py>>> {
        let Ok(bytes) = raw.cast::<PyBytes>() else {
            return Ok(None);
        };
        let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(bytes.as_bytes()) else {
            return Ok(None);
        };
        match self.plain(py, &doc) {
            Ok(got) => got.map(Some),
            Err(Unusual) => Ok(None),
        }
    }
}

impl FastParser {
    fn plain<'py>(&self, py: Python<'py>, doc: &Map<String, Value>)
                  -> Plain<PyResult<Fields<'py>>> {
        let lim = &self.limits;
        let s = |key: &str| string(get(doc, key), lim.max_string_len);
        let (ip, asn, country, user_agent, ja4, sdk) = match get(doc, "client") {
            None => (None, None, None, None, None, None),
            Some(Value::Object(c)) => {
                let cs = |key: &str| string(get(c, key), lim.max_string_len);
                (cs("ip")?, count(get(c, "asn"), 0, lim)?, cs("country")?, cs("user_agent")?,
                 cs("ja4")?, cs("sdk")?)
            }
            Some(_) => return Err(Unusual),
        };
        let event_id = ident(get(doc, "event_id"), lim)?;
        let account_id = ident(get(doc, "account_id"), lim)?;
        let ts = time(get(doc, "ts"), lim)?.ok_or(Unusual)?;
        let model = s("model")?.ok_or(Unusual)?;
        let input_tokens = count(get(doc, "input_tokens"), 0, lim)?.ok_or(Unusual)?;
        let output_tokens = count(get(doc, "output_tokens"), 0, lim)?.ok_or(Unusual)?;
        let (org_id, api_key_id, endpoint) = (s("org_id")?, s("api_key_id")?, s("endpoint")?);
        let (stop_reason, task, payment_fp) = (s("stop_reason")?, s("task")?, s("payment_fp")?);
        let max_tokens = count(get(doc, "max_tokens"), 0, lim)?;
        let status = count(get(doc, "status"), 0, lim)?;
        let turns = count(get(doc, "turns"), 1, lim)?;
        let tools = count(get(doc, "tools"), 0, lim)?;
        let tool_calls = count(get(doc, "tool_calls"), 0, lim)?;
        let account_created = time(get(doc, "account_created"), lim)?;
        let latency_ms = number(get(doc, "latency_ms"))?;
        if latency_ms.is_some_and(|l| !l.is_finite()) {
            return Err(Unusual);
        }
        let stream = match get(doc, "stream") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(Unusual),
        };
        let prompt = string(get(doc, "prompt"), usize::MAX)?;
        let system = string(get(doc, "system"), usize::MAX)?;
        let mut prompt_fp = hex16(get(doc, "prompt_fp"))?;
        let mut system_fp = hex16(get(doc, "system_fp"))?;
        let (mut header_fp, mut cot, mut focus) = (None, None, None);
        // text that is not ASCII: the Python twin's
        let (p, h, t, c, coding, sys) = self.signals.get()
            .analyse(prompt, system, task.is_none()).ok_or(Unusual)?;
        let template_fp = if prompt.is_some() {
            (prompt_fp, header_fp, cot) = (p, h, c);
            focus = Some(coding == Some(true) || tools.unwrap_or(0) != 0);
            t
        } else {
            prompt_fp.clone()  // a fingerprint-only gateway: exact repeats only
        };
        if system.is_some() {
            system_fp = sys;
        }
        if let Some(t) = task {
            focus = Some(self.focus_tasks.iter().any(|f| f == t));
        }
        let fields = (|| -> PyResult<Bound<'py, PyTuple>> {
            PyTuple::new(py, [
                event_id.into_bound_py_any(py)?, ts.into_bound_py_any(py)?,
                account_id.into_bound_py_any(py)?, model.into_bound_py_any(py)?,
                input_tokens.into_bound_py_any(py)?, output_tokens.into_bound_py_any(py)?,
                org_id.into_bound_py_any(py)?, api_key_id.into_bound_py_any(py)?,
                endpoint.into_bound_py_any(py)?, max_tokens.into_bound_py_any(py)?,
                stop_reason.into_bound_py_any(py)?, status.into_bound_py_any(py)?,
                latency_ms.into_bound_py_any(py)?, stream.into_bound_py_any(py)?,
                turns.into_bound_py_any(py)?, tools.into_bound_py_any(py)?,
                tool_calls.into_bound_py_any(py)?, task.into_bound_py_any(py)?,
                prompt_fp.into_bound_py_any(py)?, template_fp.into_bound_py_any(py)?,
                system_fp.into_bound_py_any(py)?, focus.into_bound_py_any(py)?,
                cot.into_bound_py_any(py)?, ip.into_bound_py_any(py)?,
                asn.into_bound_py_any(py)?, country.into_bound_py_any(py)?,
                user_agent.into_bound_py_any(py)?, ja4.into_bound_py_any(py)?,
                sdk.into_bound_py_any(py)?, payment_fp.into_bound_py_any(py)?,
                account_created.into_bound_py_any(py)?, py.None().into_bound(py),
                header_fp.into_bound_py_any(py)?,
            ])
        })();
        Ok(fields.map(|f| (f, prompt.map(|p| PyString::new(py, p)))))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextSignals>()?;
    m.add_class::<FastParser>()?;
    m.add_class::<account::AccountFold>()?;
    m.add_class::<aggregate::AggregateShape>()?;
    m.add_class::<forest::Forest>()?;
    m.add_class::<pooling::Pooler>()?;
    Ok(())
}
