//! Weight initializers checked against Keras' formulas: the spread of large draws, the truncation
//! bound of the normal family, the limits of the uniform family, orthogonality, and seeded
//! determinism down to the bytes of a compiled model.
use std::path::Path;

use onyx_compiler::init::{Init, fans, generate, param_seed};

/// The standard deviation of a unit normal truncated at ±2 (Keras divides by it).
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

const DENSE: [usize; 2] = [400, 300];
const CONV: [usize; 4] = [3, 3, 64, 128];

fn mean(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64
}

fn std(x: &[f32]) -> f64 {
    let m = mean(x);
    (x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

fn max_abs(x: &[f32]) -> f64 {
    x.iter().map(|v| v.abs() as f64).fold(0.0, f64::max)
}

fn assert_close(what: &str, got: f64, want: f64, rel: f64) {
    assert!((got - want).abs() <= rel * want.abs(), "{what}: got {got}, want {want} (±{}%)", rel * 100.0);
}

/// The mean of n draws with spread `sd` sits within five standard errors of `want`.
fn assert_mean(what: &str, x: &[f32], want: f64, sd: f64) {
    let m = mean(x);
    let tol = 5.0 * sd / (x.len() as f64).sqrt();
    assert!((m - want).abs() <= tol, "{what}: mean {m}, want {want} ± {tol}");
}

/// Keras' truncated-normal family: sample std is the target, nothing beyond 2 pre-scaling stds.
fn check_truncated_family(init: Init, target_std: impl Fn(f64, f64) -> f64) {
    for (i, shape) in [&DENSE[..], &CONV[..]].into_iter().enumerate() {
        let (fan_in, fan_out) = fans(shape);
        let want = target_std(fan_in, fan_out);
        let x = generate(&init, shape, 1000 + i as u64);
        assert_eq!(x.len(), shape.iter().product::<usize>());
        assert_close(&format!("{init:?} std on {shape:?}"), std(&x), want, 0.03);
        assert_mean(&format!("{init:?} on {shape:?}"), &x, 0.0, want);
        let bound = 2.0 * want / TRUNCATED_STD;
        let m = max_abs(&x);
        assert!(m <= bound * (1.0 + 1e-6), "{init:?} on {shape:?}: |x| reaches {m}, beyond the truncation at {bound}");
        // Without truncation, a draw this large would pass 2σ hundreds of times; with it the extreme
        // comes close to the bound.
        assert!(m >= 0.95 * bound, "{init:?} on {shape:?}: max |x| {m} is far inside the truncation at {bound}");
    }
}

/// Keras' uniform family: U(-limit, limit).
fn check_uniform_family(init: Init, limit: impl Fn(f64, f64) -> f64) {
    for (i, shape) in [&DENSE[..], &CONV[..]].into_iter().enumerate() {
        let (fan_in, fan_out) = fans(shape);
        let limit = limit(fan_in, fan_out);
        let x = generate(&init, shape, 2000 + i as u64);
        assert_eq!(x.len(), shape.iter().product::<usize>());
        let m = max_abs(&x);
        assert!(m <= limit, "{init:?} on {shape:?}: |x| reaches {m}, beyond the limit {limit}");
        assert!(m >= 0.98 * limit, "{init:?} on {shape:?}: max |x| {m} never nears the limit {limit}");
        assert_close(&format!("{init:?} std on {shape:?}"), std(&x), limit / 3f64.sqrt(), 0.03);
        assert_mean(&format!("{init:?} on {shape:?}"), &x, 0.0, limit / 3f64.sqrt());
        // Both signs, both halves: a U(0, limit) draw would pass the checks above but not this.
        let negative = x.iter().filter(|&&v| v < 0.0).count() as f64 / x.len() as f64;
        assert!((negative - 0.5).abs() < 0.01, "{init:?}: {negative} of the draws are negative");
    }
}

#[test]
fn fans_follow_keras_compute_fans() {
    assert_eq!(fans(&[400, 300]), (400.0, 300.0));
    // Convolutions: receptive field times input / output channels.
    assert_eq!(fans(&[3, 3, 64, 128]), (576.0, 1152.0));
    assert_eq!(fans(&[5, 4, 8]), (20.0, 40.0));
    assert_eq!(fans(&[7]), (7.0, 7.0));
    assert_eq!(fans(&[]), (1.0, 1.0));
}

#[test]
fn he_normal_has_std_sqrt_2_over_fan_in() {
    check_truncated_family(Init::HeNormal, |fan_in, _| (2.0 / fan_in).sqrt());
}

#[test]
fn glorot_normal_has_std_sqrt_2_over_fan_sum() {
    check_truncated_family(Init::GlorotNormal, |fan_in, fan_out| (2.0 / (fan_in + fan_out)).sqrt());
}

#[test]
fn lecun_normal_has_std_sqrt_1_over_fan_in() {
    check_truncated_family(Init::LecunNormal, |fan_in, _| (1.0 / fan_in).sqrt());
}

#[test]
fn he_uniform_has_limit_sqrt_6_over_fan_in() {
    check_uniform_family(Init::HeUniform, |fan_in, _| (6.0 / fan_in).sqrt());
}

#[test]
fn glorot_uniform_has_limit_sqrt_6_over_fan_sum() {
    check_uniform_family(Init::GlorotUniform, |fan_in, fan_out| (6.0 / (fan_in + fan_out)).sqrt());
}

#[test]
fn lecun_uniform_has_limit_sqrt_3_over_fan_in() {
    check_uniform_family(Init::LecunUniform, |fan_in, _| (3.0 / fan_in).sqrt());
}

#[test]
fn random_normal_has_the_given_mean_and_std() {
    let x = generate(&Init::RandomNormal { mean: 0.5, stddev: 0.2 }, &DENSE, 7);
    assert_close("random_normal std", std(&x), 0.2, 0.03);
    assert_mean("random_normal", &x, 0.5, 0.2);
    // Not truncated: some draws lie beyond 3σ (about 0.27% of 120,000).
    let far = x.iter().filter(|&&v| (v as f64 - 0.5).abs() > 3.0 * 0.2).count();
    assert!(far > 100, "only {far} draws beyond 3σ: the normal looks truncated");
}

#[test]
fn random_normal_defaults_are_keras() {
    assert_eq!(Init::by_name("random_normal"), Some(Init::RandomNormal { mean: 0.0, stddev: 0.05 }));
    assert_eq!(Init::by_name("random_uniform"), Some(Init::RandomUniform { minval: -0.05, maxval: 0.05 }));
    assert_eq!(Init::by_name("truncated_normal"), Some(Init::TruncatedNormal { mean: 0.0, stddev: 0.05 }));
    assert_eq!(Init::by_name("orthogonal"), Some(Init::Orthogonal { gain: 1.0 }));
    assert_eq!(Init::by_name("no_such_init"), None);
}

#[test]
fn truncated_normal_stays_within_two_std() {
    let (m, s) = (-1.0, 0.3);
    let x = generate(&Init::TruncatedNormal { mean: m as f32, stddev: s as f32 }, &DENSE, 8);
    let (lo, hi) = (x.iter().fold(f32::MAX, |a, &b| a.min(b)) as f64, x.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64);
    assert!(lo >= m - 2.0 * s - 1e-6 && hi <= m + 2.0 * s + 1e-6, "range [{lo}, {hi}] leaves mean ± 2·std");
    assert!(lo <= m - 1.9 * s && hi >= m + 1.9 * s, "range [{lo}, {hi}] never nears mean ± 2·std");
    // Keras' TruncatedNormal does not rescale: the spread is that of a unit normal cut at ±2.
    assert_close("truncated_normal std", std(&x), s * TRUNCATED_STD, 0.03);
    assert_mean("truncated_normal", &x, m, s);
}

#[test]
fn random_uniform_stays_within_its_bounds() {
    let (lo, hi) = (-0.25f32, 0.75f32);
    let x = generate(&Init::RandomUniform { minval: lo, maxval: hi }, &DENSE, 9);
    let (min, max) = (x.iter().fold(f32::MAX, |a, &b| a.min(b)), x.iter().fold(f32::MIN, |a, &b| a.max(b)));
    assert!(min >= lo && max <= hi, "range [{min}, {max}] leaves [{lo}, {hi}]");
    assert!(min < lo + 0.01 && max > hi - 0.01, "range [{min}, {max}] does not fill [{lo}, {hi}]");
    let width = (hi - lo) as f64;
    assert_close("random_uniform std", std(&x), width / 12f64.sqrt(), 0.03);
    assert_mean("random_uniform", &x, 0.25, width / 12f64.sqrt());
}

#[test]
fn zeros_ones_and_constant_are_exact() {
    for shape in [&DENSE[..], &CONV[..], &[5][..]] {
        let n: usize = shape.iter().product();
        assert_eq!(generate(&Init::Zeros, shape, 1), vec![0.0; n]);
        assert_eq!(generate(&Init::Ones, shape, 1), vec![1.0; n]);
        assert_eq!(generate(&Init::Constant { value: -2.5 }, shape, 1), vec![-2.5; n]);
    }
}

/// The Gram matrix of the (∏shape[..-1], shape[-1]) matrix along its shorter side: W·Wᵀ when there
/// are no more rows than columns, WᵀW otherwise.
fn gram(w: &[f32], shape: &[usize]) -> (usize, Vec<f64>) {
    let cols = *shape.last().unwrap();
    let rows: usize = shape[..shape.len() - 1].iter().product();
    assert_eq!(w.len(), rows * cols);
    let at = |r: usize, c: usize| w[r * cols + c] as f64;
    let mut g;
    let n;
    if rows <= cols {
        n = rows;
        g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..cols).map(|c| at(i, c) * at(j, c)).sum();
            }
        }
    } else {
        n = cols;
        g = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                g[i * n + j] = (0..rows).map(|r| at(r, i) * at(r, j)).sum();
            }
        }
    }
    (n, g)
}

