//! Resize (opset 11+ inputs: X, roi, scales, sizes): the output size from constant scales or sizes;
//! the interpolation attributes are kept as given, for the engine. Opset 9's Upsample imports as
//! Resize (`import::upgrade`).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, Reduce, ReduceKind, Reshape, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Dim, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub mode: String,
    pub coordinate_transformation_mode: String,
    pub nearest_mode: String,
    /// Every attribute of the node, written back as read.
    pub attributes: Vec<AttributeProto>,
}

impl Resize {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        for unsupported in ["axes", "antialias", "keep_aspect_ratio_policy"] {
            if a.list.iter().any(|at| at.name.as_deref() == Some(unsupported)) {
                return Err(OpError::Attribute {
                    op: "Resize".into(),
                    name: unsupported.into(),
                    message: "is opset 18; onyx reads Resize as opset 17 has it".into(),
                });
            }
        }
        Ok(Arc::new(Resize {
            mode: a.string("mode")?.unwrap_or_else(|| "nearest".into()),
            coordinate_transformation_mode: a.string("coordinate_transformation_mode")?.unwrap_or_else(|| "half_pixel".into()),
            nearest_mode: a.string("nearest_mode")?.unwrap_or_else(|| "round_prefer_floor".into()),
            attributes: a.list.to_vec(),
        }))
    }

    /// Nearest upscaling that copies each cell into a block (asymmetric coordinates, floor): with
    /// integer scales, output cell i reads input cell ⌊i / scale⌋ exactly, on every engine.
    pub fn blocks_upscale() -> Resize {
        let (mode, coordinates, nearest) = ("nearest", "asymmetric", "floor");
        Resize {
            mode: mode.into(),
            coordinate_transformation_mode: coordinates.into(),
            nearest_mode: nearest.into(),
            attributes: vec![
                attrs::string("mode", mode),
                attrs::string("coordinate_transformation_mode", coordinates),
                attrs::string("nearest_mode", nearest),
            ],
        }
    }

    /// Integer upscaling factors of the spatial axes (batch and channels kept) when every output
    /// cell reads the input cell whose block it falls in: nearest mode, asymmetric coordinates with
    /// floor, or half-pixel coordinates (which never land on .5 with an integer factor).
    fn blocks(&self, input: &TensorType, output: &TensorType) -> Option<Vec<usize>> {
        let block_mapping = self.mode == "nearest"
            && match self.coordinate_transformation_mode.as_str() {
                "asymmetric" => self.nearest_mode == "floor",
                "half_pixel" | "pytorch_half_pixel" => self.nearest_mode.starts_with("round_prefer"),
                _ => false,
            };
        if !block_mapping || input.rank() != 4 || input.shape[..2] != output.shape[..2] {
            return None;
        }
        (2..4)
            .map(|i| match (input.shape[i].fixed(), output.shape[i].fixed()) {
                (Some(a), Some(b)) if a > 0 && b % a == 0 => Some(b / a),
                _ => None,
            })
            .collect()
    }
}

impl Op for Resize {
    fn op_type(&self) -> &'static str {
        "Resize"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Resize", inputs, 0)?.ty;
        let constant = |i: usize| inputs.get(i).copied().flatten().filter(|f| f.ty.shape.iter().any(|d| d.fixed() != Some(0)));
        let shape: Vec<Dim> = if let Some(sizes) = constant(3) {
            let sizes = sizes.value.and_then(|t| t.as_i64()).ok_or_else(|| shape_error("Resize", "needs constant sizes"))?;
            if sizes.len() != x.rank() {
                return Err(shape_error("Resize", format!("{} sizes for a rank-{} input", sizes.len(), x.rank())));
            }
            x.shape.iter().zip(&sizes).map(|(d, &s)| if d.fixed() == Some(s as usize) { d.clone() } else { Dim::Fixed(s.max(0) as usize) }).collect()
        } else if let Some(scales) = constant(2) {
            let scales = scales.value.and_then(|t| t.as_f32()).ok_or_else(|| shape_error("Resize", "needs constant float scales"))?;
            if scales.len() != x.rank() {
                return Err(shape_error("Resize", format!("{} scales for a rank-{} input", scales.len(), x.rank())));
            }
            x.shape
                .iter()
                .zip(&scales)
                .map(|(d, &s)| match d.fixed() {
                    _ if s == 1.0 => Ok(d.clone()),
                    Some(n) => Ok(Dim::Fixed((n as f64 * s as f64).floor() as usize)),
                    None => Err(shape_error("Resize", format!("scales the symbolic dimension {d} by {s}"))),
                })
                .collect::<Result<_, _>>()?
        } else {
            return Err(shape_error("Resize", "needs scales or sizes"));
        };
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        self.attributes.clone()
    }

    /// Nearest upscaling by integer factors copies each input cell into a block, so its gradient
    /// sums each block: (N, C, H·kh, W·kw) → (N, C, H, kh, W, kw) → sum over kh and kw.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None; 4]) };
        let (tx, ty) = (cx.ty(cx.x(0)?), cx.ty(cx.y(0)));
        let Some(k) = self.blocks(&tx, &ty) else {
            return Err(OpError::NoGradient {
                op: format!(
                    "Resize (mode {}, {} coordinates: only nearest upscaling by whole factors)",
                    self.mode, self.coordinate_transformation_mode
                ),
            });
        };
        let (c, h, w) = (tx.shape[1].fixed(), tx.shape[2].fixed(), tx.shape[3].fixed());
        let (Some(c), Some(h), Some(w)) = (c, h, w) else { return Err(shape_error("Resize", "its gradient needs fixed channels and sizes")) };
        let blocks = cx.ints(&[0, c as i64, h as i64, k[0] as i64, w as i64, k[1] as i64]);
        let split = cx.op(Reshape, &[g, blocks])?;
        let axes = cx.ints(&[3, 5]);
        let gx = cx.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[split, axes])?;
        Ok(vec![Some(gx), None, None, None])
    }
}
