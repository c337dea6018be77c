//! Transfer learning end to end: importing models of other opsets, listing a pretrained model's cut
//! points, a spec with a frozen base (Keras' counts), training a head on cached features, and the
//! exported model checked against ONNX Runtime.
mod support;

use support::run_onyx as run;

use std::path::{Path, PathBuf};

use onyx_runtime::{Engine, HostTensor, TractEngine};

fn resnet() -> PathBuf {
    support::repo().join("tests/data/light_resnet50.onnx")
}

/// Models of opsets 9 to 21 (Sum and Max of three, attribute forms that became inputs and back, Softmax's old 2-D
/// coercion, Split's num_outputs, Gelu, weights built by ConstantOfShape) import, export at opset 17,
/// and ONNX Runtime computes from the exported file what it computes from the original.
#[test]
fn models_of_other_opsets_convert_to_opset_17() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, report) = support::run_python("old_opsets.py", &[dir.path()]);
    assert!(ok, "{report}");
    let cases: Vec<&str> = report.lines().collect();
    assert!(cases.len() >= 10, "{report}");
    let mut failures = vec![];
    for case in cases {
        let original = dir.path().join(format!("{case}.onnx"));
        let proto = onyx_proto::read_model(&original).unwrap();
        let graph = match onyx_compiler::import(&proto) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{case}: {e}"));
                continue;
            }
        };
        if case == "view_flatten_11" {
            let ops: Vec<&str> = graph.nodes.iter().map(|n| n.op.op_type()).collect();
            assert_eq!(ops, ["Reshape"], "the shape arithmetic folds into the reshape target");
        }
        let converted = onyx_compiler::to_onnx(&graph);
        assert_eq!(converted.opset_import[0].version, Some(17));
        let path = dir.path().join(format!("{case}_17.onnx"));
        onyx_proto::write_model(&path, &converted).unwrap();
        let (ok, report) =
            support::run_python("check_model.py", &[&path, &dir.path().join(format!("{case}_in.npz")), &dir.path().join(format!("{case}_out.npz"))]);
        println!("{case}: {}", report.trim());
        if !ok {
            failures.push(format!("{case}: {report}"));
        }
        // tract runs the converted model too, with the same result.
        let x = ndarray_npy::NpzReader::new(std::fs::File::open(dir.path().join(format!("{case}_in.npz"))).unwrap())
            .unwrap()
            .by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>("x")
            .unwrap();
        let want = ndarray_npy::NpzReader::new(std::fs::File::open(dir.path().join(format!("{case}_out.npz"))).unwrap())
            .unwrap()
            .by_name::<ndarray::OwnedRepr<f32>, ndarray::IxDyn>("y")
            .unwrap();
        let got = TractEngine.load(&converted).and_then(|s| s.run(&[HostTensor::F32(x)]));
        match got {
            Ok(outs) => {
                let HostTensor::F32(y) = &outs[0] else { panic!("{case}: float output") };
                let diff = y.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                if y.shape() != want.shape() || diff > 1e-5 {
                    failures.push(format!("{case}: tract gives shape {:?} (want {:?}), max diff {diff}", y.shape(), want.shape()));
                }
            }
            Err(e) => failures.push(format!("{case}: tract: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The whole opset-9 ResNet-50 (Sum, old Softmax, weights from ConstantOfShape) converts to opset 17
/// and computes, on tract, the output the `onnx` package's test data holds for it.
#[test]
fn the_imported_resnet_computes_its_reference_output() {
    use prost::Message;
    let graph = onyx_compiler::import(&onyx_proto::read_model(&resnet()).unwrap()).unwrap();
    let session = TractEngine.load(&onyx_compiler::to_onnx(&graph)).unwrap();
    let x = ndarray::ArrayD::from_shape_fn(vec![1, 3, 224, 224], |i| ((i[1] * 5 + i[2] + 2 * i[3]) % 17) as f32 / 17.0);
    let HostTensor::F32(y) = &session.run(&[HostTensor::F32(x)]).unwrap()[0] else { panic!("float output") };
    let bytes = std::fs::read(support::repo().join("tests/data/light_resnet50_output_0.pb")).unwrap();
    let want = onyx_proto::tensor_f32_values(&onyx_proto::onnx::TensorProto::decode(bytes.as_slice()).unwrap()).unwrap();
    assert_eq!(y.len(), want.len());
    let diff = y.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff <= 1e-6, "max diff {diff}");
}

#[test]
fn import_lists_nodes_and_marks_the_classic_cut_points() {
    let (ok, out, err) = run(&["import", resnet().to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("176 nodes"), "{out}");
    let marked: Vec<&str> = out.lines().filter(|l| l.starts_with('▶') && !l.contains("classic")).collect();
    assert_eq!(marked.len(), 3, "{out}");
    for (line, (tensor, shape)) in
        marked.iter().zip([("r171", "float32[1, 2048, 7, 7]"), ("r172", "float32[1, 2048, 1, 1]"), ("r173", "float32[1, 2048]")])
    {
        assert!(line.contains(tensor) && line.contains(shape), "{line}");
    }
    assert!(out.contains("classic cut points (deepest first): `r171`"), "{out}");
}

/// The seed's head on ResNet-50 cut before its final average pool: Keras counts 12,846,474
/// trainable parameters in the head (Flatten of 100,352 → 128 → 10), and the base holds Keras'
/// ResNet50(include_top=False) count, 23,587,712, less the 26,560 convolution biases this export
/// (from Caffe2) does without.
#[test]
fn summary_counts_the_frozen_base_and_the_head_as_keras_does() {
    let (ok, out, err) = run(&["summary", support::repo().join("tests/data/resnet50_head.toml").to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("base (Functional)") && out.contains("(None, 2048, 7, 7)"), "{out}");
    assert!(out.contains("Trainable params: 12,846,474"), "{out}");
    assert!(out.contains(&format!("Non-trainable params: {}", onyx_compiler::summary::thousands(23_587_712 - 26_560))), "{out}");
}

/// A spec like the seed's, with batch normalization first in the head: the light model's constant
/// weights (0.02) make its features about 1e17, which the normalization brings to a scale a dense
/// layer can learn from.
fn head_spec(dir: &Path, base: &str) -> PathBuf {
    let spec = dir.join("head.toml");
    let text = format!(
        r#"[model]
name = "head"
base = {{ onnx = "{}", cut = "{base}" }}
seed = 3

[[layer]]
kind = "flatten"

[[layer]]
kind = "batch_norm"

[[layer]]
kind = "dense"
units = 16
activation = "relu"

[[layer]]
kind = "dense"
units = 10
activation = "softmax"

[train]
loss = "sparse_categorical_crossentropy"
optimizer = {{ kind = "adam" }}
batch_size = 4
epochs = 2
shuffle = false
"#,
        resnet().display()
    );
    std::fs::write(&spec, text).unwrap();
    spec
}

/// Writes `n` random images with labels 0, 1, … 9, 0, … to `path`, and returns them.
fn images(path: &Path, n: usize, side: usize, seed: u64) -> (HostTensor, HostTensor) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = HostTensor::F32(ndarray::ArrayD::from_shape_fn(vec![n, 3, side, side], |_| rng.random::<f32>()));
    let y = HostTensor::I64(ndarray::ArrayD::from_shape_fn(vec![n], |i| (i[0] % 10) as i64));
    support::write_npz(path, &["x".into(), "y".into()], &[x.clone(), y.clone()]);
    (x, y)
}

fn initializers(path: &Path) -> std::collections::HashMap<String, onyx_compiler::ir::Tensor> {
    let g = onyx_compiler::import(&onyx_proto::read_model(path).unwrap()).unwrap();
    g.values.into_iter().filter_map(|v| v.init.map(|t| (v.name, t))).collect()
}

/// Training the head on the frozen base's cached features (in memory or on disk), and training with
/// the base run at every step (--no-cache), give the same head; the base's weights come out untouched; the exported
/// model (base and head in one file) passes onnx.checker and runs on tract and ONNX Runtime alike.
#[test]
fn a_head_trained_on_a_frozen_base_exports_as_one_model() {
    let dir = tempfile::tempdir().unwrap();
    let spec = head_spec(dir.path(), "r171");
    let data = dir.path().join("images.npz");
    let (x, y) = images(&data, 8, 224, 1);
    let (cached, recomputed) = (dir.path().join("cached.onnx"), dir.path().join("recomputed.onnx"));
    let (ok, _, err) = run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "-o", cached.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("computed the frozen base's features of 8 samples once"), "{err}");
    let (ok, _, err) = run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--no-cache", "-o", recomputed.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(!err.contains("features"), "{err}");

    // Features beyond the memory budget (0 MiB here) go to a file, read back batch by batch: the same
    // head, bit for bit, and the file is gone afterwards.
    let spilled = dir.path().join("spilled.onnx");
    let (ok, _, err) =
        run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--cache-memory-mb", "0", "-o", spilled.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("kept on disk"), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".f32")),
        "the features file is removed"
    );
    assert_eq!(initializers(&spilled), initializers(&cached));

    let (a, b) = (initializers(&cached), initializers(&recomputed));
    let fresh = dir.path().join("fresh.onnx");
    let (ok, _, err) = run(&["compile", spec.to_str().unwrap(), "-o", fresh.to_str().unwrap()]);
    assert!(ok, "{err}");
    let c = initializers(&fresh);
    for (name, t) in &a {
        let (x, y, z) = (t.as_f32(), b[name].as_f32(), c[name].as_f32());
        let (Some(x), Some(y), Some(z)) = (x, y, z) else { continue };
        let scale = x.iter().map(|v| v.abs()).fold(1e-3, f32::max);
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        assert!(diff <= 1e-4 * scale, "`{name}`: cached and recomputed heads differ by {diff} (scale {scale})");
        let moved = x != z;
        if name.starts_with("gpu_0/") {
            assert!(!moved, "the frozen base's `{name}` changed");
        }
    }
    assert!(a["dense/kernel"].as_f32() != c["dense/kernel"].as_f32(), "the head did not train");

    // `onyx evaluate` runs the whole model, frozen weights and all, and counts what predicting counts.
    let (ok, out, err) = run(&["evaluate", cached.to_str().unwrap(), "--data", data.to_str().unwrap(), "--metrics", "accuracy"]);
    assert!(ok, "{err}");
    let evaluated: f64 = out.lines().find_map(|l| l.strip_prefix("accuracy ")).and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| panic!("{out}"));
    assert!((evaluated - accuracy(&cached, &x, &y)).abs() < 1e-9, "{out}");

    // The exported model on tract and ONNX Runtime (which also runs onnx.checker full_check).
    let proto = onyx_proto::read_model(&cached).unwrap();
    let session = TractEngine.load(&proto).unwrap();
    let x = ndarray::ArrayD::from_shape_fn(vec![2, 3, 224, 224], |i| ((i[1] * 7 + i[2] * 3 + i[3]) % 11) as f32 / 11.0);
    let outputs = session.run(&[HostTensor::F32(x.clone())]).unwrap();
    let (inputs_path, outputs_path) = (dir.path().join("in.npz"), dir.path().join("out.npz"));
    support::write_npz(&inputs_path, &["gpu_0/data_0".into()], &[HostTensor::F32(x)]);
    support::write_npz(&outputs_path, &[session.outputs()[0].name.clone()], &outputs);
    let (ok, report) = support::run_python("check_model.py", &[&cached, &inputs_path, &outputs_path]);
    assert!(ok, "{report}");
}