fn assert_scaled_identity(shape: &[usize], gain: f32, seed: u64) {
    let w = generate(&Init::Orthogonal { gain }, shape, seed);
    let (n, g) = gram(&w, shape);
    let want_diag = (gain as f64).powi(2);
    let mut worst: f64 = 0.0;
    for i in 0..n {
        for j in 0..n {
            let want = if i == j { want_diag } else { 0.0 };
            worst = worst.max((g[i * n + j] - want).abs());
        }
    }
    assert!(worst <= 1e-5 * want_diag.max(1.0), "orthogonal gain {gain} on {shape:?}: Gram matrix is off {gain}²·I by {worst}");
}

#[test]
fn orthogonal_is_orthonormal_along_the_shorter_side() {
    for (i, shape) in [&[50, 200][..], &[200, 50][..], &[64, 64][..], &[3, 3, 16, 32][..], &[2, 2, 4, 32][..]].into_iter().enumerate() {
        assert_scaled_identity(shape, 1.0, 30 + i as u64);
    }
}

#[test]
fn orthogonal_gain_scales_the_matrix() {
    assert_scaled_identity(&[50, 200], 2.0, 40);
    assert_scaled_identity(&[200, 50], 0.5, 41);
    // Same seed, different gain: exactly the same directions, scaled.
    let one = generate(&Init::Orthogonal { gain: 1.0 }, &[64, 64], 42);
    let three = generate(&Init::Orthogonal { gain: 3.0 }, &[64, 64], 42);
    for (a, b) in one.iter().zip(&three) {
        assert!((3.0 * a - b).abs() <= 1e-6, "gain 3 gives {b}, not 3·{a}");
    }
}

