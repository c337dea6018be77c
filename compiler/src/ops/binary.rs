//! Element-wise ops of two inputs with NumPy broadcasting.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Cast, Compare, CompareKind, Fact, Op, OpError, UnaryKind, Where, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, TensorType, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    /// `a^b`; its gradient is taken for `a` (the base) only where `a` is positive or `b` an integer.
    Pow,
    /// The larger of the two (ONNX's variadic Max with two inputs; import chains longer ones). Its
    /// gradient goes to `a` where the two are equal, so a chain of them gives ties to the first
    /// input, as MaxPool's gradient does.
    Max,
    /// The smaller of the two, ties to `a` as Max's.
    Min,
    /// `x` where positive, `slope·x` elsewhere (ONNX's PRelu: `b` is the slope, broadcast to `a`).
    PRelu,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub kind: BinaryKind,
}

impl Binary {
    pub fn from_attrs(kind: BinaryKind, _: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Binary { kind }))
    }
}

/// NumPy broadcasting of two shapes; a symbol meets 1 or itself.
pub fn broadcast(op: &str, a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, OpError> {
    let rank = a.len().max(b.len());
    let at = |s: &[Dim], i: usize| -> Dim {
        let pad = rank - s.len();
        if i < pad { Dim::Fixed(1) } else { s[i - pad].clone() }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Ok(x),
            (Dim::Fixed(1), y) => Ok(y),
            (x, Dim::Fixed(1)) => Ok(x),
            (x, y) => Err(shape_error(op, format!("shapes {a:?} and {b:?} do not broadcast: {x} against {y}"))),
        })
        .collect()
}

impl Op for Binary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Pow => "Pow",
            BinaryKind::Max => "Max",
            BinaryKind::Min => "Min",
            BinaryKind::PRelu => "PRelu",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = self.op_type();
        let (a, b) = (required(op, inputs, 0)?.ty, required(op, inputs, 1)?.ty);
        if a.dtype != b.dtype {
            return Err(shape_error(op, format!("element types differ: {} and {}", a.dtype, b.dtype)));
        }
        Ok(vec![TensorType::new(a.dtype, broadcast(op, &a.shape, &b.shape)?)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        use BinaryKind::{Div, Mul, Sub};
        let zero = |cx: &mut GradCx| cx.scalar(0.0);
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let (a, b) = (cx.x(0)?, cx.x(1)?);
        let (ga, gb) = match self.kind {
            BinaryKind::Add => (g, g),
            BinaryKind::Sub => (g, cx.unary(UnaryKind::Neg, g)?),
            BinaryKind::Mul => (cx.binary(Mul, g, b)?, cx.binary(Mul, g, a)?),
            BinaryKind::Div => {
                // d(a/b)/db = −(a/b)/b
                let ga = cx.binary(Div, g, b)?;
                let ratio = cx.binary(Div, cx.y(0), b)?;
                let scaled = cx.binary(Mul, g, ratio)?;
                (ga, cx.unary(UnaryKind::Neg, scaled)?)
            }
            BinaryKind::Pow => {
                // d(aᵇ)/da = b·aᵇ⁻¹; d(aᵇ)/db = ln(a)·aᵇ
                let one = cx.scalar(1.0);
                let b_minus_one = cx.binary(Sub, b, one)?;
                let power = cx.binary(BinaryKind::Pow, a, b_minus_one)?;
                let slope = cx.binary(Mul, b, power)?;
                let ga = cx.binary(Mul, g, slope)?;
                let ln = cx.unary(UnaryKind::Log, a)?;
                let slope_b = cx.binary(Mul, ln, cx.y(0))?;
                (ga, cx.binary(Mul, g, slope_b)?)
            }
            BinaryKind::Max => {
                // b takes the gradient only where it is strictly larger; a keeps the rest (exactly:
                // g − g·1 is 0 and g − g·0 is g).
                let b_wins = cx.op(Compare { kind: CompareKind::Less }, &[a, b])?;
                let b_wins = cx.op(Cast { to: DType::F32 }, &[b_wins])?;
                let gb = cx.binary(Mul, g, b_wins)?;
                (cx.binary(Sub, g, gb)?, gb)
            }
            BinaryKind::Min => {
                let b_wins = cx.op(Compare { kind: CompareKind::Greater }, &[a, b])?;
                let b_wins = cx.op(Cast { to: DType::F32 }, &[b_wins])?;
                let gb = cx.binary(Mul, g, b_wins)?;
                (cx.binary(Sub, g, gb)?, gb)
            }
            BinaryKind::PRelu => {
                // dy/dx is 1 or the slope; dy/dslope is 0 or x.
                let z = zero(cx);
                let positive = cx.op(Compare { kind: CompareKind::Greater }, &[a, z])?;
                let scaled = cx.binary(Mul, g, b)?;
                let ga = cx.op(Where, &[positive, g, scaled])?;
                let gx = cx.binary(Mul, g, a)?;
                (ga, cx.op(Where, &[positive, z, gx])?)
            }
        };
        let (ta, tb) = (cx.ty(a), cx.ty(b));
        Ok(vec![Some(cx.unbroadcast(ga, &ta)?), Some(cx.unbroadcast(gb, &tb)?)])
    }
}

