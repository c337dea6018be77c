//! Element-wise ops of one input: the activations and the arithmetic that losses, optimizers and
//! gradients are built from.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Compare, CompareKind, Fact, Op, OpError, Where, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, TensorType, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryKind {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    Erf,
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Sign,
    Floor,
    Ceil,
    /// To the nearest integer, halves to even.
    Round,
    Reciprocal,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    /// `ln(1 + eˣ)`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `alpha·x` below zero; ONNX's default alpha is 0.01.
    LeakyRelu,
    /// `alpha·(eˣ−1)` below zero; ONNX's default alpha is 1.
    Elu,
    /// `max(0, x) + min(0, alpha·(e^(x/alpha)−1))`; alpha defaults to 1.
    Celu,
    /// `gamma·x` above zero, `gamma·alpha·(eˣ−1)` below (alpha and gamma: ONNX's defaults, the
    /// self-normalizing constants).
    Selu,
    /// `x` above alpha, 0 elsewhere; alpha defaults to 1.
    ThresholdedRelu,
    /// `max(0, min(1, alpha·x + beta))`; alpha 0.2 and beta 0.5 by default.
    HardSigmoid,
    /// `x · HardSigmoid(x)` with alpha 1/6 and beta 0.5.
    HardSwish,
    /// `x − bias` above lambd, `x + bias` below −lambd, 0 between (lambd 0.5, bias 0 by default).
    Shrink,
    /// Logical negation of a boolean tensor.
    Not,
    /// Whether each element is NaN (boolean).
    IsNaN,
}

impl UnaryKind {
    /// Every kind, for passes that recognise a unary op by its type (add a new kind here too).
    pub const ALL: [UnaryKind; 38] = [
        UnaryKind::Identity,
        UnaryKind::Relu,
        UnaryKind::Sigmoid,
        UnaryKind::Tanh,
        UnaryKind::Erf,
        UnaryKind::Neg,
        UnaryKind::Exp,
        UnaryKind::Log,
        UnaryKind::Sqrt,
        UnaryKind::Abs,
        UnaryKind::Sign,
        UnaryKind::Floor,
        UnaryKind::Ceil,
        UnaryKind::Round,
        UnaryKind::Reciprocal,
        UnaryKind::Sin,
        UnaryKind::Cos,
        UnaryKind::Tan,
        UnaryKind::Asin,
        UnaryKind::Acos,
        UnaryKind::Atan,
        UnaryKind::Sinh,
        UnaryKind::Cosh,
        UnaryKind::Asinh,
        UnaryKind::Acosh,
        UnaryKind::Atanh,
        UnaryKind::Softplus,
        UnaryKind::Softsign,
        UnaryKind::LeakyRelu,
        UnaryKind::Elu,
        UnaryKind::Celu,
        UnaryKind::Selu,
        UnaryKind::ThresholdedRelu,
        UnaryKind::HardSigmoid,
        UnaryKind::HardSwish,
        UnaryKind::Shrink,
        UnaryKind::Not,
        UnaryKind::IsNaN,
    ];

    /// The ONNX names of the kind's float attributes with their defaults: (alpha's, beta's).
    fn params(self) -> (Option<Param>, Option<Param>) {
        match self {
            UnaryKind::LeakyRelu => (Some(("alpha", 0.01)), None),
            UnaryKind::Elu | UnaryKind::Celu | UnaryKind::ThresholdedRelu => (Some(("alpha", 1.0)), None),
            UnaryKind::Selu => (Some(("alpha", SELU_ALPHA)), Some(("gamma", SELU_GAMMA))),
            UnaryKind::HardSigmoid => (Some(("alpha", 0.2)), Some(("beta", 0.5))),
            UnaryKind::Shrink => (Some(("lambd", 0.5)), Some(("bias", 0.0))),
            _ => (None, None),
        }
    }
}

