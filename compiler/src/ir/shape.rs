use std::fmt;

use super::DType;

/// One dimension: a known size, or a symbol such as the batch dimension `N`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Fixed(usize),
    Sym(String),
}

/// The symbol every compiled model uses for its batch dimension.
pub const BATCH: &str = "N";

impl Dim {
    pub fn batch() -> Dim {
        Dim::Sym(BATCH.to_string())
    }

    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }

    /// How many times the batch this dimension is: 1 for `N`, 4 for `N*4` (batches stacked or
    /// flattened), `None` for a fixed size or another symbol.
    pub fn batch_multiple(&self) -> Option<usize> {
        match self {
            Dim::Sym(s) => batch_multiple(s),
            Dim::Fixed(_) => None,
        }
    }
}

/// [`Dim::batch_multiple`] of a symbol as ONNX files write it (`dim_param`).
pub fn batch_multiple(symbol: &str) -> Option<usize> {
    let mut batch = false;
    let mut times = 1usize;
    for factor in symbol.split('*').map(str::trim) {
        match factor {
            BATCH if !batch => batch = true,
            f => times = times.checked_mul(f.parse().ok()?)?,
        }
    }
    batch.then_some(times)
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// The type of a value: element type and shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<Dim>,
}

/// No tensor onyx reasons about holds more elements than this (2⁴⁰): shapes beyond it come only
/// from hostile or broken files, and refusing them keeps every product of dimensions from
/// overflowing.
pub const MAX_ELEMENTS: usize = 1 << 40;

impl TensorType {
    pub fn new(dtype: DType, shape: Vec<Dim>) -> TensorType {
        TensorType { dtype, shape }
    }

    /// The product of the known dimensions, when it stays within [`MAX_ELEMENTS`].
    pub fn bounded_elements(&self) -> Option<usize> {
        self.shape.iter().filter_map(Dim::fixed).try_fold(1usize, |n, d| n.checked_mul(d)).filter(|&n| n <= MAX_ELEMENTS)
    }

    pub fn f32(shape: Vec<Dim>) -> TensorType {
        TensorType::new(DType::F32, shape)
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The shape when every dimension is known.
    pub fn fixed_shape(&self) -> Option<Vec<usize>> {
        self.shape.iter().map(Dim::fixed).collect()
    }

    /// The per-sample shape as Keras prints it, batch as `None`: `(None, 32, 26, 26)`.
    pub fn keras_shape(&self) -> String {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| match d {
                Dim::Sym(s) if s == BATCH => "None".to_string(),
                other => other.to_string(),
            })
            .collect();
        if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.shape.iter().map(Dim::to_string).collect();
        write!(f, "{}[{}]", self.dtype, dims.join(", "))
    }
}
