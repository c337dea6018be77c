//! The declarative model spec (TOML, or JSON with the same schema): parsing and validation, with
//! every error naming the file, line, layer and field.
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::ir::DType;
use crate::layers::{self, Arity, Layer, LayerError};
use crate::transfer::{self, BaseSpec};

mod error;
pub mod raw;
mod source;
pub mod train;

pub use error::SpecError;
pub use source::{Format, Seg, Source};
pub use train::TrainSpec;

#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub name: String,
    /// Per sample; the batch dimension is added in front.
    pub shape: Vec<usize>,
    pub dtype: DType,
}

#[derive(Debug)]
pub struct LayerSpec {
    /// Position in the file, from 0.
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    /// Names of the layers or model inputs it reads.
    pub inputs: Vec<String>,
    pub layer: Box<dyn Layer>,
}

#[derive(Debug)]
pub struct Spec {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub inputs: Vec<InputSpec>,
    /// In file order.
    pub layers: Vec<LayerSpec>,
    /// Indices into `layers` in an order where every layer comes after its inputs.
    pub order: Vec<usize>,
    pub outputs: Vec<String>,
    pub train: Option<TrainSpec>,
    /// A pretrained model in place of `inputs` (then empty): the first layer reads its cut.
    pub base: Option<BaseSpec>,
    /// Per-channel (mean, std) applied to the input by the model's first nodes, so that it takes raw
    /// values (pixels 0–255).
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
    /// The image input's layout, where the spec sets it (else it is read from the input's shape).
    pub layout: Option<crate::image_format::Layout>,
    /// The order of the color channels, where `normalize` sets it.
    pub channels: Option<crate::image_format::ChannelOrder>,
    pub source: Source,
}

/// The seed used when a spec gives none, so that compiling twice still gives the same bytes.
pub const DEFAULT_SEED: u64 = 0;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

impl Source {
    /// An error at `path` (its line), inside layer `layer` (0-based) when given.
    pub fn error(&self, path: &[Seg], layer: Option<usize>, field: Option<&str>, message: impl Into<String>) -> SpecError {
        let line = self.locate(path).map(|span| self.line_of(span.start));
        let layer_name = layer.and_then(|i| self.scalar_text(&[key("layer"), Seg::Index(i), key("name")]));
        SpecError {
            file: self.path.clone(),
            line,
            layer: layer.map(|i| i + 1),
            layer_name,
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// An error inside layer `index`, at `field` when the layer error names one.
    pub fn layer_error(&self, index: usize, e: LayerError) -> SpecError {
        let mut path = vec![key("layer"), Seg::Index(index)];
        if let Some(f) = e.field
            && self.locate(&[key("layer"), Seg::Index(index), key(f)]).is_some()
        {
            path.push(key(f));
        }
        self.error(&path, Some(index), e.field, e.message)
    }

    /// Places a serde error (given as a byte offset) at the layer and field that hold it.
    fn serde_error(&self, offset: Option<usize>, message: String) -> SpecError {
        let path = offset.map(|o| self.path_at(o)).unwrap_or_default();
        let layer = match path.as_slice() {
            [Seg::Key(k), Seg::Index(i), ..] if k == "layer" => Some(*i),
            _ => None,
        };
        let field = match path.as_slice() {
            [Seg::Key(k), Seg::Index(_), Seg::Key(f), ..] if k == "layer" => Some(f.clone()),
            [Seg::Key(_), Seg::Key(f), ..] => Some(f.clone()),
            _ => None,
        };
        let mut message = message;
        // Unknown keys: serde lists every field of every layer kind; name the ones this kind takes.
        if let (Some(i), Some(unknown)) = (layer, message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())) {
            let kind = self.scalar_text(&[key("layer"), Seg::Index(i), key("kind")]).unwrap_or_default();
            let unknown = unknown.to_string();
            message = match layers::find(&kind) {
                Some(def) => unknown_field_message(&unknown, &kind, def.fields),
                None => format!("unknown field `{unknown}`"),
            };
        }
        let mut e = self.error(&[], layer, field.as_deref(), message);
        e.line = offset.map(|o| self.line_of(o));
        e
    }
}

fn unknown_field_message(field: &str, kind: &str, allowed: &[&str]) -> String {
    let all: Vec<&str> = ["kind", "name", "inputs"].iter().chain(allowed).copied().collect();
    let close = all.iter().map(|a| (strsim::levenshtein(field, a), *a)).filter(|(d, _)| *d <= 2).min();
    let hint = close.map(|(_, a)| format!(" (did you mean `{a}`?)")).unwrap_or_default();
    format!("unknown field `{field}` for a `{kind}` layer{hint}; it takes: {}", all.join(", "))
}

impl Spec {
    pub fn from_file(path: &Path) -> Result<Spec, SpecError> {
        let text = read_text(path)?;
        Spec::parse(path, text)
    }

