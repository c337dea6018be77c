//! ONNX back into the IR, the inverse of [`to_onnx`](crate::export::to_onnx): initializers, graph inputs,
//! then each node in file order through the op table, running its shape rule as the builder does.
//!
//! The default ONNX domain is read at opsets 9 to 21: each node is first rewritten into the opset-17
//! form onyx writes (`upgrade`), and nodes whose values are known at import time become initializers
//! (`fold`). Other domains are an error that says so rather than a silent reinterpretation.
use std::collections::{HashMap, HashSet};

use onyx_proto::onnx::{
    GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, tensor_proto::DataLocation, tensor_shape_proto::dimension, type_proto,
};

use crate::export::OPSET;
use crate::ir::{DType, Dim, Graph, Node, ParamInfo, Tensor, TensorType, Value, ValueId};
use crate::ops::{self, OpError};

mod contrib;
mod eval;
mod fold;
pub mod ml;
pub mod upgrade;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the model has no graph")]
    NoGraph,
    #[error("the model does not import the default ONNX domain; onyx reads opset {OPSET} of it")]
    NoOpset,
    #[error(
        "the model imports opset {version} of the default ONNX domain; onyx reads opsets {} to {} (and writes {OPSET})",
        upgrade::OLDEST,
        upgrade::NEWEST
    )]
    Opset { version: i64 },
    #[error("initializer `{name}`: {message}")]
    Initializer { name: String, message: String },
    #[error("graph input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error(
        "{node}: domain `{domain}` is not supported; onyx reads the default ONNX domain, lowers scikit-learn's linear models of `ai.onnx.ml` and ONNX Runtime's DynamicQuantizeLSTM of `com.microsoft`"
    )]
    Domain { node: String, domain: String },
    #[error(
        "{node}: its condition `{cond}` depends on {inputs} at run time, so the branch cannot be chosen at import, and both cannot be computed and one picked: {why}; an If is inlined when its condition folds to a constant, as it does when it reads only input shapes given with --input-shape or inputs bound with --input-value"
    )]
    RunTimeCondition { node: String, cond: String, inputs: String, why: String },
    #[error("{node}: op `{op}` (opset {opset}) is not one onyx can represent")]
    UnsupportedOp { node: String, op: String, opset: i64 },
    #[error("{node}: cannot convert from opset {opset} to {OPSET}: {message}")]
    Upgrade { node: String, opset: i64, message: String },
    #[error("{node}: cannot lower into default-domain ops: {message}")]
    Lower { node: String, message: String },
    #[error("{node}: cannot fold: {message}")]
    Fold { node: String, message: String },
    #[error("{node}: input `{value}` is not defined by an initializer, a graph input or an earlier node")]
    UndefinedValue { node: String, value: String },
    #[error("{node}: {source}")]
    Op { node: String, source: OpError },
    #[error("{node}: names {listed} outputs, but the op has {produced}")]
    TooManyOutputs { node: String, listed: usize, produced: usize },
    #[error("value `{name}` is defined twice (second time by {by})")]
    Redefined { name: String, by: String },
    #[error("graph output `{name}` is not defined by an initializer, a graph input or a node")]
    UndefinedOutput { name: String },
    #[error("the graph has sparse initializers, which onyx does not read")]
    SparseInitializer,
}

/// How messages name a node: by its name, or by its position when it has none.
fn node_label(index: usize, name: &str, op_type: &str) -> String {
    if name.is_empty() { format!("node #{index} ({op_type})") } else { format!("node `{name}` ({op_type})") }
}

/// The model as the file declares it: an input's dimension without a size stays symbolic.
pub fn import(model: &ModelProto) -> Result<Graph, ImportError> {
    import_with_shapes(model, &[])
}

/// The model with some inputs' shapes given (`(input name, dimensions)`), in place of those the file
/// declares: each given shape has the declared rank and agrees with every size the file fixes, and
/// may keep a dimension symbolic (`Dim::Sym("N")` for the batch). Exporters leave image sizes and
/// sequence lengths open, where convolutions and the IR need them known; with them known, the shape
/// arithmetic between a `Shape` and a `Reshape` (and the `If` it decides) folds to constants at
/// import. A name that is not a graph input is an error.
pub fn import_with_shapes(model: &ModelProto, shapes: &[(String, Vec<Dim>)]) -> Result<Graph, ImportError> {
    import_with_values(model, shapes, &[])
}