/// A float attribute: its ONNX name and default.
type Param = (&'static str, f32);

/// Selu's defaults, as the ONNX spec writes them.
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_GAMMA: f32 = 1.050_701;

#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub kind: UnaryKind,
    /// The first float attribute of the kinds that have one (`alpha`; Shrink's `lambd`).
    pub alpha: Option<f32>,
    /// The second (HardSigmoid's `beta`, Selu's `gamma`, Shrink's `bias`).
    pub beta: Option<f32>,
}

impl Unary {
    pub fn new(kind: UnaryKind) -> Unary {
        Unary { kind, alpha: None, beta: None }
    }

    pub fn with_alpha(kind: UnaryKind, alpha: f32) -> Unary {
        Unary { kind, alpha: Some(alpha), beta: None }
    }

    pub fn with_params(kind: UnaryKind, alpha: f32, beta: f32) -> Unary {
        Unary { kind, alpha: Some(alpha), beta: Some(beta) }
    }

    pub fn from_attrs(kind: UnaryKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let (first, second) = kind.params();
        let alpha = first.map(|(name, default)| a.float(name, default)).transpose()?;
        let beta = second.map(|(name, default)| a.float(name, default)).transpose()?;
        Ok(Arc::new(Unary { kind, alpha, beta }))
    }

    /// alpha, or the kind's ONNX default.
    fn alpha(&self) -> f32 {
        self.alpha.or(self.kind.params().0.map(|p| p.1)).unwrap_or(0.0)
    }

    /// beta, or the kind's ONNX default.
    fn beta(&self) -> f32 {
        self.beta.or(self.kind.params().1.map(|p| p.1)).unwrap_or(0.0)
    }
}

impl Op for Unary {
    fn op_type(&self) -> &'static str {
        match self.kind {
            UnaryKind::Identity => "Identity",
            UnaryKind::Relu => "Relu",
            UnaryKind::Sigmoid => "Sigmoid",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Erf => "Erf",
            UnaryKind::Neg => "Neg",
            UnaryKind::Exp => "Exp",
            UnaryKind::Log => "Log",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Abs => "Abs",
            UnaryKind::Sign => "Sign",
            UnaryKind::Floor => "Floor",
            UnaryKind::Ceil => "Ceil",
            UnaryKind::Round => "Round",
            UnaryKind::Reciprocal => "Reciprocal",
            UnaryKind::Sin => "Sin",
            UnaryKind::Cos => "Cos",
            UnaryKind::Tan => "Tan",
            UnaryKind::Asin => "Asin",
            UnaryKind::Acos => "Acos",
            UnaryKind::Atan => "Atan",
            UnaryKind::Sinh => "Sinh",
            UnaryKind::Cosh => "Cosh",
            UnaryKind::Asinh => "Asinh",
            UnaryKind::Acosh => "Acosh",
            UnaryKind::Atanh => "Atanh",
            UnaryKind::Softplus => "Softplus",
            UnaryKind::Softsign => "Softsign",
            UnaryKind::LeakyRelu => "LeakyRelu",
            UnaryKind::Elu => "Elu",
            UnaryKind::Celu => "Celu",
            UnaryKind::Selu => "Selu",
            UnaryKind::ThresholdedRelu => "ThresholdedRelu",
            UnaryKind::HardSigmoid => "HardSigmoid",
            UnaryKind::HardSwish => "HardSwish",
            UnaryKind::Shrink => "Shrink",
            UnaryKind::Not => "Not",
            UnaryKind::IsNaN => "IsNaN",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = self.op_type();
        let x = required(op, inputs, 0)?.ty;
        match self.kind {
            UnaryKind::Not if x.dtype != DType::Bool => Err(shape_error(op, format!("takes a bool tensor, got {}", x.dtype))),
            UnaryKind::IsNaN if !x.dtype.is_float() => Err(shape_error(op, format!("takes a float tensor, got {}", x.dtype))),
            UnaryKind::IsNaN => Ok(vec![TensorType::new(DType::Bool, x.shape.clone())]),
            _ => Ok(vec![x.clone()]),
        }
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let (first, second) = self.kind.params();
        let mut out = vec![];
        if let (Some((name, _)), Some(v)) = (first, self.alpha) {
            out.push(attrs::float(name, v));
        }
        if let (Some((name, _)), Some(v)) = (second, self.beta) {
            out.push(attrs::float(name, v));
        }
        out
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        match output_grads.first().copied().flatten() {
            Some(g) => Ok(vec![Some(self.grad(cx, g)?)]),
            None => Ok(vec![None]),
        }
    }
}