#[test]
fn orthogonal_is_not_a_fixed_matrix() {
    // An identity (or any fixed) matrix would pass the Gram check; the draw must come from the seed.
    let a = generate(&Init::Orthogonal { gain: 1.0 }, &[64, 64], 1);
    let b = generate(&Init::Orthogonal { gain: 1.0 }, &[64, 64], 2);
    assert_ne!(a, b);
    let off_diagonal = (0..64).flat_map(|r| (0..64).map(move |c| (r, c))).filter(|(r, c)| r != c && a[r * 64 + c].abs() > 1e-3).count();
    assert!(off_diagonal > 64 * 63 / 2, "only {off_diagonal} off-diagonal entries are not near zero");
}

#[test]
fn every_random_init_is_seeded() {
    let inits = [
        Init::RandomUniform { minval: -1.0, maxval: 1.0 },
        Init::RandomNormal { mean: 0.0, stddev: 1.0 },
        Init::TruncatedNormal { mean: 0.0, stddev: 1.0 },
        Init::GlorotUniform,
        Init::GlorotNormal,
        Init::HeUniform,
        Init::HeNormal,
        Init::LecunUniform,
        Init::LecunNormal,
        Init::Orthogonal { gain: 1.0 },
    ];
    for init in &inits {
        let bits = |seed| generate(init, &[30, 20], seed).iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        assert_eq!(bits(5), bits(5), "{init:?}: the same seed gives different values");
        let (a, b) = (bits(5), bits(6));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < a.len() / 10, "{init:?}: seeds 5 and 6 agree on {same} of {} values", a.len());
    }
}