/// [`import_with_shapes`], with some inputs bound to values (`(input name, tensor)`): each becomes a
/// constant of the graph and is no longer an input, so that what depends on it alone folds at
/// import, an `If` on it included (silero-vad's sample rate). The value must have the input's type
/// and agree with its declared shape.
pub fn import_with_values(model: &ModelProto, shapes: &[(String, Vec<Dim>)], values: &[(String, Tensor)]) -> Result<Graph, ImportError> {
    let g = model.graph.as_ref().ok_or(ImportError::NoGraph)?;
    if !g.sparse_initializer.is_empty() {
        return Err(ImportError::SparseInitializer);
    }
    let mut graph = Graph::new(g.name.clone().unwrap_or_default());
    graph.metadata = model.metadata_props.iter().map(|p| (p.key.clone().unwrap_or_default(), p.value.clone().unwrap_or_default())).collect();
    // Float initializers onyx wrote as constants rather than weights; export lists them afresh.
    let constants = graph.metadata_names(crate::export::CONSTANTS_KEY);
    let frozen = graph.metadata_names(crate::export::FROZEN_KEY);
    graph.metadata.retain(|(k, _)| k != crate::export::CONSTANTS_KEY && k != crate::export::FROZEN_KEY);
    // Every name the file uses, so that names made up for unnamed outputs cannot collide.
    let mut taken: HashSet<String> = g.initializer.iter().filter_map(|t| t.name.clone()).collect();
    taken.extend(g.input.iter().filter_map(|v| v.name.clone()));
    taken.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
    // The names `If` branches use, which inlining a branch brings into the graph.
    for b in subgraphs(&g.node) {
        taken.extend(b.initializer.iter().filter_map(|t| t.name.clone()));
        taken.extend(b.node.iter().flat_map(|n| n.output.iter().cloned()));
    }
    let mut by_name: HashMap<String, ValueId> = HashMap::new();
    // Every name something reads: an optional output nothing reads may be left off.
    let mut read: HashSet<String> =
        g.node.iter().flat_map(|n| n.input.iter().cloned()).chain(g.output.iter().filter_map(|v| v.name.clone())).collect();
    for b in subgraphs(&g.node) {
        read.extend(b.node.iter().flat_map(|n| n.input.iter().cloned()).chain(b.output.iter().filter_map(|v| v.name.clone())));
    }

    for t in &g.initializer {
        let name = t.name.clone().unwrap_or_default();
        let tensor = read_tensor(t).map_err(|message| ImportError::Initializer { name: name.clone(), message })?;
        let ty = tensor.ty();
        let param = (tensor.dtype.is_float() && !constants.contains(&name)).then(|| ParamInfo {
            trainable: !frozen.contains(&name),
            regularizer: None,
            layer: String::new(),
        });
        define(&mut graph, &mut by_name, Value { name, ty, init: Some(tensor), param }, &|| "an initializer".into())?;
    }
    let initializers: HashSet<&str> = g.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    for vi in &g.input {
        let name = vi.name.clone().unwrap_or_default();
        // Older exporters list initializers among the inputs as well.
        if initializers.contains(name.as_str()) {
            continue;
        }
        let mut ty = read_type(vi).map_err(|message| ImportError::Input { name: name.clone(), message })?;
        if let Some((_, dims)) = shapes.iter().find(|(n, _)| *n == name) {
            ty = given_shape(&ty, dims).map_err(|message| ImportError::Input { name: name.clone(), message })?;
        }
        if let Some((_, value)) = values.iter().find(|(n, _)| *n == name) {
            let bad = |message: String| ImportError::Input { name: name.clone(), message };
            if value.dtype != ty.dtype {
                return Err(bad(format!("is bound to {} values, but the model takes {}", value.dtype, ty.dtype)));
            }
            given_shape(&ty, &value.ty().shape)
                .map_err(|_| bad(format!("is bound to a value of shape {:?}, but the model declares {ty}", value.dims)))?;
            define(&mut graph, &mut by_name, Value { name: name.clone(), ty: value.ty(), init: Some(value.clone()), param: None }, &|| {
                "a bound input".into()
            })?;
            continue;
        }
        let id = define(&mut graph, &mut by_name, Value { name, ty, init: None, param: None }, &|| "a graph input".into())?;
        graph.inputs.push(id);
    }

    let declared: HashSet<&str> = g.input.iter().filter_map(|v| v.name.as_deref()).filter(|n| !initializers.contains(n)).collect();
    if let Some(name) = shapes.iter().map(|(n, _)| n).chain(values.iter().map(|(n, _)| n)).find(|n| !declared.contains(n.as_str())) {
        let mut names: Vec<&str> = declared.into_iter().collect();
        names.sort();
        return Err(ImportError::Input { name: name.clone(), message: format!("is not an input of the model (its inputs: {})", names.join(", ")) });
    }
    let version = check_opset(model)?;
    let mut reader =
        Reader { graph: &mut graph, by_name: &mut by_name, taken: &mut taken, constants: &constants, read: &read, version, dropped: vec![] };
    for (index, n) in g.node.iter().enumerate() {
        reader.read_node(n, index)?;
    }

    // Graph outputs that are not tensors are left out, and named in the metadata.
    let dropped = std::mem::take(&mut reader.dropped);
    let outputs: Vec<&ValueInfoProto> = g.output.iter().filter(|vi| !dropped.iter().any(|(d, _)| Some(d) == vi.name.as_ref())).collect();
    if !dropped.is_empty() {
        let note = dropped.iter().map(|(name, by)| format!("{name}: made by {by}, which the IR cannot hold")).collect::<Vec<_>>().join("; ");
        graph.metadata.push((ml::DROPPED_KEY.to_string(), note));
    }
    graph.outputs = outputs
        .into_iter()
        .map(|vi| {
            let name = vi.name.clone().unwrap_or_default();
            by_name.get(&name).copied().ok_or(ImportError::UndefinedOutput { name })
        })
        .collect::<Result<_, _>>()?;
    Ok(graph)
}

