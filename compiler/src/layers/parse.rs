//! Reading a layer's fields into typed values, with Keras' defaults and errors that name the field.
use super::LayerError;
use crate::init::{INIT_NAMES, Init};
use crate::ir::Regularizer;
use crate::spec::raw::{IntOrList, RawInit, RawRegularizer};

pub fn required<T: Clone>(value: &Option<T>, field: &'static str) -> Result<T, LayerError> {
    value.clone().ok_or_else(|| LayerError::field(field, "is required"))
}

/// The largest size a spec may give (units, filters, kernels, strides, input dimensions): bounding
/// each keeps every product of them within what checked arithmetic and memory can hold.
pub const MAX_SIZE: u64 = 1 << 20;

pub fn positive(value: u64, field: &'static str) -> Result<usize, LayerError> {
    if value == 0 {
        return Err(LayerError::field(field, "must be at least 1"));
    }
    if value > MAX_SIZE {
        return Err(LayerError::field(field, format!("{value} is beyond onyx's bound on a spec's sizes, {MAX_SIZE}")));
    }
    usize::try_from(value).map_err(|_| LayerError::field(field, "is too large"))
}

/// One value per spatial axis: a single integer applies to every axis.
pub fn per_axis(value: &Option<IntOrList>, default: Option<Vec<usize>>, rank: usize, field: &'static str) -> Result<Vec<usize>, LayerError> {
    let values = match value {
        None => return default.ok_or_else(|| LayerError::field(field, "is required")),
        Some(IntOrList::One(v)) => vec![*v; rank],
        Some(IntOrList::Many(v)) => v.clone(),
    };
    if values.len() != rank {
        return Err(LayerError::field(field, format!("needs {rank} values, one per spatial axis, got {}", values.len())));
    }
    values.into_iter().map(|v| positive(v, field)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Valid,
    Same,
}

pub fn padding(value: &Option<String>) -> Result<Padding, LayerError> {
    match value.as_deref() {
        None | Some("valid") => Ok(Padding::Valid),
        Some("same") => Ok(Padding::Same),
        Some(other) => Err(LayerError::field("padding", format!("`{other}` is not one of: valid, same"))),
    }
}

/// Keras' padding: `valid` pads nothing; `same` pads so the output is ⌈input/stride⌉, the odd cell at
/// the end (TensorFlow's convention). Returns ONNX's `pads` (every axis' begin, then every end), or
/// says why a window cannot fit.
pub fn pads(padding: Padding, input: &[usize], kernel: &[usize], stride: &[usize], dilation: &[usize]) -> Result<Vec<usize>, String> {
    let (mut begins, mut ends) = (vec![], vec![]);
    for i in 0..input.len() {
        let span = dilation[i] * (kernel[i] - 1) + 1;
        match padding {
            Padding::Valid => {
                if span > input[i] {
                    let window = kernel.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
                    let map = input.iter().map(usize::to_string).collect::<Vec<_>>().join("x");
                    let dil = if dilation.iter().any(|&d| d > 1) { format!(" (dilated to span {span})") } else { String::new() };
                    return Err(format!("a {window} window{dil} does not fit the {map} input with padding `valid`"));
                }
                begins.push(0);
                ends.push(0);
            }
            Padding::Same => {
                let output = input[i].div_ceil(stride[i]);
                let total = ((output - 1) * stride[i] + span).saturating_sub(input[i]);
                begins.push(total / 2);
                ends.push(total - total / 2);
            }
        }
    }
    begins.extend(ends);
    Ok(begins)
}

pub fn init(value: &Option<RawInit>, default: &str, field: &'static str) -> Result<Init, LayerError> {
    let unknown = |name: &str| LayerError::field(field, format!("unknown initializer `{name}`; expected one of: {}", INIT_NAMES.join(", ")));
    let table = match value {
        None => return Init::by_name(default).ok_or_else(|| unknown(default)),
        Some(RawInit::Name(name)) => return Init::by_name(name).ok_or_else(|| unknown(name)),
        Some(RawInit::Table(t)) => t,
    };
    let get = |v: Option<f64>, d: f32| v.map_or(d, |v| v as f32);
    let init = match Init::by_name(&table.kind).ok_or_else(|| unknown(&table.kind))? {
        Init::Constant { value } => Init::Constant { value: get(table.value, value) },
        Init::RandomUniform { minval, maxval } => {
            let (lo, hi) = (get(table.minval, minval), get(table.maxval, maxval));
            if lo >= hi {
                return Err(LayerError::field(field, format!("minval {lo} must be below maxval {hi}")));
            }
            Init::RandomUniform { minval: lo, maxval: hi }
        }
        Init::RandomNormal { mean, stddev } => Init::RandomNormal { mean: get(table.mean, mean), stddev: get(table.stddev, stddev) },
        Init::TruncatedNormal { mean, stddev } => Init::TruncatedNormal { mean: get(table.mean, mean), stddev: get(table.stddev, stddev) },
        Init::Orthogonal { gain } => Init::Orthogonal { gain: get(table.gain, gain) },
        other => other,
    };
    let stray = [
        ("value", table.value),
        ("minval", table.minval),
        ("maxval", table.maxval),
        ("mean", table.mean),
        ("stddev", table.stddev),
        ("gain", table.gain),
    ];
    let takes: &[&str] = match init {
        Init::Constant { .. } => &["value"],
        Init::RandomUniform { .. } => &["minval", "maxval"],
        Init::RandomNormal { .. } | Init::TruncatedNormal { .. } => &["mean", "stddev"],
        Init::Orthogonal { .. } => &["gain"],
        _ => &[],
    };
    if let Some((name, _)) = stray.iter().find(|(name, v)| v.is_some() && !takes.contains(name)) {
        return Err(LayerError::field(field, format!("initializer `{}` takes no argument `{name}`", table.kind)));
    }
    if let Init::RandomNormal { stddev, .. } | Init::TruncatedNormal { stddev, .. } = init
        && (stddev.is_nan() || stddev <= 0.0)
    {
        return Err(LayerError::field(field, "stddev must be positive"));
    }
    Ok(init)
}

pub fn regularizer(value: &Option<RawRegularizer>) -> Result<Option<Regularizer>, LayerError> {
    let Some(r) = value else { return Ok(None) };
    let (l1, l2) = (r.l1.unwrap_or(0.0), r.l2.unwrap_or(0.0));
    if !(l1 >= 0.0 && l2 >= 0.0 && l1.is_finite() && l2.is_finite()) {
        return Err(LayerError::field("regularizer", "l1 and l2 must be finite and not negative"));
    }
    if r.l1.is_none() && r.l2.is_none() {
        return Err(LayerError::field("regularizer", "give l1, l2 or both"));
    }
    Ok(Some(Regularizer { l1: l1 as f32, l2: l2 as f32 }))
}

/// A fraction in [0, 1).
pub fn fraction(value: f64, field: &'static str) -> Result<f32, LayerError> {
    if (0.0..1.0).contains(&value) { Ok(value as f32) } else { Err(LayerError::field(field, format!("{value} is not in [0, 1)"))) }
}
