//! Ordinary least squares and ridge regression in closed form, through a singular value
//! decomposition of the centred design (faer's thin SVD).
//!
//! With `Xc = U·diag(σ)·Vᵀ` and `yc` the centred target, the coefficients are
//! `w = V·diag(σᵢ / (σᵢ² + alpha))·Uᵀ·yc`, which is `V·diag(1/σᵢ)·Uᵀ·yc` when `alpha = 0`: the
//! minimum-norm least-squares solution (the pseudo-inverse), as numpy.linalg.lstsq and
//! scikit-learn's LinearRegression give, and Ridge's `solver="svd"` otherwise. Singular values at or
//! below `max(n, p)·ε·σ_max` (numpy's default `rcond`) are treated as zero, so collinear or
//! duplicated features share their weight instead of blowing up; the intercept is
//! `ȳ − x̄·w`, never penalized.
use faer::Mat;

use super::{Centred, SolveError};

/// Ridge's `alpha` for the spec's (Keras') `l2`: the Keras loss `(1/n)·RSS + l2·‖w‖²` is
/// `(1/n)·(RSS + n·l2·‖w‖²)`, which has the same minimizer as scikit-learn's Ridge objective
/// `RSS + alpha·‖w‖²` with `alpha = n·l2`.
pub fn ridge_alpha(n: usize, l2: f64) -> f64 {
    n as f64 * l2
}

/// Least squares (`l2 = 0`) or ridge regression with the spec's Keras factor `l2` (see
/// [`ridge_alpha`]): `x` is `n` rows of `p` features, row-major. Returns the coefficients and the
/// intercept.
pub fn lstsq(x: &[f64], n: usize, p: usize, y: &[f64], l2: f64) -> Result<(Vec<f64>, f64), SolveError> {
    if !(l2 >= 0.0 && l2.is_finite()) {
        return Err(SolveError::Parameter { parameter: "l2", message: format!("must be a finite number ≥ 0, got {l2}") });
    }
    lstsq_sklearn(x, n, p, y, ridge_alpha(n, l2))
}

/// scikit-learn's LinearRegression (`alpha = 0`) or Ridge(alpha): minimizes
/// `‖y − Xw − b‖² + alpha·‖w‖²` over `w` and the unpenalized intercept `b`.
pub fn lstsq_sklearn(x: &[f64], n: usize, p: usize, y: &[f64], alpha: f64) -> Result<(Vec<f64>, f64), SolveError> {
    if !(alpha >= 0.0 && alpha.is_finite()) {
        return Err(SolveError::Parameter { parameter: "alpha", message: format!("must be a finite number ≥ 0, got {alpha}") });
    }
    let c = Centred::new(x, n, p, y)?;
    let design = Mat::<f64>::from_fn(n, p, |i, j| c.x[j * n + i]);
    let svd = design.thin_svd().map_err(|_| SolveError::Svd)?;
    let (u, s, v) = (svd.U(), svd.S().column_vector(), svd.V());
    let k = n.min(p);
    let s_max = (0..k).map(|i| s[i]).fold(0.0, f64::max);
    let cutoff = n.max(p) as f64 * f64::EPSILON * s_max;
    let mut coef = vec![0.0; p];
    for i in (0..k).filter(|&i| s[i] > cutoff) {
        let uty: f64 = (0..n).map(|r| u[(r, i)] * c.y[r]).sum();
        let f = if alpha == 0.0 { uty / s[i] } else { s[i] / (s[i] * s[i] + alpha) * uty };
        coef.iter_mut().enumerate().for_each(|(j, w)| *w += v[(j, i)] * f);
    }
    let intercept = c.intercept(&coef);
    Ok((coef, intercept))
}