/// The type `declared` takes with the dimensions `dims` a caller gives: the same rank, and every size
/// the file fixes kept.
fn given_shape(declared: &TensorType, dims: &[Dim]) -> Result<TensorType, String> {
    let shape = |d: &[Dim]| d.iter().map(Dim::to_string).collect::<Vec<_>>().join(", ");
    if dims.len() != declared.rank() {
        return Err(format!("is given the shape [{}] of rank {}, but the model declares [{}]", shape(dims), dims.len(), shape(&declared.shape)));
    }
    for (i, (given, file)) in dims.iter().zip(&declared.shape).enumerate() {
        if let (Dim::Fixed(file), Some(given)) = (file, given.fixed())
            && *file != given
        {
            return Err(format!("is given size {given} in dimension {i}, but the model fixes it at {file}"));
        }
    }
    let ty = TensorType::new(
        declared.dtype,
        dims.iter()
            .zip(&declared.shape)
            .map(|(g, f)| {
                if g.fixed().is_some() {
                    g.clone()
                } else if f.fixed().is_some() {
                    f.clone()
                } else {
                    g.clone()
                }
            })
            .collect(),
    );
    if ty.bounded_elements().is_none() {
        return Err(format!("is given {ty}, more than the {} elements any tensor may hold", crate::ir::MAX_ELEMENTS));
    }
    Ok(ty)
}

/// Adds a value under its (so far unused) name; `by` says what defines it, for the error.
fn define(graph: &mut Graph, by_name: &mut HashMap<String, ValueId>, value: Value, by: &dyn Fn() -> String) -> Result<ValueId, ImportError> {
    if by_name.contains_key(&value.name) {
        return Err(ImportError::Redefined { name: value.name, by: by() });
    }
    let name = value.name.clone();
    let id = graph.add_value(value);
    by_name.insert(name, id);
    Ok(id)
}

/// The default domain's opset, which must be one the importer reads.
fn check_opset(model: &ModelProto) -> Result<i64, ImportError> {
    let default = model.opset_import.iter().find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx"))).ok_or(ImportError::NoOpset)?;
    match default.version {
        Some(v) if (upgrade::OLDEST..=upgrade::NEWEST).contains(&v) => Ok(v),
        version => Err(ImportError::Opset { version: version.unwrap_or(0) }),
    }
}

/// `base`, or `base_1`, `base_2`... if the file already uses it.
fn fresh_name(taken: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut i = 0;
    while taken.contains(&name) {
        i += 1;
        name = format!("{base}_{i}");
    }
    taken.insert(name.clone());
    name
}