/// Only the part up to the cut is read: a top onyx cannot represent (here the classifier's Softmax
/// made a Hardmax) does not stop a base cut below it, and is named when the cut includes it.
#[test]
fn ops_beyond_the_cut_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let mut proto = onyx_proto::read_model(&resnet()).unwrap();
    let last = proto.graph.as_mut().unwrap().node.last_mut().unwrap();
    assert_eq!(last.op_type.as_deref(), Some("Softmax"));
    last.op_type = Some("Hardmax".into());
    let model = dir.path().join("hard.onnx");
    onyx_proto::write_model(&model, &proto).unwrap();
    let spec = head_spec(dir.path(), "r171");
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace(&resnet().display().to_string(), &model.display().to_string())).unwrap();
    let (ok, out, err) = run(&["summary", spec.to_str().unwrap()]);
    assert!(ok && out.contains("Trainable params"), "{err}");
    std::fs::write(&spec, std::fs::read_to_string(&spec).unwrap().replace(r#", cut = "r171""#, "")).unwrap();
    let (ok, _, err) = run(&["summary", spec.to_str().unwrap()]);
    assert!(!ok && err.contains("`Hardmax` (opset 9)"), "{err}");
}

#[test]
fn bad_bases_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A cut at a tensor the model does not have names the spec's line and the cut points.
    let spec = head_spec(dir.path(), "r999");
    let (ok, _, err) = run(&["summary", spec.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("head.toml:3") && err.contains("no tensor `r999` to cut at") && err.contains("`r171`"), "{err}");
    // Images of another size than the base takes.
    let spec = head_spec(dir.path(), "r171");
    let data = dir.path().join("small.npz");
    images(&data, 4, 32, 2);
    let (ok, _, err) = run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "-o", dir.path().join("m.onnx").to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("small.npz") && err.contains("224"), "{err}");
    // An op outside the supported set, named with its opset and node.
    let (ok, report) = support::run_python("old_opsets.py", &[dir.path()]);
    assert!(ok, "{report}");
    let mut proto = onyx_proto::read_model(&dir.path().join("softmax_axis1_3d_9.onnx")).unwrap();
    let node = &mut proto.graph.as_mut().unwrap().node[0];
    node.op_type = Some("Hardmax".into());
    node.name = Some("pick".into());
    let e = onyx_compiler::import(&proto).unwrap_err().to_string();
    assert!(e.contains("`Hardmax`") && e.contains("opset 9") && e.contains("pick"), "{e}");
    let path = dir.path().join("hardmax.onnx");
    onyx_proto::write_model(&path, &proto).unwrap();
    let (ok, _, err) = run(&["import", path.to_str().unwrap()]);
    assert!(!ok && err.contains("Hardmax"), "{err}");
}

