//! Optimizer updates and learning-rate schedules as subgraphs, with Keras' update rules and
//! defaults. `step` counts the updates already made (0 for the first); `lr` is the base rate.
//!
//! Where PyTorch differs: Adam's ε defaults to 1e-8 there and 1e-7 here (Keras), and PyTorch adds ε
//! outside the square root in RMSprop and Adagrad (Keras: √(v + ε)); PyTorch's SGD momentum buffer
//! accumulates gradients (v = μv + g, w −= lr·v) where Keras' accumulates steps (v = μv − lr·g, w += v),
//! the same trajectory for a constant learning rate.
use super::TrainError;
use super::loss::Ops;
use crate::ir::ValueId;
use crate::ops::{BinaryKind, Compare, CompareKind, UnaryKind, Where};
use crate::spec::train::{Optimizer, Schedule};

/// The state one parameter carries for an optimizer, by suffix, with its initial value.
pub fn state_slots(opt: &Optimizer) -> Vec<(&'static str, f32)> {
    match opt.kind.as_str() {
        "sgd" if opt.momentum > 0.0 => vec![("velocity", 0.0)],
        "sgd" => vec![],
        "adam" | "adamw" => vec![("m", 0.0), ("v", 0.0)],
        "rmsprop" if opt.momentum > 0.0 => vec![("velocity", 0.0), ("momentum", 0.0)],
        "rmsprop" => vec![("velocity", 0.0)],
        "adagrad" => vec![("accumulator", opt.initial_accumulator_value as f32)],
        _ => vec![],
    }
}

/// The scheduled learning rate for this step.
pub fn schedule(o: &mut Ops, s: &Schedule, lr: ValueId, step: ValueId) -> Result<ValueId, TrainError> {
    use BinaryKind::{Add, Div, Mul, Pow};
    match s.kind.as_str() {
        "step" => {
            let size = o.scalar(s.step_size as f32);
            let ratio = o.bin(Div, step, size)?;
            let k = o.un(UnaryKind::Floor, ratio)?;
            let gamma = o.scalar(s.gamma as f32);
            let factor = o.bin(Pow, gamma, k)?;
            o.bin(Mul, lr, factor)
        }
        "exponential" => {
            let steps = o.scalar(s.decay_steps as f32);
            let ratio = o.bin(Div, step, steps)?;
            let rate = o.scalar(s.decay_rate as f32);
            let factor = o.bin(Pow, rate, ratio)?;
            o.bin(Mul, lr, factor)
        }
        "cosine" => {
            let steps = o.scalar(s.decay_steps as f32);
            let past = o.op(Compare { kind: CompareKind::Greater }, &[step, steps])?;
            let clamped = o.op(Where, &[past, steps, step])?;
            let fraction = o.bin(Div, clamped, steps)?;
            let pi = o.scalar(std::f32::consts::PI);
            let angle = o.bin(Mul, fraction, pi)?;
            let cos = o.un(UnaryKind::Cos, angle)?;
            let one = o.scalar(1.0);
            let raised = o.bin(Add, cos, one)?;
            let k = o.scalar(0.5 * (1.0 - s.alpha as f32));
            let decayed = o.bin(Mul, raised, k)?;
            let alpha = o.scalar(s.alpha as f32);
            let factor = o.bin(Add, decayed, alpha)?;
            o.bin(Mul, lr, factor)
        }
        _ => Ok(lr),
    }
}