/// A value's type from its ValueInfo: a tensor of a known element type and rank. A dimension with
/// neither a size nor a name gets a name of its own.
pub fn read_type(vi: &ValueInfoProto) -> Result<TensorType, String> {
    let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err("is not a tensor".into());
    };
    let code = t.elem_type.unwrap_or(0);
    let dtype = DType::from_onnx_code(code).ok_or_else(|| format!("element type {code} is not supported"))?;
    let shape = t.shape.as_ref().ok_or("has no shape (unknown rank)")?;
    let name = vi.name.as_deref().unwrap_or_default();
    let dims = shape
        .dim
        .iter()
        .enumerate()
        .map(|(i, d)| match &d.value {
            // Paddle and older exporters write -1 for a size known only at run time.
            Some(dimension::Value::DimValue(-1)) => Ok(Dim::Sym(format!("{name}_dim{i}"))),
            Some(dimension::Value::DimValue(n)) => usize::try_from(*n).map(Dim::Fixed).map_err(|_| format!("dimension {i} is negative ({n})")),
            Some(dimension::Value::DimParam(s)) if !s.is_empty() => Ok(Dim::Sym(s.clone())),
            _ => Ok(Dim::Sym(format!("{name}_dim{i}"))),
        })
        .collect::<Result<_, _>>()?;
    let ty = TensorType::new(dtype, dims);
    if ty.bounded_elements().is_none() {
        return Err(format!("declares {ty}, more than the {} elements any tensor may hold", crate::ir::MAX_ELEMENTS));
    }
    Ok(ty)
}

/// An initializer's data, from `raw_data` or from the typed field its element type uses.
pub fn read_tensor(t: &TensorProto) -> Result<Tensor, String> {
    let code = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx_code(code).ok_or_else(|| format!("element type {code} is not supported"))?;
    if t.data_location == Some(DataLocation::External as i32) {
        return Err("its data is external and has not been loaded".into());
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let dims: Vec<usize> = t.dims.iter().map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative"))).collect::<Result<_, _>>()?;
    let len: usize = dims.iter().product();
    let data: Vec<u8> = match &t.raw_data {
        Some(raw) => raw.clone(),
        None => match dtype {
            DType::F32 => t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::F64 => t.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I64 => t.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::I32 => t.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            // ONNX keeps these in int32_data, one element (float16 and bfloat16: its bits) per entry.
            DType::F16 | DType::BF16 | DType::U16 => t.int32_data.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect(),
            DType::I16 => t.int32_data.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect(),
            DType::U32 => t.uint64_data.iter().flat_map(|&v| (v as u32).to_le_bytes()).collect(),
            DType::U64 => t.uint64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            DType::U8 | DType::Bool => t.int32_data.iter().map(|&v| v as u8).collect(),
            DType::I8 => t.int32_data.iter().map(|&v| v as i8 as u8).collect(),
        },
    };
    if data.len() != len * dtype.size_of() {
        return Err(format!("holds {} bytes of {dtype}, but its shape {dims:?} needs {}", data.len(), len * dtype.size_of()));
    }
    Ok(Tensor { dtype, dims, data })
}

/// The graph being read, with its names: what the opset rules and folding see.
struct Reader<'a> {
    graph: &'a mut Graph,
    by_name: &'a mut HashMap<String, ValueId>,
    taken: &'a mut HashSet<String>,
    /// Float initializers the file lists as constants rather than weights.
    constants: &'a HashSet<String>,
    /// The names nodes and graph outputs read.
    read: &'a HashSet<String>,
    /// The default domain's opset the file imports.
    version: i64,
    /// Values the IR cannot hold (a ZipMap's maps), with the node that made them.
    dropped: Vec<(String, String)>,
}

/// Every graph an attribute of these nodes holds (`If` branches, `Loop` and `Scan` bodies), and
/// those the graphs' own nodes hold, depth first.
fn subgraphs(nodes: &[NodeProto]) -> Vec<&GraphProto> {
    let mut out = vec![];
    for n in nodes {
        for a in &n.attribute {
            for g in a.g.as_deref().into_iter().chain(&a.graphs) {
                out.push(g);
                out.extend(subgraphs(&g.node));
            }
        }
    }
    out
}

