//! Warm start: a model's weights copied from another model file, by name and shape, as Keras'
//! `load_weights(by_name=True, skip_mismatch=True)`.
use crate::ir::Graph;

/// What a warm start copied and what it left as initialized.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WarmStart {
    pub copied: Vec<String>,
    /// Weights of the model the other file has under the same name with another shape or type:
    /// (name, why).
    pub mismatched: Vec<(String, String)>,
    /// Weights of the model the other file lacks.
    pub missing: Vec<String>,
    /// Initializers of the other file the model has no weight for.
    pub unused: Vec<String>,
}

/// Copies into `model`'s weights (parameters, trainable or not) every initializer of `from` with
/// the same name, element type and shape.
pub fn warm_start(model: &mut Graph, from: &Graph) -> WarmStart {
    let mut report = WarmStart::default();
    let weights: Vec<usize> = model.values.iter().enumerate().filter(|(_, v)| v.param.is_some() && v.init.is_some()).map(|(i, _)| i).collect();
    for &i in &weights {
        let name = model.values[i].name.clone();
        let source = from.find_value(&name).and_then(|id| from.value(id).init.as_ref());
        match (source, model.values[i].init.as_ref()) {
            (Some(s), Some(t)) if s.dtype == t.dtype && s.dims == t.dims => {
                model.values[i].init = Some(s.clone());
                report.copied.push(name);
            }
            (Some(s), Some(t)) => {
                report.mismatched.push((name, format!("{}{:?} in the file, {}{:?} in the model", s.dtype, s.dims, t.dtype, t.dims)))
            }
            _ => report.missing.push(name),
        }
    }
    report.unused = from
        .values
        .iter()
        .filter(|v| v.param.is_some() && v.init.is_some() && !weights.iter().any(|&i| model.values[i].name == v.name))
        .map(|v| v.name.clone())
        .collect();
    report
}
