//! Reading and writing ONNX node attributes, with ONNX's defaults written once per op by the caller.
use onyx_proto::onnx::{AttributeProto, attribute_proto::AttributeType};

use super::OpError;

/// The attributes of one node, for an op's `from_attrs`.
pub struct Attrs<'a> {
    pub op: &'a str,
    pub list: &'a [AttributeProto],
}

impl<'a> Attrs<'a> {
    fn find(&self, name: &str) -> Option<&'a AttributeProto> {
        self.list.iter().find(|a| a.name.as_deref() == Some(name))
    }

    fn wrong(&self, name: &str, expected: &str) -> OpError {
        OpError::Attribute { op: self.op.to_string(), name: name.to_string(), message: format!("expected {expected}") }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, OpError> {
        match self.find(name) {
            None => Ok(default),
            Some(a) => a.i.ok_or_else(|| self.wrong(name, "an integer")),
        }
    }

    pub fn required_int(&self, name: &str) -> Result<i64, OpError> {
        self.find(name).and_then(|a| a.i).ok_or_else(|| self.wrong(name, "a required integer"))
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, OpError> {
        match self.find(name) {
            None => Ok(default),
            Some(a) => a.f.ok_or_else(|| self.wrong(name, "a float")),
        }
    }

    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.find(name).map(|a| a.ints.clone())
    }

    pub fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.find(name).map(|a| a.floats.clone())
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, OpError> {
        match self.find(name) {
            None => Ok(None),
            Some(a) => match &a.s {
                Some(s) => String::from_utf8(s.clone()).map(Some).map_err(|_| self.wrong(name, "UTF-8 text")),
                None => Err(self.wrong(name, "a string")),
            },
        }
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, OpError> {
        match self.find(name) {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| String::from_utf8(s.clone()).map_err(|_| self.wrong(name, "UTF-8 text")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }
}

fn attr(name: &str, ty: AttributeType) -> AttributeProto {
    AttributeProto { name: Some(name.to_string()), r#type: Some(ty as i32), ..Default::default() }
}

pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { i: Some(value), ..attr(name, AttributeType::Int) }
}

pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { ints: values.to_vec(), ..attr(name, AttributeType::Ints) }
}

/// An ints attribute from sizes (kernel shapes, strides, pads).
pub fn sizes(name: &str, values: &[usize]) -> AttributeProto {
    ints(name, &values.iter().map(|&v| v as i64).collect::<Vec<_>>())
}

pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { f: Some(value), ..attr(name, AttributeType::Float) }
}

pub fn floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto { floats: values.to_vec(), ..attr(name, AttributeType::Floats) }
}

pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { s: Some(value.as_bytes().to_vec()), ..attr(name, AttributeType::String) }
}

pub fn strings(name: &str, values: &[String]) -> AttributeProto {
    AttributeProto { strings: values.iter().map(|s| s.as_bytes().to_vec()).collect(), ..attr(name, AttributeType::Strings) }
}
