//! The exact linear solvers against scikit-learn's answers on the bundled data (values printed by
//! scikit-learn's LinearRegression, Ridge, Lasso and ElasticNet, `fit_intercept=True`).
use std::path::Path;

use onyx_runtime::data::read_table;
use onyx_runtime::solve::{self, DEFAULT_MAX_ITER, DEFAULT_TOL};

const DIABETES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/diabetes.csv");
const SEED_LINEAR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seed_linear.csv");

const DIABETES_INTERCEPT: f64 = 152.1334842;
const LINEAR_REGRESSION: [f64; 10] =
    [-10.0098663, -239.8156437, 519.8459201, 324.3846455, -792.1756386, 476.7390210, 101.0432679, 177.0632377, 751.2736996, 67.6266922];
const RIDGE_1: [f64; 10] =
    [29.4661119, -83.1542764, 306.3526802, 201.6277344, 5.9096144, -29.5154951, -152.0402801, 117.3117316, 262.9442900, 111.8789564];
const LASSO_0_1: [f64; 10] = [0.0, -155.3431106, 517.2162412, 275.0872229, -52.5520358, 0.0, -210.1395090, 0.0, 483.9171746, 33.6621921];
const ELASTIC_NET_0_01_HALF: [f64; 10] =
    [33.1495299, -35.2429726, 211.0274746, 144.5597680, 21.9307030, 0.0, -115.6192108, 100.6575680, 185.3251735, 96.2569866];

/// Features (every column but the last), row-major, and the last column, in f64.
fn load(path: &str) -> (Vec<f64>, usize, usize, Vec<f64>) {
    let table = read_table(Path::new(path)).expect("the bundled CSV reads");
    let (n, p) = (table.rows.len(), table.columns.len() - 1);
    let x = table.rows.iter().flat_map(|r| r[..p].iter().copied()).collect();
    let y = table.rows.iter().map(|r| r[p]).collect();
    (x, n, p, y)
}

/// The largest relative error of `got` against `want` (absolute where `want` is 0), after
/// checking it is within `tol`; zeros in `want` must be exact zeros in `got` when `exact_zeros`.
fn check(what: &str, got: &[f64], want: &[f64], tol: f64, exact_zeros: bool) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if exact_zeros && *w == 0.0 {
            assert_eq!(*g, 0.0, "{what}[{i}]: want exactly 0, got {g}");
            continue;
        }
        if exact_zeros {
            assert_ne!(*g, 0.0, "{what}[{i}]: want {w}, got exactly 0");
        }
        let err = if *w == 0.0 { g.abs() } else { ((g - w) / w).abs() };
        assert!(err <= tol, "{what}[{i}]: got {g}, want {w} (relative error {err:e} > {tol:e})\n  got  {got:?}\n  want {want:?}");
        worst = worst.max(err);
    }
    eprintln!("{what}: max relative error {worst:e}");
    worst
}

fn check_intercept(what: &str, got: f64, tol: f64) {
    check(&format!("{what} intercept"), &[got], &[DIABETES_INTERCEPT], tol, false);
}

#[test]
fn collinear_features_get_the_minimum_norm_solution() {
    // target = feature1 = feature2 − 4: every split of the weight between the two fits exactly;
    // the minimum-norm one halves it.
    let (x, n, p, y) = load(SEED_LINEAR);
    let (coef, intercept) = solve::lstsq(&x, n, p, &y, 0.0).unwrap();
    assert!((coef[0] - 0.5).abs() <= 1e-9 && (coef[1] - 0.5).abs() <= 1e-9, "coef {coef:?}");
    assert!((intercept + 2.0).abs() <= 1e-9, "intercept {intercept}");
}

#[test]
fn least_squares_matches_linear_regression() {
    let (x, n, p, y) = load(DIABETES);
    let (coef, intercept) = solve::lstsq(&x, n, p, &y, 0.0).unwrap();
    check("LinearRegression coef", &coef, &LINEAR_REGRESSION, 1e-6, false);
    check_intercept("LinearRegression", intercept, 1e-6);
    let r2 = solve::r2(&x, p, &y, &coef, intercept);
    assert!((r2 - 0.5177).abs() <= 1e-4, "R² {r2}");
    eprintln!("LinearRegression R² {r2}");
}

