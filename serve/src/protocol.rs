//! The Open Inference Protocol (KServe v2) as JSON, with Triton's binary tensor data extension:
//! requests decoded into checked host tensors, results encoded back.
//!
//! Tensor data is read straight into flat vectors (never a `serde_json::Value` tree, which takes 32
//! bytes a number), and every declared shape is checked against the element budget before any
//! buffer is sized from it.
use std::fmt;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::DType;
use onyx_runtime::data::convert;
use onyx_runtime::{HostTensor, IoInfo, engine::check_input};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A request the server refuses, with the HTTP status that says why.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// 400: the request is malformed or does not fit the model.
    #[error("{0}")]
    Bad(String),
    /// 404: no such model.
    #[error("{0}")]
    NotFound(String),
    /// 413: the body or a tensor is over the server's limits.
    #[error("{0}")]
    TooLarge(String),
}

fn bad(message: impl Into<String>) -> RequestError {
    RequestError::Bad(message.into())
}

/// The protocol's name for an element type.
pub fn datatype(dtype: DType) -> &'static str {
    onyx_runtime::tensor::kserve_datatype(dtype)
}

/// A tensor's shape as metadata gives it: -1 where any size goes.
pub fn metadata_shape(info: &IoInfo) -> Vec<i64> {
    info.shape.iter().map(|d| d.fixed().map_or(-1, |n| n as i64)).collect()
}

#[derive(Serialize)]
pub struct TensorMetadata {
    pub name: String,
    pub datatype: &'static str,
    pub shape: Vec<i64>,
}

impl TensorMetadata {
    pub fn of(info: &IoInfo) -> TensorMetadata {
        TensorMetadata { name: info.name.clone(), datatype: datatype(info.dtype), shape: metadata_shape(info) }
    }
}

/// `GET /v2/models/{name}`.
#[derive(Serialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: &'static str,
    pub inputs: Vec<TensorMetadata>,
    pub outputs: Vec<TensorMetadata>,
}

#[derive(Deserialize)]
struct RequestInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(default)]
    data: Option<Flat>,
}

#[derive(Deserialize)]
struct RequestOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<RequestInput>,
    #[serde(default)]
    outputs: Option<Vec<RequestOutput>>,
}

/// What an inference request asks for, checked against the model.
#[derive(Debug)]
pub struct Decoded {
    pub id: Option<String>,
    /// One tensor per model input, in the model's order.
    pub inputs: Vec<HostTensor>,
    /// The outputs to return, by index into the model's outputs, and whether each goes as binary.
    pub outputs: Vec<(usize, bool)>,
}

/// Reads an inference request: `json` is the JSON part, `binary` what follows it when the binary
/// extension's `Inference-Header-Content-Length` split the body.
pub fn decode_request(json: &[u8], binary: &[u8], inputs: &[IoInfo], outputs: &[IoInfo], max_elements: usize) -> Result<Decoded, RequestError> {
    let request: InferRequest = serde_json::from_slice(json).map_err(|e| bad(format!("the request is not a valid inference request: {e}")))?;
    let mut given: Vec<Option<HostTensor>> = vec![None; inputs.len()];
    let mut offset = 0usize;
    let mut batch: Option<(usize, String)> = None;
    for input in request.inputs {
        let slot = inputs.iter().position(|i| i.name == input.name).ok_or_else(|| {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            bad(format!("input `{}`: the model has no such input (it takes {})", input.name, names.join(", ")))
        })?;
        if given[slot].is_some() {
            return Err(bad(format!("input `{}` is given twice", input.name)));
        }
        let info = &inputs[slot];
        let at = |message: String| bad(format!("input `{}`: {message}", input.name));
        if input.datatype != datatype(info.dtype) {
            return Err(at(format!("datatype {} where the model takes {}", input.datatype, datatype(info.dtype))));
        }
        let shape: Vec<usize> = input
            .shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| at(format!("shape {:?} has a negative dimension", input.shape))))
            .collect::<Result<_, _>>()?;
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).filter(|&n| n <= max_elements).ok_or_else(|| {
            RequestError::TooLarge(format!("input `{}`: shape {:?} is over the server's limit of {max_elements} elements", input.name, input.shape))
        })?;
        check_input(info, info.dtype, &shape).map_err(|e| bad(e.to_string()))?;
        // Inputs whose first dimension is symbolic share the batch; a fixed one (an RNN's state,
        // [layers, batch, units]) is not a batch.
        if let Some(&first) = shape.first().filter(|_| info.shape.first().is_some_and(|d| d.fixed().is_none())) {
            match &batch {
                Some((n, other)) if *n != first => return Err(at(format!("batch of {first} where `{other}` has {n}"))),
                _ => batch = Some((first, input.name.clone())),
            }
        }
        let tensor = match (input.parameters.get("binary_data_size"), input.data) {
            (Some(size), None) => {
                let size =
                    size.as_u64().and_then(|s| usize::try_from(s).ok()).ok_or_else(|| at(format!("binary_data_size {size} is not a byte count")))?;
                let bytes = offset
                    .checked_add(size)
                    .and_then(|end| binary.get(offset..end))
                    .ok_or_else(|| at(format!("binary_data_size {size} runs past the {} bytes of binary data", binary.len())))?;
                offset += size;
                from_bytes(info.dtype, &shape, elements, bytes).map_err(at)?
            }
            (None, Some(flat)) => from_flat(info.dtype, &shape, elements, flat).map_err(at)?,
            (Some(_), Some(_)) => return Err(at("has both `data` and binary_data_size".into())),
            (None, None) => return Err(at("has no `data`".into())),
        };
        given[slot] = Some(tensor);
    }
    if offset != binary.len() {
        return Err(bad(format!("{} bytes of binary data follow the JSON, but the inputs take {offset}", binary.len())));
    }
    let inputs_out = given
        .into_iter()
        .zip(inputs)
        .map(|(t, info)| t.ok_or_else(|| bad(format!("input `{}` is missing", info.name))))
        .collect::<Result<Vec<_>, _>>()?;
    let all_binary = request.parameters.get("binary_data_output").and_then(Value::as_bool).unwrap_or(false);
    let wanted = match request.outputs {
        None => (0..outputs.len()).map(|i| (i, all_binary)).collect(),
        Some(list) => list
            .into_iter()
            .map(|o| {
                let i =
                    outputs.iter().position(|x| x.name == o.name).ok_or_else(|| bad(format!("output `{}`: the model has no such output", o.name)))?;
                Ok((i, o.parameters.get("binary_data").and_then(Value::as_bool).unwrap_or(all_binary)))
            })
            .collect::<Result<_, RequestError>>()?,
    };
    Ok(Decoded { id: request.id, inputs: inputs_out, outputs: wanted })
}

