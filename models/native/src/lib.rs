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

use std::collections::HashMap;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use regex::bytes::{Regex, RegexBuilder};

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

/// `events.prompt_header`: the fixed opening of a long prompt.
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
            None if bytes.last() == Some(&b'\n') && s.len() - 1 >= open + 3 => s.len() - 1,
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
}

fn ascii<'a>(text: Option<&'a Bound<'_, PyString>>) -> Result<Option<&'a str>, ()> {
    match text {
        None => Ok(None),
        Some(t) => match t.to_str() {
            Ok(s) if s.is_ascii() => Ok(Some(s)),
            _ => Err(()),
        },
    }
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
            RegexBuilder::new(src).unicode(!src.is_ascii()).build().map_err(|e| PyValueError::new_err(format!("pattern {name}: {e}")))
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
        let (Ok(prompt), Ok(system)) = (ascii(prompt), ascii(system)) else {
            return None;
        };
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

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextSignals>()?;
    Ok(())
}