    /// Parses `text`; `path` names it in errors and chooses the format by extension (`.json` or TOML).
    pub fn parse(path: &Path, text: String) -> Result<Spec, SpecError> {
        let source = Source::new(path, text);
        let raw: raw::RawSpec = deserialize(&source)?;
        build(raw, source)
    }

    /// The spec's `[train]` table as JSON, as `compile` stores it in the model's metadata
    /// (`onyx.train`) so that training can continue from the `.onnx` alone, as Keras keeps a model's
    /// compile settings.
    pub fn train_json(&self) -> Option<String> {
        let value: serde_json::Value = match self.source.format {
            Format::Toml => serde_json::to_value(toml::from_str::<toml::Value>(&self.source.text).ok()?).ok()?,
            Format::Json => serde_json::from_str(&self.source.text).ok()?,
        };
        Some(serde_json::json!({ "train": value.get("train")? }).to_string())
    }
}

/// A spec file's text, or an error naming the file.
fn read_text(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.to_path_buf(),
        line: None,
        layer: None,
        layer_name: None,
        field: None,
        message: format!("cannot read: {e}"),
    })
}

/// Reads a file of training settings, a `[train]` table alone (TOML, or JSON by extension).
pub fn train_from_file(path: &Path) -> Result<TrainSpec, SpecError> {
    let text = read_text(path)?;
    parse_train(path, text)
}

/// Parses training settings alone; `path` names them in errors and chooses the format.
pub fn parse_train(path: &Path, text: String) -> Result<TrainSpec, SpecError> {
    let source = Source::new(path, text);
    let raw: raw::RawTrainFile = deserialize(&source)?;
    train_section(&raw.train, &source)
}

fn deserialize<T: serde::de::DeserializeOwned>(source: &Source) -> Result<T, SpecError> {
    match source.format {
        Format::Toml => toml::from_str(&source.text).map_err(|e| source.serde_error(e.span().map(|s| s.start), e.message().to_string())),
        Format::Json => serde_json::from_str(&source.text).map_err(|e| {
            let offset = (e.line() > 0).then(|| source.offset_of(e.line(), e.column()));
            let message = e.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            source.serde_error(offset, message)
        }),
    }
}

/// The `[train]` table checked, an error pointing at the deepest key of the path that exists.
fn train_section(t: &raw::RawTrain, source: &Source) -> Result<TrainSpec, SpecError> {
    train::parse(t).map_err(|(path, message)| {
        let mut full = vec![key("train")];
        full.extend(path.iter().map(|p| key(p)));
        let found = (1..=full.len()).rev().find(|n| source.locate(&full[..*n]).is_some()).unwrap_or(1);
        source.error(&full[..found], None, Some(&path.join(".")), message)
    })
}

impl Spec {
    pub fn layer(&self, name: &str) -> Option<&LayerSpec> {
        self.layers.iter().find(|l| l.name == name)
    }
}