/// IsInf: whether each element is infinite, of the signs asked for (both by default).
#[derive(Clone, Debug, PartialEq)]
pub struct IsInf {
    pub detect_negative: bool,
    pub detect_positive: bool,
}

impl IsInf {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(IsInf { detect_negative: a.int("detect_negative", 1)? != 0, detect_positive: a.int("detect_positive", 1)? != 0 }))
    }
}

impl Op for IsInf {
    fn op_type(&self) -> &'static str {
        "IsInf"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("IsInf", inputs, 0)?.ty;
        if !x.dtype.is_float() {
            return Err(shape_error("IsInf", format!("takes a float tensor, got {}", x.dtype)));
        }
        Ok(vec![TensorType::new(DType::Bool, x.shape.clone())])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("detect_negative", self.detect_negative as i64), attrs::int("detect_positive", self.detect_positive as i64)]
    }
}

impl Unary {
    /// dL/dx for y = f(x), given g = dL/dy.
    fn grad(&self, cx: &mut GradCx, g: ValueId) -> Result<ValueId, OpError> {
        use BinaryKind::{Add, Div, Mul, Sub};
        let (x, y) = (cx.x(0)?, cx.y(0));
        let compare = |cx: &mut GradCx, kind: CompareKind, a: ValueId, value: f32| -> Result<ValueId, OpError> {
            let v = cx.scalar(value);
            cx.op(Compare { kind }, &[a, v])
        };
        // g·slope: element-wise ops of x and y that give dy/dx.
        let times = |cx: &mut GradCx, slope: ValueId| cx.binary(Mul, g, slope);
        // 1 − x² (Asin, Acos, Atanh) and x² ± 1 (Asinh, Acosh, Atan).
        let square_plus = |cx: &mut GradCx, sign: f32, constant: f32| -> Result<ValueId, OpError> {
            let square = cx.binary(Mul, x, x)?;
            let s = cx.scalar(sign);
            let signed = cx.binary(Mul, square, s)?;
            let c = cx.scalar(constant);
            cx.binary(Add, signed, c)
        };
        match self.kind {
            UnaryKind::Identity => Ok(g),
            UnaryKind::Neg => cx.unary(UnaryKind::Neg, g),
            // y > 0 exactly where x > 0, so Sign(y) is the 0/1 slope: two element-wise ops that engines
            // run fast, where a Where over a comparison is slow in tract.
            UnaryKind::Relu => {
                let slope = cx.unary(UnaryKind::Sign, y)?;
                cx.binary(Mul, g, slope)
            }
            UnaryKind::LeakyRelu => {
                let mask = compare(cx, CompareKind::Greater, x, 0.0)?;
                let alpha = cx.scalar(self.alpha());
                let scaled = cx.binary(Mul, g, alpha)?;
                cx.op(Where, &[mask, g, scaled])
            }
            UnaryKind::Elu => {
                // Below zero y = α(eˣ−1), so dy/dx = y + α.
                let mask = compare(cx, CompareKind::Greater, x, 0.0)?;
                let alpha = cx.scalar(self.alpha());
                let slope = cx.binary(Add, y, alpha)?;
                let scaled = cx.binary(Mul, g, slope)?;
                cx.op(Where, &[mask, g, scaled])
            }
            UnaryKind::Celu => {
                // Below zero y = α(e^(x/α)−1), so dy/dx = e^(x/α) = y/α + 1.
                let mask = compare(cx, CompareKind::Greater, x, 0.0)?;
                let alpha = cx.scalar(self.alpha());
                let ratio = cx.binary(Div, y, alpha)?;
                let one = cx.scalar(1.0);
                let slope = cx.binary(Add, ratio, one)?;
                let scaled = cx.binary(Mul, g, slope)?;
                cx.op(Where, &[mask, g, scaled])
            }
            UnaryKind::Selu => {
                // γ above zero; below, y = γα(eˣ−1), so dy/dx = y + γα.
                let mask = compare(cx, CompareKind::Greater, x, 0.0)?;
                let gamma = cx.scalar(self.beta());
                let above = cx.binary(Mul, g, gamma)?;
                let gamma_alpha = cx.scalar(self.alpha() * self.beta());
                let slope = cx.binary(Add, y, gamma_alpha)?;
                let below = cx.binary(Mul, g, slope)?;
                cx.op(Where, &[mask, above, below])
            }
            UnaryKind::ThresholdedRelu => {
                let mask = compare(cx, CompareKind::Greater, x, self.alpha())?;
                let zero = cx.scalar(0.0);
                cx.op(Where, &[mask, g, zero])
            }
            UnaryKind::Shrink => {
                let lambd = self.alpha();
                let above = compare(cx, CompareKind::Greater, x, lambd)?;
                let below = compare(cx, CompareKind::Less, x, -lambd)?;
                let outside = cx.op(Compare { kind: CompareKind::Or }, &[above, below])?;
                let zero = cx.scalar(0.0);
                cx.op(Where, &[outside, g, zero])
            }
            UnaryKind::HardSigmoid => {
                // α where the line is not clipped, that is where 0 < y < 1.
                let above = compare(cx, CompareKind::Greater, y, 0.0)?;
                let below = compare(cx, CompareKind::Less, y, 1.0)?;
                let inside = cx.op(Compare { kind: CompareKind::And }, &[above, below])?;
                let alpha = cx.scalar(self.alpha());
                let scaled = cx.binary(Mul, g, alpha)?;
                let zero = cx.scalar(0.0);
                cx.op(Where, &[inside, scaled, zero])
            }
            UnaryKind::HardSwish => {
                // y = x·h(x) with h = HardSigmoid(α = 1/6, β = ½): dy/dx = h + x/6 where h is not clipped.
                let h = cx.op(Unary::with_params(UnaryKind::HardSigmoid, 1.0 / 6.0, 0.5), &[x])?;
                let above = compare(cx, CompareKind::Greater, h, 0.0)?;
                let below = compare(cx, CompareKind::Less, h, 1.0)?;
                let inside = cx.op(Compare { kind: CompareKind::And }, &[above, below])?;
                let sixth = cx.scalar(1.0 / 6.0);
                let line = cx.binary(Mul, x, sixth)?;
                let zero = cx.scalar(0.0);
                let extra = cx.op(Where, &[inside, line, zero])?;
                let slope = cx.binary(Add, h, extra)?;
                times(cx, slope)
            }
            UnaryKind::Sigmoid => {
                let one = cx.scalar(1.0);
                let rest = cx.binary(Sub, one, y)?;
                let slope = cx.binary(Mul, y, rest)?;
                cx.binary(Mul, g, slope)
            }
            UnaryKind::Softplus => {
                let slope = cx.unary(UnaryKind::Sigmoid, x)?;
                times(cx, slope)
            }
            UnaryKind::Softsign => {
                // 1 / (1 + |x|)²
                let abs = cx.unary(UnaryKind::Abs, x)?;
                let one = cx.scalar(1.0);
                let d = cx.binary(Add, abs, one)?;
                let d2 = cx.binary(Mul, d, d)?;
                cx.binary(Div, g, d2)
            }
            UnaryKind::Tanh => {
                let one = cx.scalar(1.0);
                let square = cx.binary(Mul, y, y)?;
                let slope = cx.binary(Sub, one, square)?;
                cx.binary(Mul, g, slope)
            }
            UnaryKind::Erf => {
                // d erf(x)/dx = 2/√π · e^(−x²)
                let square = cx.binary(Mul, x, x)?;
                let negative = cx.unary(UnaryKind::Neg, square)?;
                let e = cx.unary(UnaryKind::Exp, negative)?;
                let k = cx.scalar(std::f32::consts::FRAC_2_SQRT_PI);
                let slope = cx.binary(Mul, e, k)?;
                cx.binary(Mul, g, slope)
            }
            UnaryKind::Exp => cx.binary(Mul, g, y),
            UnaryKind::Log => cx.binary(Div, g, x),
            UnaryKind::Reciprocal => {
                // −1/x² = −y²
                let square = cx.binary(Mul, y, y)?;
                let scaled = cx.binary(Mul, g, square)?;
                cx.unary(UnaryKind::Neg, scaled)
            }
            UnaryKind::Sqrt => {
                let two = cx.scalar(2.0);
                let twice = cx.binary(Mul, y, two)?;
                cx.binary(Div, g, twice)
            }
            UnaryKind::Abs => {
                let sign = cx.unary(UnaryKind::Sign, x)?;
                cx.binary(Mul, g, sign)
            }
            UnaryKind::Cos => {
                // d cos(x)/dx = −sin(x) = cos(x + π/2): one op where Sin and Neg are two.
                let quarter = cx.scalar(std::f32::consts::FRAC_PI_2);
                let shifted = cx.binary(Add, x, quarter)?;
                let minus_sin = cx.unary(UnaryKind::Cos, shifted)?;
                cx.binary(Mul, g, minus_sin)
            }
            UnaryKind::Sin => {
                let slope = cx.unary(UnaryKind::Cos, x)?;
                times(cx, slope)
            }
            UnaryKind::Tan => {
                // 1 + tan²
                let square = cx.binary(Mul, y, y)?;
                let one = cx.scalar(1.0);
                let slope = cx.binary(Add, square, one)?;
                times(cx, slope)
            }
            UnaryKind::Sinh => {
                let slope = cx.unary(UnaryKind::Cosh, x)?;
                times(cx, slope)
            }
            UnaryKind::Cosh => {
                let slope = cx.unary(UnaryKind::Sinh, x)?;
                times(cx, slope)
            }
            UnaryKind::Asin | UnaryKind::Acos => {
                // ±1/√(1 − x²)
                let d = square_plus(cx, -1.0, 1.0)?;
                let root = cx.unary(UnaryKind::Sqrt, d)?;
                let q = cx.binary(Div, g, root)?;
                if self.kind == UnaryKind::Acos { cx.unary(UnaryKind::Neg, q) } else { Ok(q) }
            }
            UnaryKind::Asinh | UnaryKind::Acosh => {
                // 1/√(x² ± 1)
                let d = square_plus(cx, 1.0, if self.kind == UnaryKind::Asinh { 1.0 } else { -1.0 })?;
                let root = cx.unary(UnaryKind::Sqrt, d)?;
                cx.binary(Div, g, root)
            }
            UnaryKind::Atan => {
                let d = square_plus(cx, 1.0, 1.0)?;
                cx.binary(Div, g, d)
            }
            UnaryKind::Atanh => {
                let d = square_plus(cx, -1.0, 1.0)?;
                cx.binary(Div, g, d)
            }
            // Piecewise constant: zero almost everywhere.
            UnaryKind::Sign | UnaryKind::Floor | UnaryKind::Ceil | UnaryKind::Round => {
                let zero = cx.scalar(0.0);
                cx.binary(Mul, g, zero)
            }
            // Boolean results carry no gradient.
            UnaryKind::Not | UnaryKind::IsNaN => Err(OpError::NoGradient { op: self.op_type().to_string() }),
        }
    }
}