fn from_flat(dtype: DType, shape: &[usize], elements: usize, flat: Flat) -> Result<HostTensor, String> {
    if flat.len() != elements {
        return Err(format!("shape {shape:?} holds {elements} values, `data` has {}", flat.len()));
    }
    let ix = IxDyn(shape);
    let read = match flat {
        Flat::Ints(v) => HostTensor::I64(ArrayD::from_shape_vec(ix, v).map_err(|e| e.to_string())?),
        Flat::Floats(v) => HostTensor::F64(ArrayD::from_shape_vec(ix, v).map_err(|e| e.to_string())?),
    };
    // Numbers fit the input's type as a file's would: integers anywhere they fit, whole numbers only for integer inputs.
    convert(read, dtype).map(|(t, _)| t).map_err(|e| format!("{} data: {e}", datatype(dtype)))
}

fn from_bytes(dtype: DType, shape: &[usize], elements: usize, bytes: &[u8]) -> Result<HostTensor, String> {
    let width = dtype.size_of();
    if bytes.len() != elements * width {
        return Err(format!("shape {shape:?} of {} takes {} bytes, binary_data_size gives {}", datatype(dtype), elements * width, bytes.len()));
    }
    HostTensor::from_le_bytes(dtype, shape, bytes)
}

#[derive(Serialize)]
struct ResponseOutput<'a> {
    name: &'a str,
    datatype: &'static str,
    shape: &'a [usize],
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
}

#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: Vec<ResponseOutput<'a>>,
}

/// An encoded response: the body, and the JSON part's length when binary data follows it.
pub struct Encoded {
    pub body: Vec<u8>,
    pub json_len: Option<usize>,
}

/// Writes the response to a decoded request from the model's results.
pub fn encode_response(model: &str, request: &Decoded, infos: &[IoInfo], results: &[HostTensor]) -> Result<Encoded, String> {
    let mut binary: Vec<u8> = vec![];
    let mut outputs = vec![];
    for &(i, as_binary) in &request.outputs {
        let (info, t) = (&infos[i], results.get(i).ok_or_else(|| format!("the model gave {} outputs, not {}", results.len(), infos.len()))?);
        let (data, parameters) = if as_binary {
            let before = binary.len();
            binary.extend_from_slice(&t.to_le_bytes());
            let mut p = Map::new();
            p.insert("binary_data_size".into(), Value::from(binary.len() - before));
            (None, Some(p))
        } else {
            // JSON has no NaN or infinity; they go as null, as Triton sends them.
            let values = onyx_runtime::data::json_values(t);
            (Some(Value::Array(values)), None)
        };
        outputs.push(ResponseOutput { name: &info.name, datatype: datatype(t.dtype()), shape: t.shape(), parameters, data });
    }
    let response = InferResponse { model_name: model, model_version: "1", id: request.id.as_deref(), outputs };
    let mut body = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
    let json_len = (!binary.is_empty()).then_some(body.len());
    body.extend_from_slice(&binary);
    Ok(Encoded { body, json_len })
}

/// Tensor data as the protocol allows it: a flat or nested JSON array of numbers (or booleans),
/// read row-major into one vector.
#[derive(Debug)]
enum Flat {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

impl Flat {
    fn len(&self) -> usize {
        match self {
            Flat::Ints(v) => v.len(),
            Flat::Floats(v) => v.len(),
        }
    }

