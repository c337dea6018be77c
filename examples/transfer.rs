//! Transfer learning on scikit-learn's digits: a small CNN learns digits 0–4 from every image of
//! them; then, cut before its classifier (`cut = "flatten"`) and frozen, it is the base of a new
//! Dense(5) head that learns digits 5–9 from 20 images of each. The base's features are computed
//! once and the head trains on them. The same network trained from scratch on the same 100 images
//! is the comparison; both are measured on the other images of 5–9. The base's weights come out
//! untouched.
use std::path::Path;

use ndarray::ArrayD;
use onyx::HostTensor;
use onyx::train::{Data, EpochLog, Progress, TrainOptions, train};

const LAYERS: &str = "[[layer]]\nkind = \"conv2d\"\nfilters = 16\nkernel = 3\npadding = \"same\"\nactivation = \"relu\"\n\n\
                      [[layer]]\nkind = \"maxpool2d\"\nsize = 2\n\n[[layer]]\nkind = \"flatten\"\n\n";
const HEAD: &str = "[[layer]]\nkind = \"dense\"\nunits = 5\nactivation = \"softmax\"\n\n";
const TRAIN: &str = "[train]\nloss = \"sparse_categorical_crossentropy\"\noptimizer = { kind = \"adam\", lr = 0.01 }\nbatch_size = 16\nepochs = 30\nmetrics = [\"accuracy\"]\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir()?;
    // digits.csv: 64 pixels (0–16) and the digit, one image a row.
    let text = std::fs::read_to_string(repo.join("data/digits.csv"))?;
    let rows: Vec<Vec<f32>> = text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap_or(f32::NAN)).collect()).collect();
    let arrays = |picked: &[&Vec<f32>], shift: i64| -> Data {
        let x = ArrayD::from_shape_fn(vec![picked.len(), 1, 8, 8], |i| picked[i[0]][i[2] * 8 + i[3]] / 16.0);
        let y = ArrayD::from_shape_fn(vec![picked.len()], |i| picked[i[0]][64] as i64 - shift);
        Data::Arrays(HostTensor::F32(x), HostTensor::I64(y))
    };
    let (low, high): (Vec<&Vec<f32>>, Vec<&Vec<f32>>) = rows.iter().partition(|r| r[64] < 5.0);
    let mut seen = [0; 10];
    let (few, rest): (Vec<&Vec<f32>>, Vec<&Vec<f32>>) = high.into_iter().partition(|r| {
        seen[r[64] as usize] += 1;
        seen[r[64] as usize] <= 20
    });
    let spec = |name: &str, text: String| -> std::io::Result<std::path::PathBuf> {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        Ok(path)
    };
    let options = |name: &str, validation: Option<Data>| TrainOptions {
        output: Some(dir.path().join(format!("{name}.onnx"))),
        validation_data: validation,
        ..TrainOptions::default()
    };
    let input = "input = { name = \"image\", shape = [1, 8, 8] }\nseed = 3\n\n";

    let base_spec = spec("digits_0_4", format!("[model]\nname = \"digits_0_4\"\n{input}{LAYERS}{HEAD}{TRAIN}"))?;
    let base = train(&base_spec, &arrays(&low, 0), &options("digits_0_4", None), &onyx::TractEngine, &mut |_| {})?;
    println!("base: digits 0–4 from {} images, training accuracy {:.3}", low.len(), accuracy(&base.history, "accuracy"));

    let head_spec =
        format!("[model]\nname = \"digits_5_9\"\nbase = {{ onnx = \"{}\", cut = \"flatten\" }}\nseed = 3\n\n{HEAD}{TRAIN}", base.output.display());
    let head =
        train(&spec("digits_5_9", head_spec)?, &arrays(&few, 5), &options("digits_5_9", Some(arrays(&rest, 5))), &onyx::TractEngine, &mut |p| {
            if let Progress::Detail(line) = p {
                println!("{line}");
            }
        })?;
    let scratch_spec = spec("scratch", format!("[model]\nname = \"scratch\"\n{input}{LAYERS}{HEAD}{TRAIN}"))?;
    let scratch = train(&scratch_spec, &arrays(&few, 5), &options("scratch", Some(arrays(&rest, 5))), &onyx::TractEngine, &mut |_| {})?;
    let (transferred, from_scratch) = (accuracy(&head.history, "val_accuracy"), accuracy(&scratch.history, "val_accuracy"));
    println!(
        "digits 5–9 from {} images, accuracy on the other {}: {transferred:.3} on the frozen base, {from_scratch:.3} from scratch",
        few.len(),
        rest.len()
    );

    let (before, after) = (onyx::weights(&base.model)?, onyx::weights(&head.model)?);
    let moved: Vec<&String> = before.iter().filter(|(name, w)| name.starts_with("conv2d") && after.get(*name) != Some(*w)).map(|(n, _)| n).collect();
    if !moved.is_empty() || transferred < 0.8 {
        return Err(format!("frozen weights moved: {moved:?}; accuracy on the frozen base {transferred}").into());
    }
    Ok(())
}

/// The last epoch's value of `metric` (`accuracy`, or `val_accuracy` for the validation data).
fn accuracy(history: &[EpochLog], metric: &str) -> f64 {
    let Some(last) = history.last() else { return f64::NAN };
    let (list, name) = match metric.strip_prefix("val_") {
        Some(name) => (&last.val_metrics, name),
        None => (&last.metrics, metric),
    };
    list.iter().find(|(m, _)| m == name).map_or(f64::NAN, |(_, v)| *v)
}