#[test]
fn param_seed_separates_names_and_seeds() {
    let names = ["dense/kernel", "dense/bias", "dense_1/kernel", "conv2d/kernel", "lstm/recurrent_kernel", "", "a", "b"];
    let mut seen = std::collections::HashSet::new();
    for name in names {
        assert!(seen.insert(param_seed(42, name)), "param_seed(42, {name:?}) collides with another name");
    }
    for name in names {
        assert_eq!(param_seed(42, name), param_seed(42, name));
        assert_ne!(param_seed(42, name), param_seed(43, name), "{name:?}: the model seed does not change the stream");
    }
    // Two layers' kernels drawn from one model seed are different draws.
    let a = generate(&Init::GlorotUniform, &[10, 10], param_seed(0, "dense/kernel"));
    let b = generate(&Init::GlorotUniform, &[10, 10], param_seed(0, "dense_1/kernel"));
    assert_ne!(a, b);
}

// ── whole models ────────────────────────────────────────────────────────────────────────────────

const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/mnist_cnn.toml");

fn onnx_bytes(model: &onyx_compiler::Model) -> Vec<u8> {
    onyx_proto::encode_model(&onyx_compiler::to_onnx(&model.graph))
}

#[test]
fn compiling_a_spec_twice_gives_identical_bytes() {
    let a = onnx_bytes(&onyx_compiler::compile_file(Path::new(MNIST)).unwrap());
    let b = onnx_bytes(&onyx_compiler::compile_file(Path::new(MNIST)).unwrap());
    assert!(!a.is_empty());
    assert!(a == b, "two compiles of mnist_cnn.toml differ");
    // Parsing the same text again (not from the file) gives the same bytes too.
    let text = std::fs::read_to_string(MNIST).unwrap();
    let spec = onyx_compiler::Spec::parse(Path::new(MNIST), text).unwrap();
    assert!(onnx_bytes(&onyx_compiler::compile(&spec).unwrap()) == a);
}

fn initializers(model: &onyx_compiler::Model) -> Vec<(String, Vec<f32>)> {
    let proto = onyx_compiler::to_onnx(&model.graph);
    proto.graph.unwrap().initializer.iter().map(|t| (t.name.clone().unwrap(), onyx_proto::tensor_f32_values(t).unwrap())).collect()
}

#[test]
fn a_different_seed_gives_different_weights() {
    let text = std::fs::read_to_string(MNIST).unwrap();
    assert!(text.contains("seed = 42\n"));
    let compile = |text: String| onyx_compiler::compile(&onyx_compiler::Spec::parse(Path::new("mnist_cnn.toml"), text).unwrap()).unwrap();
    let a = compile(text.clone());
    let b = compile(text.replace("seed = 42\n", "seed = 43\n"));
    assert!(onnx_bytes(&a) != onnx_bytes(&b));
    // The difference is in the weights themselves, not just the seed recorded in the metadata: every
    // kernel changes, while the zero-initialized biases stay zero.
    let (wa, wb) = (initializers(&a), initializers(&b));
    assert_eq!(wa.len(), wb.len());
    let mut kernels = 0;
    for ((name, x), (name_b, y)) in wa.iter().zip(&wb) {
        assert_eq!(name, name_b);
        if name.ends_with("/kernel") {
            kernels += 1;
            let same = x.iter().zip(y).filter(|(p, q)| p == q).count();
            assert!(same < x.len() / 10, "{name}: {same} of {} values survive a change of seed", x.len());
        } else if name.ends_with("/bias") {
            assert!(x.iter().all(|&v| v == 0.0) && x == y, "{name}: zeros-initialized bias is not zero");
        }
    }
    assert_eq!(kernels, 4, "mnist_cnn has two conv and two dense kernels");
}

#[test]
fn a_spec_without_a_seed_still_compiles_deterministically() {
    let text = std::fs::read_to_string(MNIST).unwrap().replace("seed = 42\n", "");
    let compile = || onnx_bytes(&onyx_compiler::compile(&onyx_compiler::Spec::parse(Path::new("m.toml"), text.clone()).unwrap()).unwrap());
    assert!(compile() == compile());
}

#[test]
fn compiled_kernels_follow_their_initializer() {
    // mnist_cnn's first dense layer: glorot_uniform on (1600, 128), limit √(6/1728).
    let model = onyx_compiler::compile_file(Path::new(MNIST)).unwrap();
    let weights = initializers(&model);
    let (_, w) = weights.iter().find(|(n, _)| n == "dense/kernel").expect("dense/kernel");
    assert_eq!(w.len(), 1600 * 128);
    let limit = (6.0f64 / (1600.0 + 128.0)).sqrt();
    assert!(max_abs(w) <= limit && max_abs(w) >= 0.98 * limit);
    assert_close("dense/kernel std", std(w), limit / 3f64.sqrt(), 0.03);
}
