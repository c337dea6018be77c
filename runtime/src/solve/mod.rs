//! Exact solvers for linear models (one linear `dense` layer trained with mse): the closed-form
//! least-squares / ridge fit ([`lstsq`]) and coordinate descent for Lasso and Elastic Net
//! ([`coordinate_descent`]). Both fit the intercept separately, on centred data, and never penalize
//! it, as scikit-learn does.
//!
//! Data is `x`, `n` rows of `p` features, row-major, and `y`, `n` targets, all f64.
//!
//! Each solver has two entry points: one that takes the spec's regularizer factors with Keras'
//! meaning (penalty `l1·Σ|w| + l2·Σw²` added to the loss `(1/n)·RSS`), and one that takes
//! scikit-learn's parameters; the first maps its factors and calls the second. The mappings are
//! written down beside each.
mod cd;
mod lstsq;

pub use cd::{DEFAULT_MAX_ITER, DEFAULT_TOL, coordinate_descent, coordinate_descent_sklearn, elastic_net_params};
pub use lstsq::{lstsq, lstsq_sklearn, ridge_alpha};

#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// The data does not have the sizes given.
    #[error("{0}")]
    Shape(String),
    /// A parameter outside its domain: its name and why.
    #[error("`{parameter}` {message}")]
    Parameter { parameter: &'static str, message: String },
    #[error("a value of `{0}` is not finite")]
    NotFinite(&'static str),
    #[error("the singular value decomposition did not converge")]
    Svd,
    #[error("coordinate descent did not converge in {iterations} sweeps (the last moved a coefficient by {change:e}, relative)")]
    NotConverged { iterations: usize, change: f64 },
}

/// The data centred: columns of `x` minus their means (stored column by column), `y` minus its mean.
pub(crate) struct Centred {
    pub n: usize,
    /// Column-major: column `j` is `x[j * n..(j + 1) * n]`.
    pub x: Vec<f64>,
    pub x_mean: Vec<f64>,
    pub y: Vec<f64>,
    pub y_mean: f64,
}

impl Centred {
    pub fn new(x: &[f64], n: usize, p: usize, y: &[f64]) -> Result<Centred, SolveError> {
        if n == 0 || p == 0 {
            return Err(SolveError::Shape(format!("need at least one row and one feature, got {n} rows of {p}")));
        }
        if x.len() != n * p {
            return Err(SolveError::Shape(format!("x has {} values, but {n} rows of {p} features make {}", x.len(), n * p)));
        }
        if y.len() != n {
            return Err(SolveError::Shape(format!("y has {} values for {n} rows", y.len())));
        }
        if !x.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NotFinite("x"));
        }
        if !y.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NotFinite("y"));
        }
        let mut x_mean = vec![0.0; p];
        for row in x.chunks_exact(p) {
            x_mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        x_mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut xc = vec![0.0; n * p];
        for (i, row) in x.chunks_exact(p).enumerate() {
            for (j, v) in row.iter().enumerate() {
                xc[j * n + i] = v - x_mean[j];
            }
        }
        let y_mean = y.iter().sum::<f64>() / n as f64;
        Ok(Centred { n, x: xc, x_mean, y: y.iter().map(|v| v - y_mean).collect(), y_mean })
    }

    pub fn column(&self, j: usize) -> &[f64] {
        &self.x[j * self.n..(j + 1) * self.n]
    }

    /// The intercept that goes with `coef` fitted on the centred data.
    pub fn intercept(&self, coef: &[f64]) -> f64 {
        self.y_mean - self.x_mean.iter().zip(coef).map(|(m, w)| m * w).sum::<f64>()
    }
}

/// `x·coef + intercept` for each row.
pub fn predict(x: &[f64], p: usize, coef: &[f64], intercept: f64) -> Vec<f64> {
    x.chunks_exact(p.max(1)).map(|row| intercept + row.iter().zip(coef).map(|(v, w)| v * w).sum::<f64>()).collect()
}

/// Mean squared error of a fit, `(1/n)·RSS`.
pub fn mse(x: &[f64], p: usize, y: &[f64], coef: &[f64], intercept: f64) -> f64 {
    crate::metrics::mse(&predict(x, p, coef, intercept), y)
}

/// The coefficient of determination of a fit (`metrics::r2`).
pub fn r2(x: &[f64], p: usize, y: &[f64], coef: &[f64], intercept: f64) -> f64 {
    crate::metrics::r2(&predict(x, p, coef, intercept), y)
}