    fn push_float(&mut self, x: f64) {
        if let Flat::Ints(v) = self {
            *self = Flat::Floats(v.iter().map(|&i| i as f64).collect());
        }
        if let Flat::Floats(v) = self {
            v.push(x);
        }
    }

    fn push_int(&mut self, x: i64) {
        match self {
            Flat::Ints(v) => v.push(x),
            Flat::Floats(v) => v.push(x as f64),
        }
    }
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flat, D::Error> {
        let mut flat = Flat::Ints(vec![]);
        d.deserialize_any(Collect { into: &mut flat, depth: 0 })?;
        Ok(flat)
    }
}

/// Nesting deeper than any tensor's rank is refused rather than recursed into.
const MAX_DEPTH: usize = 32;

struct Collect<'a> {
    into: &'a mut Flat,
    depth: usize,
}

impl<'de> Visitor<'de> for Collect<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or an array of them (nested arrays for several dimensions)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.into.push_int(v);
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(i) => self.into.push_int(i),
            Err(_) => self.into.push_float(v as f64),
        }
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.into.push_float(v);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.into.push_int(v as i64);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(format!("`data` is nested deeper than {MAX_DEPTH} levels")));
        }
        while seq.next_element_seed(Collect { into: &mut *self.into, depth: self.depth + 1 })?.is_some() {}
        Ok(())
    }
}

impl<'de> de::DeserializeSeed<'de> for Collect<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onyx_compiler::ir::Dim;

    fn io(name: &str, dtype: DType, shape: Vec<Dim>) -> IoInfo {
        IoInfo { name: name.into(), dtype, shape }
    }

    #[test]
    fn nested_and_flat_data_read_the_same_and_shapes_are_checked() {
        let inputs = [io("x", DType::F32, vec![Dim::batch(), Dim::Fixed(2)])];
        let outputs = [io("y", DType::F32, vec![Dim::batch(), Dim::Fixed(1)])];
        let flat = br#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2.5,3,4]}]}"#;
        let nested = br#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2.5],[3,4]]}]}"#;
        let a = decode_request(flat, &[], &inputs, &outputs, 100).unwrap();
        let b = decode_request(nested, &[], &inputs, &outputs, 100).unwrap();
        assert_eq!(a.inputs, b.inputs);
        assert_eq!(a.inputs[0].to_f64_vec(), [1.0, 2.5, 3.0, 4.0]);
        let wrong = |body: &str| decode_request(body.as_bytes(), &[], &inputs, &outputs, 100).unwrap_err().to_string();
        assert!(wrong(r#"{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6]}]}"#).contains("axis 1 must be 2"));
        assert!(wrong(r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}"#).contains("holds 4 values, `data` has 3"));
        assert!(
            wrong(r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"INT64","data":[1,2,3,4]}]}"#)
                .contains("datatype INT64 where the model takes FP32")
        );
        assert!(wrong(r#"{"inputs":[{"name":"z","shape":[1,2],"datatype":"FP32","data":[1,2]}]}"#).contains("no such input"));
        assert!(wrong(r#"{"inputs":[]}"#).contains("input `x` is missing"));
        assert!(wrong(r#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,"a",3,4]}]}"#).contains("not a valid inference request"));
        let deep = format!(r#"{{"inputs":[{{"name":"x","shape":[1,2],"datatype":"FP32","data":{}1{}}}]}}"#, "[".repeat(100), "]".repeat(100));
        assert!(wrong(&deep).contains("nested deeper"));
        let huge =
            decode_request(br#"{"inputs":[{"name":"x","shape":[4611686018427387904,4],"datatype":"FP32","data":[]}]}"#, &[], &inputs, &outputs, 100)
                .unwrap_err();
        assert!(matches!(huge, RequestError::TooLarge(_)), "{huge}");
    }

    #[test]
    fn binary_data_follows_the_json_in_input_order() {
        let inputs = [io("a", DType::F32, vec![Dim::batch()]), io("b", DType::I64, vec![Dim::batch()])];
        let json = br#"{"inputs":[{"name":"b","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}},{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}],"parameters":{"binary_data_output":true}}"#;
        let mut binary = vec![];
        binary.extend(7i64.to_le_bytes());
        binary.extend((-3i64).to_le_bytes());
        binary.extend(0.5f32.to_le_bytes());
        binary.extend(2f32.to_le_bytes());
        let d = decode_request(json, &binary, &inputs, &inputs, 100).unwrap();
        assert_eq!(d.inputs[0].to_f64_vec(), [0.5, 2.0]);
        assert_eq!(d.inputs[1].to_f64_vec(), [7.0, -3.0]);
        assert_eq!(d.outputs, [(0, true), (1, true)]);
        let encoded = encode_response("m", &d, &inputs, &d.inputs).unwrap();
        let json_len = encoded.json_len.unwrap();
        let head: Value = serde_json::from_slice(&encoded.body[..json_len]).unwrap();
        assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 8);
        assert_eq!(&encoded.body[json_len..json_len + 8], &binary[16..]);
        assert!(decode_request(json, &binary[..20], &inputs, &inputs, 100).unwrap_err().to_string().contains("runs past"));
    }
}