impl upgrade::Known for Reader<'_> {
    fn ty(&self, name: &str) -> Option<TensorType> {
        self.by_name.get(name).map(|&id| self.graph.value(id).ty.clone())
    }

    fn constant(&self, name: &str) -> Option<Tensor> {
        self.by_name.get(name).and_then(|&id| self.graph.value(id).init.clone())
    }

    fn fresh(&mut self, base: &str) -> String {
        fresh_name(self.taken, base)
    }
}

impl Reader<'_> {
    /// Reads one node of the file (`index`: its position, for messages): converted to opset 17,
    /// folded or added through the op table; an `If` is replaced by the branch its condition takes.
    fn read_node(&mut self, n: &NodeProto, index: usize) -> Result<(), ImportError> {
        let op_type = n.op_type.clone().unwrap_or_default();
        let name = n.name.clone().unwrap_or_default();
        let label = || node_label(index, &name, &op_type);
        let version = self.version;
        let up = match n.domain.as_deref().filter(|d| !d.is_empty() && *d != "ai.onnx") {
            Some("ai.onnx.ml") => match ml::lower(n, self).map_err(|message| ImportError::Lower { node: label(), message })? {
                Some(up) => up,
                // A ZipMap: its maps cannot be held, and nothing but a graph output reads them.
                None => {
                    self.dropped.extend(n.output.iter().filter(|o| !o.is_empty()).map(|o| (o.clone(), format!("{} (sequence of maps)", label()))));
                    return Ok(());
                }
            },
            Some("com.microsoft") => contrib::lower(n, self).map_err(|message| ImportError::Lower { node: label(), message })?,
            Some(domain) => return Err(ImportError::Domain { node: label(), domain: domain.to_string() }),
            None if op_type == "If" => return self.inline_if(n, &label),
            None => upgrade::upgrade(n, version, self).map_err(|message| ImportError::Upgrade { node: label(), opset: version, message })?,
        };
        for (constant, tensor) in up.constants {
            let ty = tensor.ty();
            define(self.graph, self.by_name, Value { name: constant, ty, init: Some(tensor), param: None }, &label)?;
        }
        for (weight, tensor) in up.weights {
            let ty = tensor.ty();
            let param = Some(ParamInfo { trainable: true, regularizer: None, layer: String::new() });
            define(self.graph, self.by_name, Value { name: weight, ty, init: Some(tensor), param }, &label)?;
        }
        for n in &up.nodes {
            self.add_node(n, &label, version)?;
        }
        Ok(())
    }

    /// An `If` whose condition is known at import: the nodes of the branch it takes, read in its place
    /// (they read outer values by name). One whose condition is known only at run time, and whose
    /// branches give outputs of the same types, computes both and picks with `Where` (the IR holds
    /// no control flow; the branches of exported models are pure, so computing the one not taken
    /// changes nothing but time). Otherwise the condition's inputs are named.
    fn inline_if(&mut self, n: &NodeProto, label: &dyn Fn() -> String) -> Result<(), ImportError> {
        let cond = n.input.first().cloned().unwrap_or_default();
        let id = *self.by_name.get(&cond).ok_or_else(|| ImportError::UndefinedValue { node: label(), value: cond.clone() })?;
        let branch = |which: &str| {
            n.attribute
                .iter()
                .find(|a| a.name.as_deref() == Some(which))
                .and_then(|a| a.g.as_deref())
                .ok_or_else(|| ImportError::Op { node: label(), source: ops::shape_error("If", format!("has no `{which}`")) })
        };
        if let Some(value) = self.graph.value(id).init.as_ref() {
            let taken = value.data.iter().any(|&b| b != 0);
            return self.read_branch(n, branch(if taken { "then_branch" } else { "else_branch" })?, &n.output, label);
        }
        // Both branches, each writing its outputs under names of its own, then a Where per output.
        let named = |this: &mut Self, side: &str| -> Vec<String> {
            n.output.iter().map(|o| if o.is_empty() { String::new() } else { fresh_name(this.taken, &format!("{o}/{side}")) }).collect()
        };
        let (then_names, else_names) = (named(self, "then"), named(self, "else"));
        let run_time = |this: &Self, why: String| {
            let inputs = this.inputs_behind(id);
            let inputs =
                if inputs.is_empty() { "no graph input".to_string() } else { inputs.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ") };
            ImportError::RunTimeCondition { node: label(), cond: cond.clone(), inputs, why }
        };
        for (which, names) in [("then_branch", &then_names), ("else_branch", &else_names)] {
            // A branch that does not fit the values it would see (the other sample rate's model)
            // means the condition must be known: say which input decides it.
            if let Err(e) = self.read_branch(n, branch(which)?, names, label) {
                return Err(run_time(self, format!("its {which} does not fit these inputs ({e})")));
            }
        }
        for ((outer, t), e) in n.output.iter().zip(&then_names).zip(&else_names) {
            if outer.is_empty() {
                continue;
            }
            let ty = |name: &String| self.by_name.get(name).map(|&v| self.graph.value(v).ty.clone());
            if ty(t).is_none() || ty(t) != ty(e) {
                let show = |t: Option<TensorType>| t.map_or("nothing".to_string(), |t| t.to_string());
                return Err(run_time(self, format!("its branches give `{outer}` as {} and {}", show(ty(t)), show(ty(e)))));
            }
            let pick = NodeProto {
                op_type: Some("Where".into()),
                name: Some(format!("{}/{outer}", n.name.as_deref().unwrap_or("If"))),
                input: vec![cond.clone(), t.clone(), e.clone()],
                output: vec![outer.clone()],
                ..Default::default()
            };
            self.add_node(&pick, label, self.version)?;
        }
        Ok(())
    }

    /// Reads the nodes of an `If` branch in the graph, its outputs taking the names `outputs`: the
    /// node that makes one writes that name instead; an output the branch only passes through is
    /// copied by an Identity. A branch name that an outer value already uses is renamed.
    fn read_branch(&mut self, n: &NodeProto, branch: &GraphProto, outputs: &[String], label: &dyn Fn() -> String) -> Result<(), ImportError> {
        if branch.output.len() != outputs.len() {
            return Err(ImportError::TooManyOutputs { node: label(), listed: outputs.len(), produced: branch.output.len() });
        }
        // Branch value name -> the name it takes in the graph.
        let mut rename: HashMap<String, String> = HashMap::new();
        let produced: HashSet<&str> = branch.node.iter().flat_map(|m| m.output.iter().map(String::as_str)).collect();
        for (b, outer) in branch.output.iter().zip(outputs) {
            let b = b.name.clone().unwrap_or_default();
            if produced.contains(b.as_str()) && !outer.is_empty() && !rename.contains_key(&b) {
                rename.insert(b, outer.clone());
            }
        }
        let fresh = |this: &mut Self, name: &str, rename: &mut HashMap<String, String>| {
            if this.by_name.contains_key(name) {
                let new = fresh_name(this.taken, name);
                rename.insert(name.to_string(), new);
            }
        };
        for t in &branch.initializer {
            let name = t.name.clone().unwrap_or_default();
            fresh(self, &name, &mut rename);
            let tensor = read_tensor(t).map_err(|message| ImportError::Initializer { name: name.clone(), message })?;
            let name = rename.get(&name).cloned().unwrap_or(name);
            define(self.graph, self.by_name, Value { name, ty: tensor.ty(), init: Some(tensor), param: None }, label)?;
        }
        for (index, m) in branch.node.iter().enumerate() {
            let mut m = m.clone();
            for i in m.input.iter_mut() {
                if let Some(new) = rename.get(i.as_str()) {
                    *i = new.clone();
                }
            }
            for o in m.output.iter_mut() {
                if !rename.contains_key(o.as_str()) {
                    fresh(self, o, &mut rename);
                }
                if let Some(new) = rename.get(o.as_str()) {
                    *o = new.clone();
                }
            }
            self.read_node(&m, index)?;
        }
        // Outputs the branch passes through from outside, or from its initializers.
        for (b, outer) in branch.output.iter().zip(outputs) {
            let b = b.name.clone().unwrap_or_default();
            let source = rename.get(&b).cloned().unwrap_or(b);
            if outer.is_empty() || source == *outer {
                continue;
            }
            let copy = NodeProto {
                op_type: Some("Identity".into()),
                name: Some(format!("{}/{outer}", n.name.as_deref().unwrap_or("If"))),
                input: vec![source],
                output: vec![outer.clone()],
                ..Default::default()
            };
            self.add_node(&copy, label, self.version)?;
        }
        Ok(())
    }

    /// The graph inputs a value depends on, by name.
    fn inputs_behind(&self, id: ValueId) -> Vec<String> {
        let producer: HashMap<ValueId, usize> =
            self.graph.nodes.iter().enumerate().flat_map(|(i, n)| n.outputs.iter().map(move |&o| (o, i))).collect();
        let (mut stack, mut seen, mut found) = (vec![id], HashSet::new(), vec![]);
        while let Some(v) = stack.pop() {
            if !seen.insert(v) {
                continue;
            }
            if self.graph.inputs.contains(&v) {
                found.push(self.graph.value(v).name.clone());
            }
            if let Some(&i) = producer.get(&v) {
                stack.extend(self.graph.nodes[i].inputs.iter().flatten());
            }
        }
        found.sort();
        found
    }

    /// Adds one opset-17 node: folded into an initializer when its value is known, else through the
    /// op table with its shape rule.
    fn add_node(&mut self, n: &NodeProto, label: &dyn Fn() -> String, version: i64) -> Result<(), ImportError> {
        let op_type = n.op_type.clone().unwrap_or_default();
        let name = n.name.clone().unwrap_or_default();
        let inputs: Vec<Option<ValueId>> = n
            .input
            .iter()
            .map(|i| match i.as_str() {
                "" => Ok(None),
                i => self.by_name.get(i).copied().map(Some).ok_or_else(|| ImportError::UndefinedValue { node: label(), value: i.to_string() }),
            })
            .collect::<Result<_, _>>()?;
        let facts: Vec<_> = inputs.iter().map(|i| i.map(|id| (&self.graph.value(id).ty, self.graph.value(id).init.as_ref()))).collect();
        if let Some(folded) = fold::fold(n, &facts).map_err(|message| ImportError::Fold { node: label(), message })? {
            let out = n.output.first().cloned().unwrap_or_default();
            let param =
                (folded.weight && !self.constants.contains(&out)).then(|| ParamInfo { trainable: true, regularizer: None, layer: String::new() });
            let value = Value { name: out, ty: folded.value.ty(), init: Some(folded.value), param };
            define(self.graph, self.by_name, value, label)?;
            return Ok(());
        }
        let mut op = ops::from_onnx(&op_type, &n.attribute).map_err(|e| match e {
            OpError::Unsupported { op } => ImportError::UnsupportedOp { node: label(), op, opset: version },
            source => ImportError::Op { node: label(), source },
        })?;
        let mut types = self.graph.infer(op.as_ref(), &inputs).map_err(|source| ImportError::Op { node: label(), source })?;
        // Optional outputs may be left off the end, or skipped with an empty name in the middle. Values
        // exist for the listed ones; a skipped one in the middle gets a name of its own (ONNX allows
        // naming an output nobody reads). Optional outputs the op gives only when asked (Dropout's
        // mask) are asked for when something reads them, and left off when nothing does.
        let read = |o: &String| !o.is_empty() && self.read.contains(o);
        let listed = n.output.iter().rposition(|o| !o.is_empty()).map_or(0, |p| p + 1);
        let needed = n.output.iter().rposition(read).map_or(0, |p| p + 1).max(types.len().min(listed));
        if let Some(more) = (needed > types.len()).then(|| op.with_outputs(needed)).flatten() {
            types = self.graph.infer(more.as_ref(), &inputs).map_err(|source| ImportError::Op { node: label(), source })?;
            op = more;
        }
        if needed > types.len() {
            return Err(ImportError::TooManyOutputs { node: label(), listed, produced: types.len() });
        }
        let listed = listed.min(types.len());
        let mut outputs = Vec::with_capacity(listed);
        for (i, ty) in types.into_iter().take(listed).enumerate() {
            let out_name = match n.output[i].as_str() {
                "" => fresh_name(self.taken, &format!("{}:{i}", if name.is_empty() { &op_type } else { &name })),
                given => given.to_string(),
            };
            outputs.push(define(self.graph, self.by_name, Value { name: out_name, ty, init: None, param: None }, label)?);
        }
        // Batch normalization's mean and variance are statistics, not weights gradient descent moves.
        if op_type == "BatchNormalization" {
            for v in inputs.iter().skip(3).flatten() {
                if let Some(p) = self.graph.values[v.0].param.as_mut() {
                    p.trainable = false;
                }
            }
        }
        self.graph.nodes.push(Node { name, op, inputs, outputs, layer: None });
        Ok(())
    }
}
