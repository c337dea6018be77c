//! Image models of either layout and channel order: a spec's `layout` and `normalize.channels`
//! (else the layout its input's shape shows), the normalization on the right axis, and pixels laid
//! out accordingly by the loader that training and `predict` share, checked pixel by pixel.
mod support;

use onyx_compiler::image_format::{ChannelOrder, ImageFormat, Layout};
use onyx_runtime::{Engine, HostTensor, IoInfo, TractEngine};

/// A 3×2 image whose every pixel and channel differ: (x, y) → (10x + y, 100 + 10x + y, 200 + x + y).
fn pixel(x: u32, y: u32) -> [u8; 3] {
    [(10 * x + y) as u8, (100 + 10 * x + y) as u8, (200 + x + y) as u8]
}

fn image_info(shape: &[usize]) -> IoInfo {
    let mut dims = vec![onyx_compiler::ir::Dim::Sym("N".into())];
    dims.extend(shape.iter().map(|&d| onyx_compiler::ir::Dim::Fixed(d)));
    IoInfo { name: "x".into(), dtype: onyx_compiler::ir::DType::F32, shape: dims }
}

#[test]
fn pixels_are_laid_out_as_the_model_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.png");
    image::RgbImage::from_fn(3, 2, |x, y| image::Rgb(pixel(x, y))).save(&file).unwrap();
    let read = |shape: &[usize], layout, channels| {
        let HostTensor::F32(a) =
            onyx_runtime::data::read_images(std::slice::from_ref(&file), &image_info(shape), ImageFormat { layout, channels }).unwrap()
        else {
            panic!("floats")
        };
        a
    };
    let nhwc_bgr = read(&[2, 3, 3], Layout::Nhwc, ChannelOrder::Bgr);
    let nchw_rgb = read(&[3, 2, 3], Layout::Nchw, ChannelOrder::Rgb);
    let nchw_bgr = read(&[3, 2, 3], Layout::Nchw, ChannelOrder::Bgr);
    let gray = read(&[2, 3, 1], Layout::Nhwc, ChannelOrder::Rgb);
    for y in 0..2 {
        for x in 0..3 {
            let [r, g, b] = pixel(x as u32, y as u32).map(f32::from);
            assert_eq!([nhwc_bgr[[0, y, x, 0]], nhwc_bgr[[0, y, x, 1]], nhwc_bgr[[0, y, x, 2]]], [b, g, r]);
            assert_eq!([nchw_rgb[[0, 0, y, x]], nchw_rgb[[0, 1, y, x]], nchw_rgb[[0, 2, y, x]]], [r, g, b]);
            assert_eq!([nchw_bgr[[0, 0, y, x]], nchw_bgr[[0, 1, y, x]], nchw_bgr[[0, 2, y, x]]], [b, g, r]);
            // ITU-R BT.601's luma, rounded to the 0–255 scale.
            assert_eq!(gray[[0, y, x, 0]], (0.299 * r + 0.587 * g + 0.114 * b).round());
        }
    }
    // A grayscale image feeding three channels repeats its value.
    let gray_file = dir.path().join("g.png");
    image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 40 + y) as u8])).save(&gray_file).unwrap();
    let HostTensor::F32(rgb) =
        onyx_runtime::data::read_images(&[gray_file], &image_info(&[3, 2, 3]), ImageFormat { layout: Layout::Nchw, channels: ChannelOrder::Rgb })
            .unwrap()
    else {
        panic!()
    };
    assert!((0..3).all(|c| rgb[[0, c, 1, 2]] == 81.0));
}

/// A channels-last spec: `layout = "nhwc"` puts `normalize` on the last axis, BGR means in BGR
/// order; the compiled model records both, and a folder of images reaches it in that form.
#[test]
fn a_channels_last_bgr_spec_normalizes_its_last_axis() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("nhwc.toml");
    std::fs::write(
        &spec,
        r#"[model]
name = "nhwc"
input = { name = "x", shape = [2, 3, 3] }
layout = "nhwc"
normalize = { mean = [1, 2, 3], std = [2, 4, 8], channels = "bgr" }

[[layer]]
kind = "flatten"
"#,
    )
    .unwrap();
    let model = onyx_compiler::compile_file(&spec).unwrap();
    let proto = onyx_compiler::to_onnx(&model.graph);
    let meta = |k: &str| proto.metadata_props.iter().find(|p| p.key.as_deref() == Some(k)).and_then(|p| p.value.clone());
    assert_eq!((meta("onyx.layout").as_deref(), meta("onyx.channels").as_deref()), (Some("nhwc"), Some("bgr")));
    let session = TractEngine.load(&proto).unwrap();
    let x: Vec<f32> = (0..18).map(|i| i as f32 * 3.0).collect();
    let y = session
        .run(&[HostTensor::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 2, 3, 3]), x.clone()).unwrap())])
        .unwrap()
        .remove(0)
        .to_f64_vec();
    for (i, (got, v)) in y.iter().zip(&x).enumerate() {
        let c = i % 3;
        let want = (v - [1.0, 2.0, 3.0][c]) / [2.0, 4.0, 8.0][c];
        assert!((*got as f32 - want).abs() < 1e-6, "element {i}: {got} against {want}");
    }
    // A shape that shows its layout needs no `layout`; one value per channel must match it.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[model]\nname = \"bad\"\ninput = { name = \"x\", shape = [8, 8, 3] }\nnormalize = { mean = [1, 2], std = [1, 1] }\n\n[[layer]]\nkind = \"flatten\"\n").unwrap();
    let e = onyx_compiler::compile_file(&bad).unwrap_err().to_string();
    assert!(e.contains("3 channels, but 2 means"), "{e}");
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, "[model]\nname = \"w\"\ninput = { name = \"x\", shape = [3] }\nlayout = \"hwc\"\n\n[[layer]]\nkind = \"flatten\"\n")
        .unwrap();
    let e = onyx_compiler::compile_file(&wrong).unwrap_err().to_string();
    assert!(e.contains("wrong.toml:4") && e.contains("layout") && e.contains("nhwc"), "{e}");
}