/// Mod: the remainder of `a / b`. Integer tensors take either sign convention (`fmod = 0`: the
/// divisor's sign, as Python; `fmod = 1`: the dividend's, as C); float tensors need `fmod = 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mod {
    pub fmod: bool,
}

impl Mod {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Mod { fmod: a.int("fmod", 0)? != 0 }))
    }
}

impl Op for Mod {
    fn op_type(&self) -> &'static str {
        "Mod"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let types = Binary { kind: BinaryKind::Add }.infer(inputs).map_err(|e| match e {
            OpError::Shape { message, .. } => shape_error("Mod", message),
            e => e,
        })?;
        if types[0].dtype.is_float() && !self.fmod {
            return Err(OpError::Attribute { op: "Mod".into(), name: "fmod".into(), message: "must be 1 for float tensors".into() });
        }
        Ok(types)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("fmod", self.fmod as i64)]
    }

    /// y = a − b·q with q = trunc(a/b), constant between jumps: dy/da = 1 and dy/db = −q = (y − a)/b.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let (a, b) = (cx.x(0)?, cx.x(1)?);
        let diff = cx.binary(BinaryKind::Sub, cx.y(0), a)?;
        let q = cx.binary(BinaryKind::Div, diff, b)?;
        let gb = cx.binary(BinaryKind::Mul, g, q)?;
        let (ta, tb) = (cx.ty(a), cx.ty(b));
        Ok(vec![Some(cx.unbroadcast(g, &ta)?), Some(cx.unbroadcast(gb, &tb)?)])
    }
}

/// BitShift: each element of `x` shifted left or right by the matching element of `y` bits
/// (broadcast); unsigned integers only, so it has no gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct BitShift {
    pub left: bool,
}

impl BitShift {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let left = match a.string("direction")?.as_deref() {
            Some("LEFT") => true,
            Some("RIGHT") => false,
            other => {
                return Err(OpError::Attribute {
                    op: "BitShift".into(),
                    name: "direction".into(),
                    message: format!("must be LEFT or RIGHT, got {other:?}"),
                });
            }
        };
        Ok(Arc::new(BitShift { left }))
    }
}

impl Op for BitShift {
    fn op_type(&self) -> &'static str {
        "BitShift"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let types = Binary { kind: BinaryKind::Add }.infer(inputs).map_err(|e| match e {
            OpError::Shape { message, .. } => shape_error("BitShift", message),
            e => e,
        })?;
        if !matches!(types[0].dtype, DType::U8 | DType::U16 | DType::U32 | DType::U64) {
            return Err(shape_error("BitShift", format!("shifts unsigned integers, got {}", types[0].dtype.name())));
        }
        Ok(types)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::string("direction", if self.left { "LEFT" } else { "RIGHT" })]
    }
}
