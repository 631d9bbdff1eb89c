//! The twin of `content.Embedder._pooled`: a prompt's token-embedding rows, summed.
//!
//! The words are split and their token ids memoised as in `Embedder._ids`; the
//! tokenizer itself stays in Python and is called back for a word not seen before.
//! The rows are summed in float32, element by element in token order from the first
//! row, as numpy's `take(...).sum(axis=0)` adds them, so the sums are the same bits.

use std::collections::HashMap;

use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The projected embedding table, with the tokenizer's ids of the words seen so far.
#[pyclass]
pub struct Pooler {
    table: Vec<f32>,
    dim: usize,
    encode: Py<PyAny>,
    words: HashMap<String, Vec<usize>>,
    cached_words: usize,
}

#[pymethods]
impl Pooler {
    /// `table`: the rows as little-endian float32 bytes, `dim` to a row; `encode(word)`
    /// gives a word's token ids; the memo starts afresh beyond `cached_words` words.
    #[new]
    fn new(table: &Bound<'_, PyBytes>, dim: usize, encode: Py<PyAny>, cached_words: usize)
           -> PyResult<Self> {
        let bytes = table.as_bytes();
        if dim == 0 || bytes.len() % (4 * dim) != 0 {
            return Err(PyValueError::new_err(format!(
                "table of {} bytes is not rows of {dim} float32 values", bytes.len())));
        }
        let table = bytes.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self { table, dim, encode, words: HashMap::new(), cached_words })
    }

    /// The sum of `text`'s token rows as little-endian float32 bytes; None for no tokens.
    fn pool<'py>(&mut self, py: Python<'py>, text: &Bound<'py, PyString>)
                 -> PyResult<Option<Bound<'py, PyBytes>>> {
        let text = text.to_str()?;
        if self.words.len() > self.cached_words {
            self.words.clear();
        }
        let rows = self.table.len() / self.dim;
        let mut sum: Option<Vec<f32>> = None;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            if !self.words.contains_key(word) {
                let ids: Vec<usize> = self.encode.call1(py, (word,))?.extract(py)?;
                self.words.insert(word.to_owned(), ids);
            }
            for &id in &self.words[word] {
                if id >= rows {
                    return Err(PyIndexError::new_err(format!(
                        "token id {id} is outside the table's {rows} rows")));
                }
                let row = &self.table[id * self.dim..(id + 1) * self.dim];
                match sum.as_mut() {
                    None => sum = Some(row.to_vec()),
                    Some(acc) => acc.iter_mut().zip(row).for_each(|(a, r)| *a += *r),
                }
            }
        }
        Ok(sum.map(|acc| {
            let bytes: Vec<u8> = acc.iter().flat_map(|x| x.to_le_bytes()).collect();
            PyBytes::new(py, &bytes)
        }))
    }
}
