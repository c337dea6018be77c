//! `onyx train --validation-data`, Keras' `validation_data`: a file or folder of its own in place
//! of `validation_split`. Given the rows the split would take, it trains to the same weights and
//! logs the same validation figures; validation images must belong to the training classes.
mod support;

use std::path::Path;

fn train(args: &[&str]) -> (bool, String) {
    let (ok, _, stderr) =
        support::run_onyx(&[&["train", "models/logistic_regression.toml", "--standardize", "--quiet", "--epochs", "4"], args].concat());
    (ok, stderr)
}

/// history.csv without its wall-time column, which differs from run to run.
fn history(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let keep: Vec<usize> = header.iter().enumerate().filter(|(_, h)| !h.contains("time") && !h.contains("seconds")).map(|(i, _)| i).collect();
    assert!(header.contains(&"val_loss"), "{header:?}");
    text.lines().map(|l| keep.iter().map(|&i| l.split(',').nth(i).unwrap_or("")).collect::<Vec<_>>().join(",")).collect()
}

#[test]
fn validation_data_equals_the_split_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(support::repo().join("data/breast_cancer.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (header, rows) = (lines[0], &lines[1..]);
    // Keras' validation_split 0.2 takes the last ⌊569·0.2⌋ = 113 rows.
    let cut = rows.len() - rows.len() / 5;
    let write = |name: &str, part: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{header}\n{}\n", part.join("\n"))).unwrap();
        path
    };
    let (head, tail) = (write("head.csv", &rows[..cut]), write("tail.csv", &rows[cut..]));
    let (split, given) = (dir.path().join("split.onnx"), dir.path().join("given.onnx"));
    let (ok, err) = train(&["--data", "data/breast_cancer.csv", "--target", "benign", "--validation-split", "0.2", "-o", split.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, err) =
        train(&["--data", head.to_str().unwrap(), "--validation-data", tail.to_str().unwrap(), "--target", "benign", "-o", given.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(history(&dir.path().join("split.history.csv")), history(&dir.path().join("given.history.csv")));
    let weights = |p: &Path| onyx_proto::read_model(p).unwrap().graph.unwrap().initializer;
    assert_eq!(weights(&split), weights(&given));
    // Both at once is a usage error.
    let (ok, err) = train(&[
        "--data",
        head.to_str().unwrap(),
        "--validation-data",
        tail.to_str().unwrap(),
        "--validation-split",
        "0.1",
        "-o",
        given.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("--validation-split"), "{err}");
}

#[test]
fn validation_images_must_be_of_the_training_classes() {
    let dir = tempfile::tempdir().unwrap();
    let folder = |name: &str, classes: &[&str]| {
        for class in classes {
            std::fs::create_dir_all(dir.path().join(name).join(class)).unwrap();
            for i in 0..2u32 {
                image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x + y + i) % 255) as u8]))
                    .save(dir.path().join(name).join(class).join(format!("{i}.png")))
                    .unwrap();
            }
        }
        dir.path().join(name)
    };
    let (train_dir, val_dir) = (folder("train", &["cat", "dog"]), folder("val", &["cat", "owl"]));
    let (ok, _, err) = support::run_onyx(&[
        "train",
        "models/mnist_cnn.toml",
        "--data",
        train_dir.to_str().unwrap(),
        "--validation-data",
        val_dir.to_str().unwrap(),
        "--epochs",
        "1",
        "-o",
        dir.path().join("m.onnx").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("class folder `owl` is not one of the training classes (cat, dog)") && err.contains("val"), "{err}");
    assert!(!dir.path().join("m.onnx").exists());
}
