//! How an image model lays out its input: channels first (NCHW, ONNX's and PyTorch's) or last
//! (NHWC, TensorFlow's), and in which order the color channels come (RGB, or BGR as Caffe and
//! OpenCV models take them). Both travel in the model's metadata, so that whatever feeds images to
//! the model (training on a folder, `predict` on a folder) lays the pixels out as it expects.
use crate::ir::{Dim, TensorType};

pub use crate::metadata::{CHANNELS_KEY, LAYOUT_KEY};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// (N, C, H, W).
    Nchw,
    /// (N, H, W, C).
    Nhwc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

impl Layout {
    pub fn parse(s: &str) -> Option<Layout> {
        match s {
            "nchw" => Some(Layout::Nchw),
            "nhwc" => Some(Layout::Nhwc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Nchw => "nchw",
            Layout::Nhwc => "nhwc",
        }
    }

    /// The layout a 4-D image input's shape shows: channels last where the last dimension is 1 or
    /// 3 and the second is not, else channels first.
    pub fn detect(shape: &[Dim]) -> Layout {
        let small = |d: &Dim| matches!(d.fixed(), Some(1 | 3));
        match shape {
            [_, second, _, last] if small(last) && !small(second) => Layout::Nhwc,
            _ => Layout::Nchw,
        }
    }

    /// The sample axis (after the batch) that holds the channels of a rank-`rank` input.
    pub fn channel_axis(self, rank: usize) -> usize {
        match self {
            Layout::Nchw => 1,
            Layout::Nhwc => rank.saturating_sub(1).max(1),
        }
    }

    /// (channels, height, width) of an image input in this layout, when all are known.
    pub fn image_dims(self, ty: &TensorType) -> Option<(usize, usize, usize)> {
        let dims: Option<Vec<usize>> = ty.shape.iter().skip(1).map(Dim::fixed).collect();
        match (self, dims?.as_slice()) {
            (Layout::Nchw, &[c, h, w]) | (Layout::Nhwc, &[h, w, c]) => Some((c, h, w)),
            _ => None,
        }
    }
}

impl ChannelOrder {
    pub fn parse(s: &str) -> Option<ChannelOrder> {
        match s {
            "rgb" => Some(ChannelOrder::Rgb),
            "bgr" => Some(ChannelOrder::Bgr),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChannelOrder::Rgb => "rgb",
            ChannelOrder::Bgr => "bgr",
        }
    }
}

/// How a model's image input is laid out: from its metadata where a spec set it, else its layout
/// detected from its shape, in RGB order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFormat {
    pub layout: Layout,
    pub channels: ChannelOrder,
}

impl ImageFormat {
    pub fn of(shape: &[Dim], metadata: &[(String, String)]) -> ImageFormat {
        let meta = |key: &str| metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        ImageFormat {
            layout: meta(LAYOUT_KEY).and_then(Layout::parse).unwrap_or_else(|| Layout::detect(shape)),
            channels: meta(CHANNELS_KEY).and_then(ChannelOrder::parse).unwrap_or(ChannelOrder::Rgb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(dims: &[Option<usize>]) -> Vec<Dim> {
        dims.iter().map(|d| d.map_or(Dim::Sym("N".into()), Dim::Fixed)).collect()
    }

    #[test]
    fn the_layout_shows_in_the_shape_unless_metadata_says_otherwise() {
        assert_eq!(Layout::detect(&shape(&[None, Some(224), Some(224), Some(3)])), Layout::Nhwc);
        assert_eq!(Layout::detect(&shape(&[None, Some(3), Some(224), Some(224)])), Layout::Nchw);
        assert_eq!(Layout::detect(&shape(&[None, Some(28), Some(28), Some(1)])), Layout::Nhwc);
        // Ambiguous (3 rows of 3 channels) and other ranks: channels first, ONNX's own layout.
        assert_eq!(Layout::detect(&shape(&[None, Some(3), Some(5), Some(3)])), Layout::Nchw);
        assert_eq!(Layout::detect(&shape(&[None, Some(10)])), Layout::Nchw);
        let nhwc = shape(&[None, Some(8), Some(8), Some(3)]);
        let forced = ImageFormat::of(&nhwc, &[(LAYOUT_KEY.into(), "nchw".into()), (CHANNELS_KEY.into(), "bgr".into())]);
        assert_eq!(forced, ImageFormat { layout: Layout::Nchw, channels: ChannelOrder::Bgr });
        assert_eq!(Layout::Nhwc.image_dims(&TensorType::new(crate::ir::DType::F32, nhwc)), Some((3, 8, 8)));
    }
}
