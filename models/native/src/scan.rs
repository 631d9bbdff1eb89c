//! The template skeleton's rewrites (`text_signals.template_skeleton`) on ASCII bytes.
//!
//! A skeleton is a chain of substitutions on a short text, so the cost is in the
//! passes, not in any one search: each pass writes into a buffer the chain reuses,
//! and the simplest rules have hand-written scanners instead of a regex search per
//! match. A scanner is used only when the Python module hands over exactly the pattern
//! it was written for (see `Rule::new`): the Python pattern stays the reference, and
//! `tests/models/test_native_parity.py` checks each scanner against it and against
//! the regex crate.

use std::sync::LazyLock;

use memchr::memmem::Finder;
use regex::bytes::Regex;

/// The substrings searched for in every skeleton, each searcher built once.
pub(crate) static HTTP: LazyLock<Finder> = LazyLock::new(|| Finder::new("http"));
pub(crate) static WWW: LazyLock<Finder> = LazyLock::new(|| Finder::new("www."));
static FENCE: LazyLock<Finder> = LazyLock::new(|| Finder::new("```"));

/// Python's `\w` on ASCII.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The end of the run of bytes from `at` that `class` takes.
fn run(hay: &[u8], mut at: usize, class: impl Fn(u8) -> bool) -> usize {
    while at < hay.len() && class(hay[at]) {
        at += 1;
    }
    at
}

/// The next match in `hay` at or after `from` as (start, end), never empty, with
/// leftmost-first semantics: look-arounds see the whole haystack, as in `find_iter`.
type Scanner = fn(&[u8], usize) -> Option<(usize, usize)>;

/// The pattern `scan_number` implements: `text_signals._NUMBER`.
const NUMBER: &str = r"[-+]?\d+(?:[.,:/]\d+)*";

/// A hand-written `_NUMBER` (see `NUMBER`): an optional sign before digits, then each
/// separator that has digits after it. Nothing follows the greedy repeats, so the
/// longest such run is the match.
fn scan_number(hay: &[u8], from: usize) -> Option<(usize, usize)> {
    let digit = |i: usize| hay.get(i).is_some_and(u8::is_ascii_digit);
    let start =
        (from..hay.len()).find(|&i| digit(i) || (matches!(hay[i], b'-' | b'+') && digit(i + 1)))?;
    let mut end = run(hay, start + 1, |b| b.is_ascii_digit());
    while matches!(hay.get(end), Some(b'.' | b',' | b':' | b'/')) && digit(end + 1) {
        end = run(hay, end + 1, |b| b.is_ascii_digit());
    }
    Some((start, end))
}

/// The pattern `scan_word` implements: `text_signals._WORD`.
const WORD: &str = r"<\w+>|[a-z]+";

/// A hand-written `_WORD` (see `WORD`): a placeholder such as `<n>`, else a run of
/// lower-case letters; a `<` that opens no placeholder is skipped.
fn scan_word(hay: &[u8], from: usize) -> Option<(usize, usize)> {
    for i in from..hay.len() {
        if hay[i].is_ascii_lowercase() {
            return Some((i, run(hay, i + 1, |b| b.is_ascii_lowercase())));
        }
        if hay[i] == b'<' {
            let end = run(hay, i + 1, is_word);
            if end > i + 1 && hay.get(end) == Some(&b'>') {
                return Some((i, end + 1));
            }
        }
    }
    None
}

/// The pattern `scan_ident` implements: `text_signals._IDENT` as the crate takes it
/// (greedy repeats for its possessive ones).
const IDENT: &str = r"\b(?:[A-Za-z_]\w*_\w+|[a-z]+[A-Z]\w*|\w+(?:\.\w+)+|[A-Za-z_]\w*\(\))";

/// A hand-written `_IDENT` (see `IDENT`). Every branch starts with a word character, so
/// `\b` lets a match start only where a run of them starts; there the branches are tried
/// in order, as the regex tries them. With the run `start..end`, each matches when:
/// - snake: it opens with a letter or `_` and has a `_` after its first byte and before
///   its last; the match ends with the run;
/// - camel: it opens with lower-case letters, then a capital; it ends with the run;
/// - dotted: it is followed by a `.` and a word character; it ends after the last such
///   `.` and the run after it;
/// - call: it opens with a letter or `_` and is followed by `()`; it ends after them.
///
/// Backtracking changes none of this: snake's `\w*` gives bytes back only to reach a `_`,
/// and anywhere else a shorter repeat leaves a word character where the next item needs a
/// capital, a `.` or a `(`.
fn scan_ident(hay: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut start = from;
    loop {
        start += hay[start..].iter().position(|&b| is_word(b))?;
        // the run, its lower-case opening first: a word of lower-case letters only (most
        // are) is neither snake nor camel case
        let lower = run(hay, start, |b| b.is_ascii_lowercase());
        let end = run(hay, lower, is_word);
        if start > 0 && is_word(hay[start - 1]) {
            start = end; // inside a run: no boundary
            continue;
        }
        let first_letter = hay[start].is_ascii_alphabetic() || hay[start] == b'_';
        if lower < end {
            // [A-Za-z_]\w*_\w+
            let snake = first_letter && (start + 1..end - 1).any(|i| hay[i] == b'_');
            // [a-z]+[A-Z]\w*
            let camel = lower > start && hay[lower].is_ascii_uppercase();
            if snake || camel {
                return Some((start, end));
            }
        }
        // \w+(?:\.\w+)+
        let mut dotted = end;
        while hay.get(dotted) == Some(&b'.') && hay.get(dotted + 1).is_some_and(|&b| is_word(b)) {
            dotted = run(hay, dotted + 1, is_word);
        }
        if dotted > end {
            return Some((start, dotted));
        }
        // [A-Za-z_]\w*\(\)
        if first_letter && hay[end..].starts_with(b"()") {
            return Some((start, end + 2));
        }
        start = end;
    }
}

