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

use std::collections::HashMap;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use regex::bytes::{Regex, RegexBuilder};
use serde_json::{Map, Value};

/// Python's `str.split()` whitespace among ASCII characters (it counts \x1c-\x1f too).
fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f)
}

/// `text_signals.fingerprint`: BLAKE2b with an 8-byte digest, as 16 hex characters.
fn fingerprint(text: &[u8]) -> String {
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b digest size");
    hasher.update(text);
    let mut out = [0u8; 8];
    hasher.finalize_variable(&mut out).expect("the buffer has the digest's size");
    out.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text_signals.exact_fingerprint`: blind to case and to runs of whitespace.
fn exact_fingerprint(text: &[u8]) -> String {
    let mut norm = Vec::with_capacity(text.len());
    for word in text.split(|&b| is_py_space(b)).filter(|w| !w.is_empty()) {
        if !norm.is_empty() {
            norm.push(b' ');
        }
        norm.extend(word.iter().map(u8::to_ascii_lowercase));
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

/// `_CODE_BLOCK.sub(" <code> ", s)` for `(?s)```.*?(```|$)`: to the next fence, or to the
/// end (before a final newline, where Python's `$` matches first).
fn replace_code_blocks(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while let Some(open) = s[at..].find("```").map(|i| i + at) {
        out.push_str(&s[at..open]);
        out.push_str(" <code> ");
        at = match s[open + 3..].find("```") {
            Some(i) => open + 3 + i + 3,
            None if bytes.last() == Some(&b'\n') && s.len() > open + 3 => s.len() - 1,
            None => s.len(),
        };
    }
    out.push_str(&s[at..]);
    out
}

/// `_NAME.sub(" <name> ", s)` for `(?<=[a-z,;:] )[A-Z][a-z]+`, a look-behind the regex
/// crate lacks: a capitalised word after a space that follows a lower-case letter or
/// a clause mark.
fn replace_names(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut at, mut i) = (0, 2);
    while i + 1 < b.len() {
        if b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_lowercase()
            && b[i - 1] == b' '
            && matches!(b[i - 2], b'a'..=b'z' | b',' | b';' | b':')
        {
            let mut end = i + 2;
            while end < b.len() && b[end].is_ascii_lowercase() {
                end += 1;
            }
            out.push_str(&s[at..i]);
            out.push_str(" <name> ");
            at = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[at..]);
    out
}

fn replace(re: &Regex, s: String, with: &str) -> String {
    match re.replace_all(s.as_bytes(), regex::bytes::NoExpand(with.as_bytes())) {
        std::borrow::Cow::Borrowed(_) => s,
        // ASCII in, ASCII replacements: still ASCII
        std::borrow::Cow::Owned(t) => String::from_utf8(t).expect("ASCII stays ASCII"),
    }
}

/// The prompt and system text reduced to fingerprints and flags (`text_signals`).
#[pyclass(frozen)]
struct TextSignals {
    inline_code: Regex,
    quoted: Regex,
    url: Regex,
    ident: Regex,
    number: Regex,
    word: Regex,
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
    fn skeleton(&self, text: &str) -> String {
        let mut s = text.to_owned();
        if s.contains('`') {
            s = replace_code_blocks(&s);
            s = replace(&self.inline_code, s, " <code> ");
        }
        if s.contains('"') || s.contains('\'') {
            s = replace(&self.quoted, s, " <q> ");
        }
        if s.contains("http") || s.contains("www.") {
            s = replace(&self.url, s, " <url> ");
        }
        s = replace(&self.ident, s, " <id> ");
        s = replace(&self.number, s, " <n> ");
        s = replace_names(&s);
        let lowered = s.to_ascii_lowercase();
        let mut out = String::with_capacity(lowered.len());
        for m in self.word.find_iter(lowered.as_bytes()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&lowered[m.start()..m.end()]);
        }
        out
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
            Some(fingerprint(self.skeleton(head).as_bytes())),
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
        Ok(Self {
            inline_code: get("inline_code")?,
            quoted: get("quoted")?,
            url: get("url")?,
            ident: get("ident")?,
            number: get("number")?,
            word: get("word")?,
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
