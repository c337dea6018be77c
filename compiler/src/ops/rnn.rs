//! The native recurrent ops LSTM, GRU and RNN (layout 0: X is [seq, batch, input]).
//!
//! Gate order in W, R and B is ONNX's: LSTM i, o, f, c; GRU z, r, h. `activations` lists f, g (and h for
//! LSTM) per direction, e.g. Keras' `LSTM(activation="relu")` is `["Sigmoid", "Relu", "Relu"]`.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, required, shape_error};
use crate::ir::{Dim, TensorType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecurrentKind {
    Lstm,
    Gru,
    Rnn,
}

impl RecurrentKind {
    /// The kind of an ONNX op type: `LSTM`, `GRU` or `RNN`.
    pub fn from_op_type(op_type: &str) -> Option<RecurrentKind> {
        match op_type {
            "LSTM" => Some(RecurrentKind::Lstm),
            "GRU" => Some(RecurrentKind::Gru),
            "RNN" => Some(RecurrentKind::Rnn),
            _ => None,
        }
    }

    /// Gates per unit: rows of W per hidden unit.
    pub fn gates(self) -> usize {
        match self {
            RecurrentKind::Lstm => 4,
            RecurrentKind::Gru => 3,
            RecurrentKind::Rnn => 1,
        }
    }

    /// Activations per direction.
    fn activation_count(self) -> usize {
        match self {
            RecurrentKind::Lstm => 3,
            RecurrentKind::Gru => 2,
            RecurrentKind::Rnn => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

impl Direction {
    pub fn count(self) -> usize {
        if self == Direction::Bidirectional { 2 } else { 1 }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
            Direction::Bidirectional => "bidirectional",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recurrent {
    pub kind: RecurrentKind,
    pub hidden_size: usize,
    pub direction: Direction,
    /// ONNX names (`Sigmoid`, `Tanh`, `Relu`, ...), `activation_count` per direction.
    pub activations: Vec<String>,
    /// GRU only: apply the reset gate after the recurrent product (Keras' `reset_after=True`).
    pub linear_before_reset: bool,
}

impl Recurrent {
    pub fn default_activations(kind: RecurrentKind) -> Vec<String> {
        let names: &[&str] = match kind {
            RecurrentKind::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            RecurrentKind::Gru => &["Sigmoid", "Tanh"],
            RecurrentKind::Rnn => &["Tanh"],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Whether every direction uses ONNX's default activations (what engines that ignore the
    /// attribute compute).
    pub fn has_default_activations(&self) -> bool {
        let defaults = Recurrent::default_activations(self.kind);
        self.activations.chunks(defaults.len()).all(|dir| dir == defaults.as_slice())
    }

    pub fn from_attrs(kind: RecurrentKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Recurrent::parse(kind, a)?))
    }

    /// The typed op from a node's attributes; passes that rewrite recurrent nodes read them back this way.
    pub fn parse(kind: RecurrentKind, a: &Attrs) -> Result<Recurrent, OpError> {
        let bad = |name: &str, message: String| OpError::Attribute { op: a.op.to_string(), name: name.into(), message };
        let hidden_size = usize::try_from(a.required_int("hidden_size")?).map_err(|_| bad("hidden_size", "must be positive".into()))?;
        let direction = match a.string("direction")?.as_deref().unwrap_or("forward") {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            other => return Err(bad("direction", format!("unknown direction `{other}`"))),
        };
        for unsupported in ["layout", "input_forget"] {
            if a.int(unsupported, 0)? != 0 {
                return Err(bad(unsupported, "only 0 is supported".into()));
            }
        }
        if a.floats("clip").is_some() || a.floats("activation_alpha").is_some() || a.floats("activation_beta").is_some() {
            return Err(bad("clip", "clip and parameterized activations are not supported".into()));
        }
        let mut activations = a.strings("activations")?.unwrap_or_default();
        if activations.is_empty() {
            for _ in 0..direction.count() {
                activations.extend(Recurrent::default_activations(kind));
            }
        }
        if activations.len() != kind.activation_count() * direction.count() {
            return Err(bad("activations", format!("expected {} names", kind.activation_count() * direction.count())));
        }
        let linear_before_reset = a.int("linear_before_reset", 0)? != 0;
        Ok(Recurrent { kind, hidden_size, direction, activations, linear_before_reset })
    }
}

impl Op for Recurrent {
    fn op_type(&self) -> &'static str {
        match self.kind {
            RecurrentKind::Lstm => "LSTM",
            RecurrentKind::Gru => "GRU",
            RecurrentKind::Rnn => "RNN",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = self.op_type();
        let (x, w, r) = (required(op, inputs, 0)?.ty, required(op, inputs, 1)?.ty, required(op, inputs, 2)?.ty);
        if x.rank() != 3 {
            return Err(shape_error(op, format!("X must be [seq, batch, input], got {x}")));
        }
        let (dirs, rows, h) = (self.direction.count(), self.kind.gates() * self.hidden_size, self.hidden_size);
        let expect = |t: &TensorType, name: &str, dims: Vec<Dim>| {
            if t.shape == dims { Ok(()) } else { Err(shape_error(op, format!("{name} is {t}, expected {dims:?}"))) }
        };
        expect(w, "W", vec![Dim::Fixed(dirs), Dim::Fixed(rows), x.shape[2].clone()])?;
        expect(r, "R", vec![Dim::Fixed(dirs), Dim::Fixed(rows), Dim::Fixed(h)])?;
        if let Some(b) = inputs.get(3).copied().flatten() {
            expect(b.ty, "B", vec![Dim::Fixed(dirs), Dim::Fixed(2 * rows)])?;
        }
        let (seq, batch) = (x.shape[0].clone(), x.shape[1].clone());
        let state = TensorType::new(x.dtype, vec![Dim::Fixed(dirs), batch.clone(), Dim::Fixed(h)]);
        let mut out = vec![TensorType::new(x.dtype, vec![seq, Dim::Fixed(dirs), batch, Dim::Fixed(h)]), state.clone()];
        if self.kind == RecurrentKind::Lstm {
            out.push(state);
        }
        Ok(out)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let mut out = vec![
            attrs::int("hidden_size", self.hidden_size as i64),
            attrs::string("direction", self.direction.name()),
            attrs::strings("activations", &self.activations),
        ];
        if self.kind == RecurrentKind::Gru {
            out.push(attrs::int("linear_before_reset", self.linear_before_reset as i64));
        }
        out
    }
}
