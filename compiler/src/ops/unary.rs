//! Element-wise ops of one input: the activations and the arithmetic that losses, optimizers and
//! gradients are built from.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Compare, CompareKind, Fact, Op, OpError, Where, attrs, required};
use crate::autodiff::GradCx;
use crate::ir::{TensorType, ValueId};

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
    Cos,
    /// `alpha·x` below zero; ONNX's default alpha is 0.01.
    LeakyRelu,
    /// `alpha·(eˣ−1)` below zero; ONNX's default alpha is 1.
    Elu,
}

impl UnaryKind {
    /// Every kind, for passes that recognise a unary op by its type (add a new kind here too).
    pub const ALL: [UnaryKind; 15] = [
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
        UnaryKind::Cos,
        UnaryKind::LeakyRelu,
        UnaryKind::Elu,
    ];
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub kind: UnaryKind,
    /// Only LeakyRelu and Elu have one.
    pub alpha: Option<f32>,
}

impl Unary {
    pub fn new(kind: UnaryKind) -> Unary {
        Unary { kind, alpha: None }
    }

    pub fn with_alpha(kind: UnaryKind, alpha: f32) -> Unary {
        Unary { kind, alpha: Some(alpha) }
    }

    pub fn from_attrs(kind: UnaryKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let alpha = match kind {
            UnaryKind::LeakyRelu => Some(a.float("alpha", 0.01)?),
            UnaryKind::Elu => Some(a.float("alpha", 1.0)?),
            _ => None,
        };
        Ok(Arc::new(Unary { kind, alpha }))
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
            UnaryKind::Cos => "Cos",
            UnaryKind::LeakyRelu => "LeakyRelu",
            UnaryKind::Elu => "Elu",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![required(self.op_type(), inputs, 0)?.ty.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        self.alpha.map(|alpha| attrs::float("alpha", alpha)).into_iter().collect()
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        match output_grads.first().copied().flatten() {
            Some(g) => Ok(vec![Some(self.grad(cx, g)?)]),
            None => Ok(vec![None]),
        }
    }
}

impl Unary {
    /// dL/dx for y = f(x), given g = dL/dy.
    fn grad(&self, cx: &mut GradCx, g: ValueId) -> Result<ValueId, OpError> {
        use BinaryKind::{Add, Div, Mul, Sub};
        let (x, y) = (cx.x(0)?, cx.y(0));
        let positive = |cx: &mut GradCx| -> Result<ValueId, OpError> {
            let zero = cx.scalar(0.0);
            cx.op(Compare { kind: CompareKind::Greater }, &[x, zero])
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
                let mask = positive(cx)?;
                let alpha = cx.scalar(self.alpha.unwrap_or(0.01));
                let scaled = cx.binary(Mul, g, alpha)?;
                cx.op(Where, &[mask, g, scaled])
            }
            UnaryKind::Elu => {
                // Below zero y = α(eˣ−1), so dy/dx = y + α.
                let mask = positive(cx)?;
                let alpha = cx.scalar(self.alpha.unwrap_or(1.0));
                let slope = cx.binary(Add, y, alpha)?;
                let scaled = cx.binary(Mul, g, slope)?;
                cx.op(Where, &[mask, g, scaled])
            }
            UnaryKind::Sigmoid => {
                let one = cx.scalar(1.0);
                let rest = cx.binary(Sub, one, y)?;
                let slope = cx.binary(Mul, y, rest)?;
                cx.binary(Mul, g, slope)
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
                // d cos(x)/dx = −sin(x) = cos(x + π/2), with no Sin op needed.
                let quarter = cx.scalar(std::f32::consts::FRAC_PI_2);
                let shifted = cx.binary(Add, x, quarter)?;
                let minus_sin = cx.unary(UnaryKind::Cos, shifted)?;
                cx.binary(Mul, g, minus_sin)
            }
            // Piecewise constant: zero almost everywhere.
            UnaryKind::Sign | UnaryKind::Floor => {
                let zero = cx.scalar(0.0);
                cx.binary(Mul, g, zero)
            }
        }
    }
}