/// One of the Python module's rules: its pattern compiled, or a hand-written scanner.
pub(crate) enum Rule {
    Regex(Regex),
    Scanner(Scanner),
}

impl Rule {
    /// The scanner written for `re`'s pattern if there is one, else the regex: a changed
    /// pattern in the Python module takes the regex until its scanner is changed too.
    pub(crate) fn new(re: Regex) -> Self {
        let scanner: Option<Scanner> = match re.as_str() {
            NUMBER => Some(scan_number),
            WORD => Some(scan_word),
            IDENT => Some(scan_ident),
            _ => None,
        };
        scanner.map_or(Rule::Regex(re), Rule::Scanner)
    }

    pub(crate) fn engine(&self) -> &'static str {
        match self {
            Rule::Regex(_) => "regex",
            Rule::Scanner(_) => "scanner",
        }
    }

    /// Each match in `hay` as (start, end), left to right as `find_iter` gives them.
    fn each(&self, hay: &[u8], mut found: impl FnMut(usize, usize)) {
        match self {
            Rule::Regex(re) => re.find_iter(hay).for_each(|m| found(m.start(), m.end())),
            Rule::Scanner(scan) => {
                let mut at = 0;
                while let Some((start, end)) = scan(hay, at) {
                    found(start, end);
                    at = end;
                }
            }
        }
    }

    /// `pattern.sub(with, hay)`, written to `out`.
    pub(crate) fn substitute(&self, hay: &[u8], with: &[u8], out: &mut Vec<u8>) {
        let mut at = 0;
        self.each(hay, |start, end| {
            out.extend_from_slice(&hay[at..start]);
            out.extend_from_slice(with);
            at = end;
        });
        out.extend_from_slice(&hay[at..]);
    }

    /// `" ".join(pattern.findall(hay))`, written to `out`.
    pub(crate) fn join(&self, hay: &[u8], out: &mut Vec<u8>) {
        self.each(hay, |start, end| {
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(&hay[start..end]);
        });
    }
}

/// A text rewritten by a chain of passes: each pass writes into the spare buffer and the
/// two swap, so the chain allocates only while the buffers grow.
pub(crate) struct Rewrite {
    pub(crate) text: Vec<u8>,
    spare: Vec<u8>,
}

impl Rewrite {
    pub(crate) fn new(text: &[u8]) -> Self {
        // room for a few placeholders longer than what they replace
        let mut buf = Vec::with_capacity(2 * text.len() + 16);
        buf.extend_from_slice(text);
        Self {
            text: buf,
            spare: Vec::with_capacity(2 * text.len() + 16),
        }
    }

    pub(crate) fn pass(&mut self, rewrite: impl FnOnce(&[u8], &mut Vec<u8>)) {
        self.spare.clear();
        rewrite(&self.text, &mut self.spare);
        std::mem::swap(&mut self.text, &mut self.spare);
    }
}

/// `_CODE_BLOCK.sub(" <code> ", s)` for `(?s)```.*?(```|$)`: to the next fence, or to the
/// end (before a final newline, where Python's `$` matches first).
pub(crate) fn replace_code_blocks(s: &[u8], out: &mut Vec<u8>) {
    let mut at = 0;
    while let Some(open) = FENCE.find(&s[at..]).map(|i| i + at) {
        out.extend_from_slice(&s[at..open]);
        out.extend_from_slice(b" <code> ");
        at = match FENCE.find(&s[open + 3..]) {
            Some(i) => open + 3 + i + 3,
            None if s.last() == Some(&b'\n') && s.len() > open + 3 => s.len() - 1,
            None => s.len(),
        };
    }
    out.extend_from_slice(&s[at..]);
}

/// `_NAME.sub(" <name> ", s)` for `(?<=[a-z,;:] )[A-Z][a-z]+`, a look-behind the regex
/// crate lacks: a capitalised word after a space that follows a lower-case letter or
/// a clause mark.
pub(crate) fn replace_names(b: &[u8], out: &mut Vec<u8>) {
    let (mut at, mut i) = (0, 2);
    while i + 1 < b.len() {
        if b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_lowercase()
            && b[i - 1] == b' '
            && matches!(b[i - 2], b'a'..=b'z' | b',' | b';' | b':')
        {
            let end = run(b, i + 2, |c| c.is_ascii_lowercase());
            out.extend_from_slice(&b[at..i]);
            out.extend_from_slice(b" <name> ");
            at = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&b[at..]);
}
