//! Training data that would train a wrong model without a word is refused, naming where: a NaN in
//! the features, labels outside the classes, binary targets outside [0, 1], `x` and `y` of
//! different lengths; and weights that turn non-finite during training stop it at that step,
//! though the loss, read through Relu and pooling, still looks sound.
mod support;

use std::path::Path;

use ndarray::ArrayD;
use onyx_runtime::HostTensor;
use support::run_onyx as run;

fn spec(dir: &Path, output: &str, loss: &str, lr: f64) -> std::path::PathBuf {
    let path = dir.join("model.toml");
    std::fs::write(
        &path,
        format!(
            "[model]\nname = \"m\"\ninput = {{ name = \"x\", shape = [1, 8, 8] }}\nseed = 1\n\n\
             [[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\nactivation = \"relu\"\n\n[[layer]]\nkind = \"maxpool2d\"\nsize = 2\n\n\
             [[layer]]\nkind = \"flatten\"\n\n{output}\n[train]\nloss = \"{loss}\"\noptimizer = {{ kind = \"sgd\", lr = {lr:?} }}\nbatch_size = 16\nepochs = 1\n"
        ),
    )
    .unwrap();
    path
}

const TEN_CLASSES: &str = "[[layer]]\nkind = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";
const ONE_PROBABILITY: &str = "[[layer]]\nkind = \"dense\"\nunits = 1\nactivation = \"sigmoid\"\n";

fn images(n: usize) -> ArrayD<f32> {
    ArrayD::from_shape_fn(vec![n, 1, 8, 8], |i| ((i[0] * 7 + i[2] * 3 + i[3]) % 11) as f32 / 11.0)
}

fn write(dir: &Path, x: ArrayD<f32>, y: HostTensor) -> std::path::PathBuf {
    let path = dir.join("data.npz");
    support::write_npz(&path, &["x".into(), "y".into()], &[HostTensor::F32(x), y]);
    path
}

fn labels(v: Vec<i64>) -> HostTensor {
    HostTensor::I64(ArrayD::from_shape_vec(vec![v.len()], v).unwrap())
}

fn train(spec: &Path, data: &Path, dir: &Path) -> (bool, String) {
    let out = dir.join("m.onnx");
    let (ok, _, err) = run(&["train", spec.to_str().unwrap(), "--data", data.to_str().unwrap(), "--quiet", "-o", out.to_str().unwrap()]);
    (ok, err)
}

#[test]
fn a_nan_in_the_features_is_refused_with_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = images(32);
    x[[3, 0, 5, 5]] = f32::NAN;
    let data = write(dir.path(), x, labels((0..32).map(|i| i % 10).collect()));
    let (ok, err) = train(&spec(dir.path(), TEN_CLASSES, "sparse_categorical_crossentropy", 0.01), &data, dir.path());
    assert!(!ok && err.contains("data.npz") && err.contains("the features hold NaN at index [3, 0, 5, 5]"), "{err}");
    assert!(!dir.path().join("m.onnx").exists(), "nothing is written");
}

#[test]
fn labels_outside_the_classes_are_refused_with_their_row() {
    let dir = tempfile::tempdir().unwrap();
    let model = spec(dir.path(), TEN_CLASSES, "sparse_categorical_crossentropy", 0.01);
    for bad in [10, -1, 1 << 62] {
        let mut y: Vec<i64> = (0..32).map(|i| i % 10).collect();
        y[5] = bad;
        let data = write(dir.path(), images(32), labels(y));
        let (ok, err) = train(&model, &data, dir.path());
        assert!(!ok && err.contains(&format!("row 6: label {bad} is not a class of the model's 10 (0 to 9)")), "{err}");
    }
    let model = spec(dir.path(), ONE_PROBABILITY, "binary_crossentropy", 0.01);
    let mut y = vec![0f32; 32];
    y[7] = 2.0;
    let data = write(dir.path(), images(32), HostTensor::F32(ArrayD::from_shape_vec(vec![32, 1], y).unwrap()));
    let (ok, err) = train(&model, &data, dir.path());
    assert!(!ok && err.contains("row 8: binary target 2 is outside [0, 1]"), "{err}");
}

#[test]
fn x_and_y_of_different_lengths_say_both() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), images(32), labels((0..31).map(|i| i % 10).collect()));
    let (ok, err) = train(&spec(dir.path(), TEN_CLASSES, "sparse_categorical_crossentropy", 0.01), &data, dir.path());
    assert!(!ok && err.contains("32 samples of `x` but 31 of `y`"), "{err}");
}

/// A NaN that reaches training (here through the trainer itself, which the readers' check does not
/// guard) turns the first conv's kernel into NaN in the first step, while Relu and max pooling turn
/// the NaN activations into finite ones and the loss stays near ln 10: the weights are checked after
/// every step, and training stops there.
#[test]
fn weights_turning_non_finite_stop_training_at_that_step() {
    use onyx_runtime::train::{FitOptions, Trainer};
    let dir = tempfile::tempdir().unwrap();
    let spec = onyx_compiler::Spec::from_file(&spec(dir.path(), TEN_CLASSES, "sparse_categorical_crossentropy", 0.01)).unwrap();
    let model = onyx_compiler::compile(&spec).unwrap();
    let train = spec.train.clone().unwrap();
    let mut x = images(32);
    x[[3, 0, 5, 5]] = f32::NAN;
    let y = labels((0..32).map(|i| i % 10).collect());
    let mut trainer = Trainer::new(onyx_compiler::train::build(&model.graph, &train).unwrap(), &onyx_runtime::TractEngine).unwrap();
    let e = trainer.fit(&[HostTensor::F32(x)], &y, None, &FitOptions::from_spec(&train, 1), &mut |_| {}).unwrap_err();
    assert!(matches!(&e, onyx_runtime::RuntimeError::NonFinite { epoch: 1, batch: 1, tensor } if tensor.starts_with("conv2d")), "{e}");
}

/// A 2-D NPY table of float32 (or any number type), not only NumPy's default float64, trains.
#[test]
fn an_npy_table_of_float32_trains() {
    let dir = tempfile::tempdir().unwrap();
    let table = ndarray::Array2::from_shape_fn((40, 6), |(r, c)| if c == 5 { (r % 2) as f32 } else { ((r * 3 + c * 5) % 7) as f32 / 7.0 });
    let data = dir.path().join("table.npy");
    ndarray_npy::write_npy(&data, &table).unwrap();
    let (ok, err) = train(&support::repo().join("models/he_mlp.toml"), &data, dir.path());
    assert!(ok, "{err}");
}

/// `predict` refuses NaN inputs as training does, naming the input and the index, unless told the
/// model handles them (`--allow-nan`).
#[test]
fn predict_refuses_nan_inputs_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("mlp.onnx");
    let (ok, _, err) = run(&["compile", support::repo().join("models/he_mlp.toml").to_str().unwrap(), "-o", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mut x = ndarray::Array2::<f32>::zeros((4, 5));
    x[[2, 3]] = f32::INFINITY;
    let data = dir.path().join("x.npy");
    ndarray_npy::write_npy(&data, &x).unwrap();
    let (ok, _, err) = run(&["predict", model.to_str().unwrap(), "--input", data.to_str().unwrap()]);
    assert!(!ok && err.contains("input `x` holds inf at index [2, 3]") && err.contains("--allow-nan"), "{err}");
    let (ok, _, err) = run(&["predict", model.to_str().unwrap(), "--input", data.to_str().unwrap(), "--allow-nan"]);
    assert!(ok, "{err}");
}
