//! The exact solvers of linear models: least squares and ridge by SVD, Lasso and Elastic Net by
//! coordinate descent, as scikit-learn fits them.
use std::path::Path;

use onyx_compiler::Spec;
use onyx_compiler::ir::{Graph, Regularizer, Tensor, ValueId};
use onyx_compiler::spec::TrainSpec;
use onyx_runtime::train::EpochLog;
use onyx_runtime::{HostTensor, metrics, solve};

use super::Progress;
use crate::Error;

/// The parameters of a linear model: one `dense` layer (a single Gemm), linear activation, a bias,
/// one unit, trained with mse.
pub(super) struct Linear {
    kernel: ValueId,
    bias: ValueId,
    regularizer: Option<Regularizer>,
}

/// The linear model the exact solvers fit, or an error naming `solver` and what is not linear.
pub(super) fn linear_model(path: &Path, train: &TrainSpec, spec: &Spec, graph: &Graph) -> Result<Linear, Error> {
    let refuse = |why: String| Error::NotLinear { spec: path.to_path_buf(), solver: train.solver.clone(), why };
    if train.loss.as_deref() != Some("mse") {
        return Err(refuse(match &train.loss {
            Some(loss) => format!("the loss is \"{loss}\""),
            None => "[train] names no loss".into(),
        }));
    }
    let [layer] = spec.layers.as_slice() else {
        let kinds: Vec<&str> = spec.layers.iter().map(|l| l.kind).collect();
        return Err(refuse(format!("the model has {} layers ({})", kinds.len(), kinds.join(", "))));
    };
    if layer.kind != "dense" {
        return Err(refuse(format!("its layer is a `{}` layer", layer.kind)));
    }
    let ops: Vec<&str> = graph.nodes.iter().map(|n| n.op.op_type()).filter(|&op| op != "Identity").collect();
    let [gemm] = graph.nodes.iter().filter(|n| n.op.op_type() == "Gemm").collect::<Vec<_>>()[..] else {
        return Err(refuse(format!("the dense layer lowers to {}", ops.join(", "))));
    };
    if ops.len() != 1 {
        return Err(refuse(format!("the dense layer has a non-linear activation ({})", ops.join(", "))));
    }
    let (Some(Some(kernel)), Some(Some(bias))) = (gemm.inputs.get(1), gemm.inputs.get(2)) else {
        return Err(refuse("the dense layer has no bias (use_bias = false)".into()));
    };
    let units = graph.value(*kernel).ty.shape.get(1).and_then(|d| d.fixed());
    if units != Some(1) {
        return Err(refuse(format!(
            "the dense layer has {} units, and onyx train fits one target column",
            units.map_or("unknown".into(), |u| u.to_string())
        )));
    }
    let regularizer = graph.value(*kernel).param.as_ref().and_then(|p| p.regularizer);
    Ok(Linear { kernel: *kernel, bias: *bias, regularizer })
}

/// A linear model fitted by an exact solver: the model with its weights, and how it went.
pub(super) struct Fitted {
    pub model: Graph,
    pub log: EpochLog,
    pub r2: f64,
    pub method: String,
    pub elapsed: f64,
    pub note: String,
}

/// Solves for the kernel and bias of `linear` on the (already standardized, when asked) training
/// rows and writes them into `model`; the one-row history holds Keras' loss (mse plus the
/// regularization penalty), the spec's regression metrics, and the same on the validation rows.
pub(super) fn fit_exactly(
    train: &TrainSpec,
    linear: &Linear,
    mut model: Graph,
    (x, y): (&HostTensor, &HostTensor),
    validation: Option<(&HostTensor, &HostTensor)>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Fitted, Error> {
    let started = std::time::Instant::now();
    let (xs, ys) = (x.to_f64_vec(), y.to_f64_vec());
    let n = ys.len();
    let p = xs.len() / n.max(1);
    let (l1, l2) = linear.regularizer.map_or((0.0, 0.0), |r| (r.l1 as f64, r.l2 as f64));
    let (coef, intercept, method, note) = match train.solver.as_str() {
        "lstsq" => {
            if l1 > 0.0 {
                return Err(Error::Solver {
                    solver: "lstsq".into(),
                    why: format!("fits least squares and ridge (an l2 regularizer), but the kernel has l1 = {l1}; use solver = \"cd\""),
                });
            }
            let (coef, intercept) = solve::lstsq(&xs, n, p, &ys, l2)?;
            let method = if l2 > 0.0 { format!("ridge regression (alpha = n·l2 = {})", solve::ridge_alpha(n, l2)) } else { "least squares".into() };
            (coef, intercept, method, String::new())
        }
        "cd" => {
            if l1 == 0.0 {
                return Err(Error::Solver {
                    solver: "cd".into(),
                    why: "fits Lasso and Elastic Net, but the kernel has no l1 regularizer; use solver = \"lstsq\" for least squares or ridge".into(),
                });
            }
            let (coef, intercept, sweeps) = solve::coordinate_descent(&xs, n, p, &ys, l1, l2, solve::DEFAULT_TOL, solve::DEFAULT_MAX_ITER)?;
            let (alpha, l1_ratio) = solve::elastic_net_params(l1, l2);
            let zeros = coef.iter().filter(|w| **w == 0.0).count();
            (
                coef,
                intercept,
                format!("coordinate descent (alpha = {alpha}, l1_ratio = {l1_ratio})"),
                format!("; {sweeps} sweeps, {zeros} of {p} weights zero"),
            )
        }
        other => return Err(Error::Solver { solver: other.into(), why: "has no exact solver".into() }),
    };
    let kernel: Vec<f32> = coef.iter().map(|&w| w as f32).collect();
    model.values[linear.kernel.0].init = Some(Tensor::from_f32(vec![p, 1], &kernel));
    model.values[linear.bias.0].init = Some(Tensor::from_f32(vec![1], &[intercept as f32]));

    let penalty = l1 * coef.iter().map(|w| w.abs()).sum::<f64>() + l2 * coef.iter().map(|w| w * w).sum::<f64>();
    let scores = |xs: &[f64], ys: &[f64]| -> (f64, Vec<(String, f64)>) {
        let predicted = solve::predict(xs, p, &coef, intercept);
        let metrics = train.metrics.iter().filter_map(|name| Some((name.clone(), metrics::regression(name, &predicted, ys)?))).collect();
        (metrics::mse(&predicted, ys) + penalty, metrics)
    };
    for name in train.metrics.iter().filter(|m| !matches!(m.as_str(), "mse" | "mae" | "rmse" | "r2")) {
        progress(Progress::Note(format!("warning: metric `{name}` does not apply to a linear regression; left out of the history")));
    }
    let (loss, metrics) = scores(&xs, &ys);
    let (val_loss, val_metrics) = match validation {
        Some((xv, yv)) => {
            let (l, m) = scores(&xv.to_f64_vec(), &yv.to_f64_vec());
            (Some(l), m)
        }
        None => (None, vec![]),
    };
    let r2 = solve::r2(&xs, p, &ys, &coef, intercept);
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Fitted { model, log: EpochLog { epoch: 1, loss, metrics, val_loss, val_metrics, seconds: elapsed }, r2, method, elapsed, note })
}