#[test]
fn ridge_matches_sklearn_and_the_spec_mapping() {
    let (x, n, p, y) = load(DIABETES);
    let (coef, intercept) = solve::lstsq_sklearn(&x, n, p, &y, 1.0).unwrap();
    check("Ridge(1.0) coef", &coef, &RIDGE_1, 1e-6, false);
    check_intercept("Ridge(1.0)", intercept, 1e-6);
    // Keras' l2 = alpha/n.
    let (coef, intercept) = solve::lstsq(&x, n, p, &y, 1.0 / n as f64).unwrap();
    check("l2 = 1/442 coef", &coef, &RIDGE_1, 1e-6, false);
    check_intercept("l2 = 1/442", intercept, 1e-6);
}

#[test]
fn lasso_matches_sklearn_with_the_same_zeros() {
    let (x, n, p, y) = load(DIABETES);
    let (coef, intercept, sweeps) = solve::coordinate_descent_sklearn(&x, n, p, &y, 0.1, 1.0, DEFAULT_TOL, DEFAULT_MAX_ITER).unwrap();
    eprintln!("Lasso(0.1): {sweeps} sweeps");
    check("Lasso(0.1) coef", &coef, &LASSO_0_1, 1e-4, true);
    check_intercept("Lasso(0.1)", intercept, 1e-4);
    // Keras' l1 = 2·alpha, l2 = 0.
    let (coef, intercept, _) = solve::coordinate_descent(&x, n, p, &y, 0.2, 0.0, DEFAULT_TOL, DEFAULT_MAX_ITER).unwrap();
    check("l1 = 0.2 coef", &coef, &LASSO_0_1, 1e-4, true);
    check_intercept("l1 = 0.2", intercept, 1e-4);
}

#[test]
fn elastic_net_matches_sklearn_with_the_same_zeros() {
    let (x, n, p, y) = load(DIABETES);
    let (coef, intercept, sweeps) = solve::coordinate_descent_sklearn(&x, n, p, &y, 0.01, 0.5, DEFAULT_TOL, DEFAULT_MAX_ITER).unwrap();
    eprintln!("ElasticNet(0.01, 0.5): {sweeps} sweeps");
    check("ElasticNet(0.01, 0.5) coef", &coef, &ELASTIC_NET_0_01_HALF, 1e-4, true);
    check_intercept("ElasticNet(0.01, 0.5)", intercept, 1e-4);
    // alpha·l1_ratio = l1/2 = 0.005, alpha·(1 − l1_ratio) = l2 = 0.005.
    let (coef, intercept, _) = solve::coordinate_descent(&x, n, p, &y, 0.01, 0.005, DEFAULT_TOL, DEFAULT_MAX_ITER).unwrap();
    check("l1 = 0.01, l2 = 0.005 coef", &coef, &ELASTIC_NET_0_01_HALF, 1e-4, true);
    check_intercept("l1 = 0.01, l2 = 0.005", intercept, 1e-4);
}

#[test]
fn coordinate_descent_without_penalty_is_least_squares() {
    let (x, n, p, y) = load(DIABETES);
    let (coef, intercept, _) = solve::coordinate_descent(&x, n, p, &y, 0.0, 0.0, DEFAULT_TOL, DEFAULT_MAX_ITER).unwrap();
    check("cd, no penalty, coef", &coef, &LINEAR_REGRESSION, 1e-6, false);
    check_intercept("cd, no penalty", intercept, 1e-6);
}

#[test]
fn bad_sizes_and_parameters_are_errors() {
    let x = [1.0, 2.0, 3.0];
    assert!(matches!(solve::lstsq(&x, 2, 2, &[1.0, 2.0], 0.0), Err(solve::SolveError::Shape(_))));
    assert!(matches!(solve::lstsq(&x, 3, 1, &[1.0, 2.0], 0.0), Err(solve::SolveError::Shape(_))));
    assert!(matches!(solve::lstsq(&x, 3, 1, &[1.0, 2.0, 3.0], -1.0), Err(solve::SolveError::Parameter { parameter: "l2", .. })));
    assert!(matches!(solve::lstsq(&[1.0, f64::NAN, 3.0], 3, 1, &[1.0, 2.0, 3.0], 0.0), Err(solve::SolveError::NotFinite("x"))));
    assert!(matches!(
        solve::coordinate_descent_sklearn(&x, 3, 1, &[1.0, 2.0, 3.0], 0.1, 1.5, 1e-12, 10),
        Err(solve::SolveError::Parameter { parameter: "l1_ratio", .. })
    ));
}
