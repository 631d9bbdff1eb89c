//! The twin of the population model's River pipeline (`MinMaxScaler | HalfSpaceTrees`).
//!
//! River builds the trees (its own random draws, at its first `learn_one`); the
//! Python module then hands their structure and masses here (`scoring.PopulationModel`),
//! and from then on this forest scores and learns exactly as River's code does: the
//! running min and max, the scaled values, the masses along each path, the window swap
//! and the score's sum in the same order.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;

/// One node: a branch on `feature < threshold` (`feature` None: a leaf).
struct Node {
    feature: Option<usize>,
    threshold: f64,
    children: [usize; 2],
    l_mass: i64,
    r_mass: i64,
}

/// A node as the Python module exports it: (feature index or -1, threshold, left,
/// right, l_mass, r_mass), children by index in the tree's list.
type NodeIn = (i64, f64, usize, usize, i64, i64);

#[pyclass]
pub struct Forest {
    names: Vec<String>,
    min: Vec<f64>,
    max: Vec<f64>,
    trees: Vec<Vec<Node>>,
    height: usize,
    window_size: i64,
    counter: i64,
    first_window: bool,
    size_limit: f64,
    max_score: f64,
}

impl Forest {
    /// `x`'s values in the order of `names`; an error naming the feature otherwise.
    fn values(&self, x: &Bound<'_, PyDict>) -> PyResult<Vec<f64>> {
        if x.len() != self.names.len() {
            return Err(PyValueError::new_err(format!(
                "{} features where the forest was built on {}", x.len(), self.names.len())));
        }
        x.iter().zip(&self.names).map(|((k, v), name)| {
            if k.extract::<&str>()? != name {
                return Err(PyValueError::new_err(format!("feature {k} where {name} was")));
            }
            v.extract::<f64>()
        }).collect()
    }

    /// `MinMaxScaler.transform_one`.
    fn scaled(&self, values: &[f64]) -> Vec<f64> {
        values.iter().zip(self.min.iter().zip(&self.max)).map(|(&xi, (&lo, &hi))| {
            let d = hi - lo;
            if d != 0.0 { (xi - lo) / d } else { 0.0 }
        }).collect()
    }

    /// River's `c[0] if value < threshold else c[1]` (NaN goes right).
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn child(node: &Node, x: &[f64]) -> usize {
        let feature = node.feature.expect("a branch has a feature");
        node.children[usize::from(!(x[feature] < node.threshold))]
    }
}

#[pymethods]
impl Forest {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(names: Vec<String>, min: Vec<f64>, max: Vec<f64>, trees: Vec<Vec<NodeIn>>,
           height: usize, window_size: i64, counter: i64, first_window: bool) -> PyResult<Self> {
        let n = names.len();
        if min.len() != n || max.len() != n {
            return Err(PyValueError::new_err("min and max must have one value per feature"));
        }
        let trees = trees.into_iter().map(|nodes| {
            let count = nodes.len();
            nodes.into_iter().map(|(feature, threshold, left, right, l_mass, r_mass)| {
                let feature = usize::try_from(feature).ok();
                if feature.is_some_and(|f| f >= n || left >= count || right >= count) {
                    return Err(PyValueError::new_err("a node names no feature or child"));
                }
                Ok(Node { feature, threshold, children: [left, right], l_mass, r_mass })
            }).collect::<PyResult<Vec<Node>>>()
        }).collect::<PyResult<Vec<Vec<Node>>>>()?;
        let n_trees = trees.len() as f64;
        Ok(Self {
            names, min, max, trees, height, window_size, counter, first_window,
            size_limit: 0.1 * window_size as f64,
            max_score: n_trees * window_size as f64 * ((1i64 << (height + 1)) - 1) as f64,
        })
    }

    /// `Pipeline.score_one(x)`: the anomaly score, or the int 0 River gives before its
    /// first window is full.
    fn score(&self, py: Python<'_>, x: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let values = self.scaled(&self.values(x)?);
        if self.first_window {
            return 0i64.into_py_any(py);
        }
        let mut score = 0.0;
        for nodes in &self.trees {
            let mut walk = 0.0;
            let mut node = &nodes[0];
            let mut depth_pow: i64 = 1;
            let mut stopped = false;
            for _ in 0..self.height {
                let r = node.r_mass;
                walk += (r * depth_pow) as f64;
                if (r as f64) < self.size_limit {
                    stopped = true;
                    break;
                }
                node = &nodes[Self::child(node, &values)];
                depth_pow <<= 1;
            }
            if !stopped {
                walk += (node.r_mass * depth_pow) as f64;
            }
            score += walk;
        }
        (1.0 - score / self.max_score).into_py_any(py)
    }

    /// `Pipeline.learn_one(x)`: the scaler learns `x`, then the trees its scaled values.
    fn learn(&mut self, x: &Bound<'_, PyDict>) -> PyResult<()> {
        let raw = self.values(x)?;
        for (i, &xi) in raw.iter().enumerate() {
            if xi < self.min[i] {
                self.min[i] = xi;
            }
            if xi > self.max[i] {
                self.max[i] = xi;
            }
        }
        let values = self.scaled(&raw);
        let height = self.height;
        for nodes in &mut self.trees {
            let mut at = 0;
            for _ in 0..height {
                nodes[at].l_mass += 1;
                at = Self::child(&nodes[at], &values);
            }
            nodes[at].l_mass += 1;
        }
        self.counter += 1;
        if self.counter == self.window_size {
            for node in self.trees.iter_mut().flatten() {
                node.r_mass = node.l_mass;
                node.l_mass = 0;
            }
            self.first_window = false;
            self.counter = 0;
        }
        Ok(())
    }
}
