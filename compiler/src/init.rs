//! Weight initializers with Keras' names, formulas and defaults, drawn from a seeded ChaCha stream so
//! that one spec and one seed give identical bytes on every run and platform.
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};

/// An initializer as Keras names it.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    Zeros,
    Ones,
    Constant {
        value: f32,
    },
    RandomUniform {
        minval: f32,
        maxval: f32,
    },
    RandomNormal {
        mean: f32,
        stddev: f32,
    },
    /// Normal, redrawn beyond two standard deviations.
    TruncatedNormal {
        mean: f32,
        stddev: f32,
    },
    GlorotUniform,
    GlorotNormal,
    HeUniform,
    HeNormal,
    LecunUniform,
    LecunNormal,
    Orthogonal {
        gain: f32,
    },
}

/// Every name a spec may use, for messages.
pub const INIT_NAMES: &[&str] = &[
    "zeros",
    "ones",
    "constant",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
];

impl Init {
    /// The initializer for a bare name, with Keras' default arguments.
    pub fn by_name(name: &str) -> Option<Init> {
        Some(match name {
            "zeros" => Init::Zeros,
            "ones" => Init::Ones,
            "constant" => Init::Constant { value: 0.0 },
            // Keras' `"uniform"` and `"normal"` aliases: the embedding layer's default is `"uniform"`.
            "random_uniform" | "uniform" => Init::RandomUniform { minval: -0.05, maxval: 0.05 },
            "random_normal" | "normal" => Init::RandomNormal { mean: 0.0, stddev: 0.05 },
            "truncated_normal" => Init::TruncatedNormal { mean: 0.0, stddev: 0.05 },
            "glorot_uniform" | "xavier_uniform" => Init::GlorotUniform,
            "glorot_normal" | "xavier_normal" => Init::GlorotNormal,
            "he_uniform" => Init::HeUniform,
            "he_normal" => Init::HeNormal,
            "lecun_uniform" => Init::LecunUniform,
            "lecun_normal" => Init::LecunNormal,
            "orthogonal" => Init::Orthogonal { gain: 1.0 },
            _ => return None,
        })
    }
}

/// Keras' `compute_fans` for a weight in Keras layout: (in, out) for dense kernels,
/// (kernel..., in, out) for convolutions.
pub fn fans(shape: &[usize]) -> (f64, f64) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f64, *n as f64),
        [fan_in, fan_out] => (*fan_in as f64, *fan_out as f64),
        _ => {
            let receptive: usize = shape[..shape.len() - 2].iter().product();
            let n = shape.len();
            ((shape[n - 2] * receptive) as f64, (shape[n - 1] * receptive) as f64)
        }
    }
}

/// A stable 64-bit mix of the model seed and a parameter name (FNV-1a, then SplitMix64), so each
/// parameter has its own stream and adding a layer does not reshuffle the others.
pub fn param_seed(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The standard deviation of a unit normal truncated at ±2, by which Keras divides so that the
/// truncated draw has the intended spread.
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

/// Draws a tensor in Keras layout (`shape`), row-major.
pub fn generate(init: &Init, shape: &[usize], seed: u64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (fan_in, fan_out) = fans(shape);
    // An empty or reversed range cannot come from a checked spec; it yields `lo` rather than a panic.
    let uniform = |rng: &mut ChaCha8Rng, lo: f64, hi: f64| -> Vec<f32> {
        match Uniform::new(lo, hi) {
            Ok(u) => (0..n).map(|_| u.sample(rng) as f32).collect(),
            Err(_) => vec![lo as f32; n],
        }
    };
    let symmetric = |rng: &mut ChaCha8Rng, limit: f64| uniform(rng, -limit, limit);
    let truncated = |rng: &mut ChaCha8Rng, mean: f64, std: f64| -> Vec<f32> {
        (0..n)
            .map(|_| {
                loop {
                    let z: f64 = StandardNormal.sample(rng);
                    if z.abs() <= 2.0 {
                        break (mean + std * z) as f32;
                    }
                }
            })
            .collect()
    };
    match *init {
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
        Init::Constant { value } => vec![value; n],
        Init::RandomUniform { minval, maxval } => uniform(&mut rng, minval as f64, maxval as f64),
        Init::RandomNormal { mean, stddev } => {
            (0..n).map(|_| (mean as f64 + stddev as f64 * Distribution::<f64>::sample(&StandardNormal, &mut rng)) as f32).collect()
        }
        Init::TruncatedNormal { mean, stddev } => truncated(&mut rng, mean as f64, stddev as f64),
        Init::GlorotUniform => symmetric(&mut rng, (6.0 / (fan_in + fan_out)).sqrt()),
        Init::HeUniform => symmetric(&mut rng, (6.0 / fan_in).sqrt()),
        Init::LecunUniform => symmetric(&mut rng, (3.0 / fan_in).sqrt()),
        Init::GlorotNormal => truncated(&mut rng, 0.0, (2.0 / (fan_in + fan_out)).sqrt() / TRUNCATED_STD),
        Init::HeNormal => truncated(&mut rng, 0.0, (2.0 / fan_in).sqrt() / TRUNCATED_STD),
        Init::LecunNormal => truncated(&mut rng, 0.0, (1.0 / fan_in).sqrt() / TRUNCATED_STD),
        Init::Orthogonal { gain } => orthogonal(shape, gain, &mut rng),
    }
}

/// Keras' orthogonal: a normal matrix of (∏shape[..-1], shape[-1]) made orthogonal by QR with the
/// signs of R's diagonal folded into Q. Modified Gram–Schmidt in f64 gives exactly that Q (its R
/// has a positive diagonal), without pulling a linear-algebra crate in for one factorization.
fn orthogonal(shape: &[usize], gain: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let cols = shape.last().copied().unwrap_or(1);
    let rows: usize = shape[..shape.len().saturating_sub(1)].iter().product::<usize>().max(1);
    // Orthonormalize along the longer side: columns of a (long, short) matrix.
    let (long, short) = (rows.max(cols), rows.min(cols));
    let mut q: Vec<Vec<f64>> = (0..short).map(|_| (0..long).map(|_| StandardNormal.sample(rng)).collect()).collect();
    for j in 0..short {
        for k in 0..j {
            let dot: f64 = q[j].iter().zip(&q[k]).map(|(a, b)| a * b).sum();
            let qk = q[k].clone();
            q[j].iter_mut().zip(&qk).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = q[j].iter().map(|a| a * a).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        q[j].iter_mut().for_each(|a| *a /= norm);
    }
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            // q[j][i] is element i of column j of the (long, short) factor; transpose when rows < cols.
            let v = if rows >= cols { q[c][r] } else { q[r][c] };
            out[r * cols + c] = (gain as f64 * v) as f32;
        }
    }
    out
}
