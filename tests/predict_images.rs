//! `onyx predict MODEL --input DIR` on a folder of images, flat or in class folders: one row per
//! file with its top classes, named from the model's `onyx.classes`, and probabilities equal to
//! the model's on the same pixels given as an array.
mod support;

use onyx_proto::onnx::StringStringEntryProto;

const SPEC: &str = r#"[model]
name = "colors"
input = { name = "pixels", shape = [3, 8, 8] }
normalize = { mean = [127.5, 127.5, 127.5], std = [127.5, 127.5, 127.5] }
seed = 3

[[layer]]
kind = "flatten"

[[layer]]
kind = "dense"
units = 3
activation = "softmax"
"#;

#[test]
fn a_folder_of_images_gets_one_row_per_file_with_its_top_classes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("colors.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut proto = onyx_compiler::to_onnx(&onyx_compiler::compile_file(&spec).unwrap().graph);
    proto.metadata_props.push(StringStringEntryProto { key: Some("onyx.classes".into()), value: Some(r#"["blue","green","red"]"#.into()) });
    let model = dir.path().join("colors.onnx");
    onyx_proto::write_model(&model, &proto).unwrap();

    // Images at the model's size (no resizing), one flat and two in a class folder, and the same
    // pixels, channels first, as an array.
    let images = dir.path().join("images");
    std::fs::create_dir_all(images.join("some class")).unwrap();
    let files = ["a.png", "some class/b.png", "some class/c,d.png"];
    let mut pixels = vec![];
    for (i, f) in files.iter().enumerate() {
        let img = image::RgbImage::from_fn(8, 8, |x, y| {
            image::Rgb([(x * 30 + i as u32 * 50) as u8, (y * 30) as u8, (255 - x * y * 3 - i as u32 * 40) as u8])
        });
        img.save(images.join(f)).unwrap();
        for c in 0..3 {
            for p in img.pixels() {
                pixels.push(p.0[c] as f32);
            }
        }
    }
    let x = dir.path().join("x.npy");
    ndarray_npy::write_npy(&x, &ndarray::Array4::from_shape_vec((3, 3, 8, 8), pixels).unwrap()).unwrap();
    let (ok, want, err) = support::run_onyx(&["predict", model.to_str().unwrap(), "--input", x.to_str().unwrap()]);
    assert!(ok, "{err}");
    let want: Vec<Vec<f64>> = want.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();

    let (ok, got, err) = support::run_onyx(&["predict", model.to_str().unwrap(), "--input", images.to_str().unwrap(), "--top", "2"]);
    assert!(ok, "{err}");
    let mut lines = got.lines();
    assert_eq!(lines.next(), Some("path,class_1,probability_1,class_2,probability_2"));
    let names = ["blue", "green", "red"];
    for ((line, file), probs) in lines.zip(files).zip(&want) {
        let mut order: Vec<usize> = (0..3).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        let path = images.join(file).display().to_string();
        let path = if path.contains(',') { format!("\"{path}\"") } else { path };
        assert_eq!(line, format!("{path},{},{},{},{}", names[order[0]], probs[order[0]] as f32, names[order[1]], probs[order[1]] as f32));
    }

    // A file that is not an image is an error naming it.
    std::fs::write(images.join("broken.png"), "not a png").unwrap();
    let (ok, _, err) = support::run_onyx(&["predict", model.to_str().unwrap(), "--input", images.to_str().unwrap()]);
    assert!(!ok && err.contains("broken.png"), "{err}");
}