fn build(raw: raw::RawSpec, source: Source) -> Result<Spec, SpecError> {
    let model = &raw.model;
    let at_model = |field: &str, message: String| source.error(&[key("model"), key(field)], None, Some(field), message);
    if model.name.trim().is_empty() {
        return Err(at_model("name", "must not be empty".into()));
    }
    let base = match &model.base {
        Some(_) if model.input.is_some() || model.inputs.is_some() => {
            return Err(at_model("base", "a base gives the model its input: leave out `input` and `inputs`".into()));
        }
        Some(b) => {
            let name = b.name.clone().unwrap_or_else(|| "base".into());
            if name.trim().is_empty() {
                return Err(at_model("base", "`name` must not be empty".into()));
            }
            if b.cut.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err(at_model("base", "`cut` must name a tensor".into()));
            }
            Some(BaseSpec {
                name,
                onnx: transfer::resolve(&source.path, &b.onnx),
                cut: b.cut.clone(),
                trainable: b.trainable.unwrap_or(false),
                trainable_from: b.trainable_from.clone(),
            })
        }
        None => None,
    };
    let normalize = match &model.normalize {
        None => None,
        Some(n) if n.mean.is_empty() || n.mean.len() != n.std.len() => {
            return Err(at_model(
                "normalize",
                format!("give one mean and one std per channel (or one of each for all): {} means, {} stds", n.mean.len(), n.std.len()),
            ));
        }
        Some(n) if n.std.iter().any(|&s| !(s > 0.0 && s.is_finite())) || n.mean.iter().any(|m| !m.is_finite()) => {
            return Err(at_model("normalize", "means must be finite and stds positive".into()));
        }
        Some(n) => Some((n.mean.iter().map(|&v| v as f32).collect(), n.std.iter().map(|&v| v as f32).collect())),
    };
    let layout = match model.layout.as_deref() {
        None => None,
        Some(l) => Some(
            crate::image_format::Layout::parse(l)
                .ok_or_else(|| at_model("layout", format!("`{l}` is not a layout; expected \"nchw\" or \"nhwc\"")))?,
        ),
    };
    let channels = match model.normalize.as_ref().and_then(|n| n.channels.as_deref()) {
        None => None,
        Some(c) => Some(
            crate::image_format::ChannelOrder::parse(c)
                .ok_or_else(|| at_model("normalize", format!("channels: `{c}` is not a channel order; expected \"rgb\" or \"bgr\"")))?,
        ),
    };
    let raw_inputs: Vec<&raw::RawInput> = match (&model.input, &model.inputs) {
        _ if base.is_some() => vec![],
        (Some(i), None) => vec![i],
        (None, Some(list)) if !list.is_empty() => list.iter().collect(),
        (Some(_), Some(_)) => return Err(at_model("inputs", "give `input` or `inputs`, not both".into())),
        _ => return Err(source.error(&[key("model")], None, Some("input"), "is required: `input = { name = \"x\", shape = [4] }`")),
    };
    let input_field = if model.input.is_some() { "input" } else { "inputs" };
    let mut inputs = vec![];
    for r in raw_inputs {
        let dtype = match r.dtype.as_deref() {
            None => DType::F32,
            Some(d) => DType::parse(d).ok_or_else(|| at_model(input_field, format!("unknown dtype `{d}`")))?,
        };
        if r.shape.is_empty() || r.shape.contains(&0) {
            return Err(at_model(input_field, format!("input `{}` needs a per-sample shape of positive sizes", r.name)));
        }
        let max = crate::layers::MAX_SIZE;
        if let Some(d) = r.shape.iter().find(|&&d| d > max) {
            return Err(at_model(input_field, format!("input `{}`: size {d} is beyond onyx's bound on a spec's sizes, {max}", r.name)));
        }
        let elements = r.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n <= max * max);
        if elements.is_none() {
            return Err(at_model(
                input_field,
                format!("input `{}`: a sample of {:?} is beyond onyx's bound of {} values", r.name, r.shape, max * max),
            ));
        }
        if inputs.iter().any(|i: &InputSpec| i.name == r.name) {
            return Err(at_model(input_field, format!("two inputs are named `{}`", r.name)));
        }
        inputs.push(InputSpec { name: r.name.clone(), shape: r.shape.iter().map(|&d| d as usize).collect(), dtype });
    }
    if raw.layer.is_empty() {
        return Err(source.error(&[], None, Some("layer"), "the spec has no [[layer]]"));
    }

    let mut layers: Vec<LayerSpec> = vec![];
    let mut taken: BTreeSet<String> = inputs.iter().map(|i| i.name.clone()).chain(base.as_ref().map(|b| b.name.clone())).collect();
    let mut counters: HashMap<&str, usize> = HashMap::new();
    for (index, r) in raw.layer.iter().enumerate() {
        let here = |field: &str| vec![key("layer"), Seg::Index(index), key(field)];
        let def = layers::find(&r.kind).ok_or_else(|| {
            let kinds: Vec<&str> = layers::LAYERS.iter().map(|d| d.kind).collect();
            source.error(&here("kind"), Some(index), Some("kind"), format!("unknown layer kind `{}`; expected one of: {}", r.kind, kinds.join(", ")))
        })?;
        for field in source.keys(&[key("layer"), Seg::Index(index)]) {
            if !["kind", "name", "inputs"].contains(&field.as_str()) && !def.fields.contains(&field.as_str()) {
                return Err(source.error(&here(&field), Some(index), Some(&field), unknown_field_message(&field, def.kind, def.fields)));
            }
        }
        let layer = (def.parse)(r).map_err(|e| source.layer_error(index, e))?;
        let name = match &r.name {
            Some(n) if n.trim().is_empty() => return Err(source.error(&here("name"), Some(index), Some("name"), "must not be empty")),
            Some(n) if taken.contains(n) => {
                return Err(source.error(&here("name"), Some(index), Some("name"), format!("`{n}` names another layer or input")));
            }
            Some(n) => n.clone(),
            None => loop {
                // Keras' automatic names: dense, dense_1, dense_2...
                let count = counters.entry(def.kind).or_insert(0);
                let candidate = if *count == 0 { def.kind.to_string() } else { format!("{}_{}", def.kind, count) };
                *count += 1;
                if !taken.contains(&candidate) {
                    break candidate;
                }
            },
        };
        taken.insert(name.clone());
        let layer_inputs = match &r.inputs {
            Some(list) => list.clone(),
            None if index == 0 && inputs.len() > 1 => {
                return Err(source.error(
                    &[key("layer"), Seg::Index(index)],
                    Some(index),
                    Some("inputs"),
                    "the model has several inputs: name the ones this layer reads",
                ));
            }
            None if index == 0 => vec![base.as_ref().map_or_else(|| inputs[0].name.clone(), |b| b.name.clone())],
            None => vec![layers[index - 1].name.clone()],
        };
        let arity_ok = match layer.arity() {
            Arity::One => layer_inputs.len() == 1,
            Arity::Many => layer_inputs.len() >= 2,
        };
        if !arity_ok {
            let want = if layer.arity() == Arity::One { "exactly one input" } else { "two or more inputs" };
            let path = if r.inputs.is_some() { here("inputs") } else { vec![key("layer"), Seg::Index(index)] };
            return Err(source.error(&path, Some(index), Some("inputs"), format!("a `{}` layer takes {want}, got {}", def.kind, layer_inputs.len())));
        }
        layers.push(LayerSpec { index, name, kind: def.kind, inputs: layer_inputs, layer });
    }

    // Every named input must exist.
    for l in &layers {
        for i in &l.inputs {
            if !layers.iter().any(|o| &o.name == i) && !inputs.iter().any(|x| &x.name == i) && base.as_ref().is_none_or(|b| &b.name != i) {
                let path = vec![key("layer"), Seg::Index(l.index), key("inputs")];
                return Err(source.error(&path, Some(l.index), Some("inputs"), format!("`{i}` is neither a layer nor a model input")));
            }
        }
    }
    let order = topological_order(&layers).map_err(|cycle| {
        let first = cycle[0];
        let names: Vec<&str> = cycle.iter().map(|&i| layers[i].name.as_str()).collect();
        let path = vec![key("layer"), Seg::Index(first), key("inputs")];
        source.error(&path, Some(first), Some("inputs"), format!("the layers {} form a cycle", names.join(" → ")))
    })?;

    let outputs = match &model.outputs {
        Some(list) => {
            for o in list {
                if !layers.iter().any(|l| &l.name == o) {
                    return Err(at_model("outputs", format!("`{o}` is not a layer")));
                }
            }
            list.clone()
        }
        None => vec![layers[layers.len() - 1].name.clone()],
    };
    // A layer no output depends on is almost always a wiring mistake.
    let mut used: BTreeSet<&str> = outputs.iter().map(String::as_str).collect();
    for &i in order.iter().rev() {
        if used.contains(layers[i].name.as_str()) {
            used.extend(layers[i].inputs.iter().map(String::as_str));
        }
    }
    if let Some(unused) = layers.iter().find(|l| !used.contains(l.name.as_str())) {
        return Err(source.error(
            &[key("layer"), Seg::Index(unused.index)],
            Some(unused.index),
            None,
            "no model output depends on this layer; wire it with `inputs` or remove it",
        ));
    }

    let train = raw.train.as_ref().map(|t| train_section(t, &source)).transpose()?;
    Ok(Spec {
        name: model.name.clone(),
        description: model.description.clone(),
        seed: model.seed.unwrap_or(DEFAULT_SEED),
        inputs,
        layers,
        order,
        outputs,
        train,
        base,
        normalize,
        layout,
        channels,
        source,
    })
}

/// Kahn's algorithm, taking layers in file order when free; on a cycle, returns its members.
fn topological_order(layers: &[LayerSpec]) -> Result<Vec<usize>, Vec<usize>> {
    let index: HashMap<&str, usize> = layers.iter().map(|l| (l.name.as_str(), l.index)).collect();
    let deps: Vec<Vec<usize>> = layers.iter().map(|l| l.inputs.iter().filter_map(|i| index.get(i.as_str()).copied()).collect()).collect();
    let mut done = vec![false; layers.len()];
    let mut order = vec![];
    while order.len() < layers.len() {
        match (0..layers.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d])) {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                // Walk back through unfinished inputs until a layer repeats: that loop is the cycle.
                let mut path = vec![(0..layers.len()).find(|&i| !done[i]).unwrap_or(0)];
                loop {
                    let last = path[path.len() - 1];
                    let next = deps[last].iter().copied().find(|&d| !done[d]).unwrap_or(last);
                    if let Some(start) = path.iter().position(|&p| p == next) {
                        let mut cycle = path[start..].to_vec();
                        cycle.reverse();
                        return Err(cycle);
                    }
                    path.push(next);
                }
            }
        }
    }
    Ok(order)
}