/// `--init-from`: weights whose name, type and shape match are copied (Keras' load_weights by name
/// with skip_mismatch); the rest keep their initialization, and the command lists both.
#[test]
fn warm_start_copies_matching_weights_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let he_mlp = std::fs::read_to_string(support::repo().join("models/he_mlp.toml")).unwrap();
    let other = he_mlp.replace("seed = 42", "seed = 7").replace("units = 1\n", "units = 2\n");
    let other_spec = dir.path().join("other.toml");
    std::fs::write(&other_spec, &other).unwrap();
    let a = onyx_compiler::compile_file(&support::repo().join("models/he_mlp.toml")).unwrap().graph;
    let mut b = onyx_compiler::compile_file(&other_spec).unwrap().graph;
    let report = onyx_compiler::transfer::warm_start(&mut b, &a);
    assert_eq!(report.copied, ["dense/kernel", "dense/bias"]);
    assert_eq!(report.mismatched.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["dense_1/kernel", "dense_1/bias"]);
    assert!(
        report.mismatched[0].1.contains("[10, 1] in the file") && report.mismatched[0].1.contains("[10, 2] in the model"),
        "{:?}",
        report.mismatched
    );
    let init = |g: &onyx_compiler::ir::Graph, n: &str| g.value(g.find_value(n).unwrap()).init.clone().unwrap();
    assert_eq!(init(&b, "dense/kernel"), init(&a, "dense/kernel"));
    let fresh = onyx_compiler::compile_file(&other_spec).unwrap().graph;
    assert_eq!(init(&b, "dense_1/kernel"), init(&fresh, "dense_1/kernel"));

    // The command: a model trained one epoch warm-starts the next run, which says what it copied.
    let first = dir.path().join("first.onnx");
    let spec = support::repo().join("models/logistic_regression.toml");
    let data = support::repo().join("data/breast_cancer.csv");
    let (ok, _, err) = run(&[
        "train",
        spec.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--standardize",
        "--epochs",
        "1",
        "--quiet",
        "-o",
        first.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&[
        "train",
        spec.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--standardize",
        "--epochs",
        "1",
        "--quiet",
        "--init-from",
        first.to_str().unwrap(),
        "-o",
        dir.path().join("second.onnx").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("copied 2 of 2 weights: dense/kernel, dense/bias"), "{err}");
    let (ok, _, err) = run(&[
        "train",
        spec.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--init-from",
        dir.path().join("images.npz").to_str().unwrap(),
        "-o",
        dir.path().join("third.onnx").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("images.npz"), "{err}");
}

/// A folder of class folders of PNG and JPEG images, as image_dataset_from_directory reads it:
/// classes in sorted order, pixels kept raw (0–255, channels first) and resized to the input; the
/// spec's `normalize` becomes the model's first nodes, so the trained model takes raw pixels.
#[test]
fn an_image_folder_trains_a_model_that_takes_raw_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    // Reds and blues with noise, at 20×12 (resized to the model's 8×8); one blue as a JPEG.
    for (class, (r, b)) in [("blue", (30u8, 220u8)), ("red", (220, 30))] {
        std::fs::create_dir_all(images.join(class)).unwrap();
        for i in 0..6u32 {
            let img = image::RgbImage::from_fn(20, 12, |x, y| {
                let noise = ((x * 7 + y * 13 + i * 31) % 40) as u8;
                image::Rgb([r.saturating_add(noise), 100, b.saturating_sub(noise)])
            });
            let ext = if class == "blue" && i == 0 { "jpg" } else { "png" };
            img.save(images.join(class).join(format!("{i}.{ext}"))).unwrap();
        }
    }
    std::fs::write(images.join("notes.txt"), "not an image, not a class").unwrap();
    let spec = dir.path().join("colors.toml");
    std::fs::write(
        &spec,
        r#"[model]
name = "colors"
input = { name = "pixels", shape = [3, 8, 8] }
normalize = { mean = [127.5, 127.5, 127.5], std = [127.5, 127.5, 127.5] }
seed = 1

[[layer]]
kind = "conv2d"
filters = 4
kernel = 3
activation = "relu"

[[layer]]
kind = "global_avg_pool"

[[layer]]
kind = "dense"
units = 2
activation = "softmax"

[train]
loss = "sparse_categorical_crossentropy"
optimizer = { kind = "adam", lr = 0.05 }
batch_size = 4
epochs = 40
metrics = ["accuracy"]
"#,
    )
    .unwrap();
    let model = dir.path().join("colors.onnx");
    let (ok, _, err) = run(&["train", spec.to_str().unwrap(), "--data", images.to_str().unwrap(), "-o", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("12 images of 2 classes: 0 = blue, 1 = red"), "{err}");

    // The exported model, fed the raw pixels the loader reads, tells the colors apart.
    let proto = onyx_proto::read_model(&model).unwrap();
    assert!(proto.metadata_props.iter().any(|p| p.key.as_deref() == Some("onyx.classes") && p.value.as_deref() == Some(r#"["blue","red"]"#)));
    let session = TractEngine.load(&proto).unwrap();
    let folder = onyx_runtime::data::read_image_folder(
        &images,
        &session.inputs()[0],
        onyx_compiler::image_format::ImageFormat::of(&session.inputs()[0].shape, &[]),
    )
    .unwrap();
    let HostTensor::F32(x) = &folder.x else { panic!("float pixels") };
    assert_eq!(x.shape(), [12, 3, 8, 8]);
    assert!(x.iter().all(|&v| (0.0..=255.0).contains(&v)) && x.iter().any(|&v| v > 200.0), "raw 0–255 pixels");
    // Channel 1 (green) is 100 everywhere, and bilinear resizing keeps a constant plane constant:
    // exactly in the PNGs, within JPEG's loss in the first image (blue/0.jpg, sorted first).
    let green = x.index_axis(ndarray::Axis(1), 1);
    assert!(green.outer_iter().skip(1).all(|plane| plane.iter().all(|&v| v == 100.0)));
    assert!(green.index_axis(ndarray::Axis(0), 0).iter().all(|&v| (v - 100.0).abs() <= 12.0), "{:?}", green.index_axis(ndarray::Axis(0), 0));
    let HostTensor::F32(p) = &session.run(std::slice::from_ref(&folder.x)).unwrap()[0] else { panic!("float output") };
    let HostTensor::I64(y) = &folder.y else { panic!("int labels") };
    let right = p.outer_iter().zip(y.iter()).filter(|(row, label)| (row[1] > row[0]) == (**label == 1)).count();
    assert_eq!(right, 12, "{p:?}");

    // A file that is not an image is refused, naming it.
    std::fs::write(images.join("red").join("broken.png"), "not a png").unwrap();
    let e = onyx_runtime::data::read_image_folder(
        &images,
        &session.inputs()[0],
        onyx_compiler::image_format::ImageFormat::of(&session.inputs()[0].shape, &[]),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("broken.png") && e.contains("cannot read the image"), "{e}");
}

/// Accuracy of the model at `path` on images `x` against class indices `y`.
fn accuracy(path: &Path, x: &HostTensor, y: &HostTensor) -> f64 {
    let session = TractEngine.load(&onyx_proto::read_model(path).unwrap()).unwrap();
    let HostTensor::F32(p) = &session.run(std::slice::from_ref(x)).unwrap()[0] else { panic!("float output") };
    let HostTensor::I64(y) = y else { panic!("int labels") };
    let right = p
        .outer_iter()
        .zip(y.iter())
        .filter(|(row, label)| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as i64) == Some(**label))
        .count();
    right as f64 / y.len() as f64
}

/// A real transfer. The mnist_cnn spec learns digits 0–4 of digits.csv (upscaled to 28x28); its
/// export, cut and frozen, carries a new 5-way head trained on 30 labelled images of each of the
/// digits 5–9. The same network trained from random initialization on the same 150 images for the
/// same epochs does worse on the other 5–9 images than the head on the base's conv features (cut
/// before the Dense block). Cut before the last Dense, the pretrained base beats the same head on
/// the same base never trained; fine-tuning from the last conv block (`trainable_from`) is reported.
#[test]
fn features_learnt_on_digits_0_to_4_help_to_learn_5_to_9() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = support::digits_28();
    let HostTensor::I64(labels) = &y else { panic!("int labels") };
    let (mut first, mut few, mut test) = (vec![], vec![], vec![]);
    let mut seen = [0; 10];
    for (i, &l) in labels.iter().enumerate() {
        let l = l as usize;
        if l < 5 {
            first.push(i);
        } else if seen[l] < 30 {
            seen[l] += 1;
            few.push(i);
        } else {
            test.push(i);
        }
    }
    let shift = |rows: &[usize]| -> HostTensor {
        let HostTensor::I64(l) = y.select_rows(rows) else { unreachable!() };
        HostTensor::I64(l.mapv(|v| v - 5))
    };
    let write = |name: &str, rows: &[usize], labels: HostTensor| {
        let path = dir.path().join(name);
        support::write_npz(&path, &["x".into(), "y".into()], &[x.select_rows(rows), labels]);
        path
    };
    let first_data = write("first.npz", &first, y.select_rows(&first));
    let few_data = write("few.npz", &few, shift(&few));
    let (x_test, y_test) = (x.select_rows(&test), shift(&test));

    let train = |spec: &Path, data: &Path, out: &str, extra: &[&str]| -> PathBuf {
        let model = dir.path().join(out);
        let mut args = vec!["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--quiet", "-o", model.to_str().unwrap()];
        args.extend(extra);
        let (ok, _, err) = run(&args);
        assert!(ok, "{out}: {err}");
        model
    };
    let base = train(&support::repo().join("models/mnist_cnn.toml"), &first_data, "digits_0_4.onnx", &["--epochs", "10"]);

    let mnist = std::fs::read_to_string(support::repo().join("models/mnist_cnn.toml")).unwrap();
    let (epochs, train_table) = (
        "10",
        "[train]\nloss = \"sparse_categorical_crossentropy\"\noptimizer = { kind = \"adam\" }\nbatch_size = 16\nepochs = 10\nmetrics = [\"accuracy\"]\n",
    );
    let dense = |units: usize, activation: &str| format!("[[layer]]\nkind = \"dense\"\nunits = {units}\nactivation = \"{activation}\"\n\n");
    // The same architecture, never trained: the base of the "from random initialization" head.
    let random = dir.path().join("random.onnx");
    let (ok, _, err) = run(&["compile", support::repo().join("models/mnist_cnn.toml").to_str().unwrap(), "-o", random.to_str().unwrap()]);
    assert!(ok, "{err}");
    let on = |base: &Path, cut: &str, layers: &str, trainable_from: &str| {
        format!(
            "[model]\nname = \"digits_5_9\"\nbase = {{ onnx = \"{}\", cut = \"{cut}\"{trainable_from} }}\nseed = 5\n\n{layers}{train_table}",
            base.display()
        )
    };
    let head = |cut: &str, layers: &str, trainable_from: &str| on(&base, cut, layers, trainable_from);
    let seed_head = dense(128, "relu") + &dense(5, "softmax");
    let specs = [
        // The base's features before its Dense block, under the seed's head (Dense 128 → Dense 5).
        ("transfer", head("flatten", &seed_head, "")),
        // Before its last Dense: the 128 features the first digits shaped, under a new Dense(5); and
        // the same head on the same base never trained.
        ("transfer_at_dense", head("dense", &dense(5, "softmax"), "")),
        ("random_base_at_dense", on(&random, "dense", &dense(5, "softmax"), "")),
        ("fine_tuned", head("flatten", &seed_head, ", trainable_from = \"conv2d_1/Conv\"")),
        (
            "scratch",
            format!("{}{train_table}", mnist[..mnist.find("[train]").unwrap()].replace("units = 10", "units = 5").replace("seed = 42", "seed = 5")),
        ),
    ];
    let mut results = vec![];
    for (name, text) in specs {
        let spec = dir.path().join(format!("{name}.toml"));
        std::fs::write(&spec, text).unwrap();
        let model = train(&spec, &few_data, &format!("{name}.onnx"), &["--epochs", epochs]);
        results.push((name, accuracy(&model, &x_test, &y_test)));
    }
    println!("test accuracy on {} images of digits 5–9 after training on 150: {results:?}", test.len());
    let get = |n: &str| results.iter().find(|(m, _)| *m == n).unwrap().1;
    assert!(get("transfer") > get("scratch"), "{results:?}");
    assert!(get("transfer_at_dense") > get("random_base_at_dense"), "{results:?}");
    assert!(get("fine_tuned") > 0.5, "{results:?}");
}

/// `trainable_from` fine-tunes the top of the base: gradients flow through its Conv, inference-mode
/// BatchNormalization (spelled out where its scale and offset train), Add and Relu, and only the
/// weights read from that node on move. The frozen part before it is computed once, up to the last
/// tensor that alone carries the data there (the input of the last residual block), and training on
/// it gives the weights that running the whole base at every step (`--no-cache`) gives.
#[test]
fn trainable_from_fine_tunes_the_top_of_the_base_only() {
    let dir = tempfile::tempdir().unwrap();
    let spec = head_spec(dir.path(), "r171");
    let text = std::fs::read_to_string(&spec).unwrap().replace(r#"cut = "r171""#, r#"cut = "r171", trainable_from = "n168""#);
    std::fs::write(&spec, text).unwrap();
    let data = dir.path().join("images.npz");
    images(&data, 4, 224, 3);
    let (out, recomputed) = (dir.path().join("tuned.onnx"), dir.path().join("recomputed.onnx"));
    let (ok, _, err) = run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--epochs", "2", "-o", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("computed the frozen base's features of 4 samples once"), "the frozen prefix is cached: {err}");
    let (ok, _, err) =
        run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--epochs", "2", "--no-cache", "-o", recomputed.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(!err.contains("features"), "{err}");
    let (before, after, again) = (initializers(&resnet()), initializers(&out), initializers(&recomputed));
    let moved = |name: &str| before[name] != after[name];
    // n168 is the last block's last Conv; its BatchNormalization's scale trains (its offset's gradient
    // is zero: the head's batch normalization cancels any shift shared by the whole batch).
    assert!(moved("gpu_0/res5_2_branch2c_w_0") && moved("gpu_0/res5_2_branch2c_bn_s_0"));
    for frozen in ["gpu_0/res5_2_branch2b_w_0", "gpu_0/conv1_w_0", "gpu_0/res5_2_branch2c_bn_rm_0", "gpu_0/res5_2_branch2c_bn_riv_0"] {
        assert!(!moved(frozen), "`{frozen}` moved");
    }
    for (name, t) in &after {
        let (Some(x), Some(y)) = (t.as_f32(), again[name].as_f32()) else { continue };
        let scale = x.iter().map(|v| v.abs()).fold(1e-3, f32::max);
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        assert!(diff <= 1e-4 * scale, "`{name}`: cached and recomputed fine-tuning differ by {diff} (scale {scale})");
    }
}