/// The updated parameter and states for one parameter `w` with gradient `g`.
pub fn update(
    o: &mut Ops,
    opt: &Optimizer,
    w: ValueId,
    g: ValueId,
    states: &[ValueId],
    step: ValueId,
    lr: ValueId,
) -> Result<(ValueId, Vec<ValueId>), TrainError> {
    use BinaryKind::{Add, Div, Mul, Pow, Sub};
    let scalar = |o: &mut Ops, v: f64| o.scalar(v as f32);
    match opt.kind.as_str() {
        "sgd" => {
            let lr_g = o.bin(Mul, lr, g)?;
            if opt.momentum == 0.0 {
                return Ok((o.bin(Sub, w, lr_g)?, vec![]));
            }
            let mu = scalar(o, opt.momentum);
            let kept = o.bin(Mul, mu, states[0])?;
            let velocity = o.bin(Sub, kept, lr_g)?;
            let step_w = if opt.nesterov {
                let ahead = o.bin(Mul, mu, velocity)?;
                o.bin(Sub, ahead, lr_g)?
            } else {
                velocity
            };
            Ok((o.bin(Add, w, step_w)?, vec![velocity]))
        }
        "adam" | "adamw" => {
            let (b1, b2) = (scalar(o, opt.beta_1), scalar(o, opt.beta_2));
            let one = o.scalar(1.0);
            let t = o.bin(Add, step, one)?;
            let (b1t, b2t) = (o.bin(Pow, b1, t)?, o.bin(Pow, b2, t)?);
            let (c1, c2) = (o.bin(Sub, one, b1t)?, o.bin(Sub, one, b2t)?);
            let root = o.un(UnaryKind::Sqrt, c2)?;
            let scaled = o.bin(Mul, lr, root)?;
            let lr_t = o.bin(Div, scaled, c1)?;
            // m += (g − m)(1 − β₁); v += (g² − v)(1 − β₂)
            let (k1, k2) = (scalar(o, 1.0 - opt.beta_1), scalar(o, 1.0 - opt.beta_2));
            let dm = o.bin(Sub, g, states[0])?;
            let dm = o.bin(Mul, dm, k1)?;
            let m = o.bin(Add, states[0], dm)?;
            let g2 = o.bin(Mul, g, g)?;
            let dv = o.bin(Sub, g2, states[1])?;
            let dv = o.bin(Mul, dv, k2)?;
            let v = o.bin(Add, states[1], dv)?;
            let eps = scalar(o, opt.epsilon);
            let sqrt_v = o.un(UnaryKind::Sqrt, v)?;
            let denom = o.bin(Add, sqrt_v, eps)?;
            let ratio = o.bin(Div, m, denom)?;
            let delta = o.bin(Mul, lr_t, ratio)?;
            // AdamW decays the weights by lr·wd before the Adam step, decoupled from the gradient.
            let w = if opt.kind == "adamw" && opt.weight_decay > 0.0 {
                let wd = scalar(o, opt.weight_decay);
                let rate = o.bin(Mul, lr, wd)?;
                let decay = o.bin(Mul, w, rate)?;
                o.bin(Sub, w, decay)?
            } else {
                w
            };
            Ok((o.bin(Sub, w, delta)?, vec![m, v]))
        }
        "rmsprop" => {
            let (rho, rest) = (scalar(o, opt.rho), scalar(o, 1.0 - opt.rho));
            let kept = o.bin(Mul, rho, states[0])?;
            let g2 = o.bin(Mul, g, g)?;
            let fresh = o.bin(Mul, rest, g2)?;
            let v = o.bin(Add, kept, fresh)?;
            let increment = scaled_step(o, opt, g, v, lr)?;
            if opt.momentum > 0.0 {
                let mu = scalar(o, opt.momentum);
                let carried = o.bin(Mul, mu, states[1])?;
                let momentum = o.bin(Add, carried, increment)?;
                Ok((o.bin(Sub, w, momentum)?, vec![v, momentum]))
            } else {
                Ok((o.bin(Sub, w, increment)?, vec![v]))
            }
        }
        "adagrad" => {
            let g2 = o.bin(Mul, g, g)?;
            let acc = o.bin(Add, states[0], g2)?;
            let increment = scaled_step(o, opt, g, acc, lr)?;
            Ok((o.bin(Sub, w, increment)?, vec![acc]))
        }
        other => Err(TrainError::Unsupported(format!("optimizer `{other}`"))),
    }
}

/// `lr·g / √(v + ε)`, Keras' RMSprop and Adagrad step.
fn scaled_step(o: &mut Ops, opt: &Optimizer, g: ValueId, v: ValueId, lr: ValueId) -> Result<ValueId, TrainError> {
    use BinaryKind::{Add, Div, Mul};
    let eps = o.scalar(opt.epsilon as f32);
    let shifted = o.bin(Add, v, eps)?;
    let root = o.un(UnaryKind::Sqrt, shifted)?;
    let lr_g = o.bin(Mul, lr, g)?;
    o.bin(Div, lr_g, root)
}
