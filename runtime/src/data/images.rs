//! A folder of class sub-folders of PNG or JPEG images, read as Keras' `image_dataset_from_directory`
//! reads it: classes in sorted order labelled 0, 1, …; each image decoded, converted to the input's
//! channels (1: grey, 3: RGB), resized to the input's height and width (bilinear) and kept as raw
//! 0–255 values, channels first. Scaling belongs to the model (`normalize` in the spec), so the
//! deployed model takes the same raw pixels.
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use ndarray::{Array1, ArrayD, IxDyn};

use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

/// Images and their class indices (in sorted-file order within each class), and the class names.
pub struct ImageFolder {
    pub x: HostTensor,
    pub y: HostTensor,
    pub classes: Vec<String>,
}

impl ImageFolder {
    /// The same images labelled by `classes` (another folder's, in its order), for validation
    /// images that must mean what the training images mean. A class folder `classes` lacks is an
    /// error naming it.
    pub fn labelled_as(self, classes: &[String]) -> Result<ImageFolder, String> {
        let index: Vec<i64> = self
            .classes
            .iter()
            .map(|c| classes.iter().position(|k| k == c).map(|i| i as i64).ok_or_else(|| format!("class folder `{c}` is not one of the training classes ({})", classes.join(", "))))
            .collect::<Result<_, _>>()?;
        let y = match &self.y {
            HostTensor::I64(a) => HostTensor::I64(a.mapv(|l| index[l as usize])),
            other => other.clone(),
        };
        Ok(ImageFolder { x: self.x, y, classes: classes.to_vec() })
    }

    /// The images in an order drawn from `seed`.
    pub fn shuffled(self, seed: u64) -> ImageFolder {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut order: Vec<usize> = (0..self.y.shape()[0]).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        ImageFolder { x: self.x.select_rows(&order), y: self.y.select_rows(&order), classes: self.classes }
    }
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| RuntimeError::Io { path: dir.to_path_buf(), source })?
        .map(|e| e.map(|e| e.path()).map_err(|source| RuntimeError::Io { path: dir.to_path_buf(), source }))
        .collect::<Result<_, _>>()?;
    out.sort();
    Ok(out)
}

/// Reads `dir` for a model input of shape (N, C, H, W) with C of 1 or 3.
pub fn read_image_folder(dir: &Path, input: &IoInfo) -> Result<ImageFolder, RuntimeError> {
    let dims: Option<Vec<usize>> = input.shape.iter().skip(1).map(|d| d.fixed()).collect();
    let (channels, height, width) = match dims.as_deref() {
        Some(&[c @ (1 | 3), h, w]) => (c, h, w),
        _ => return Err(data_error(dir, format!("a folder of images feeds an input of shape (N, 1 or 3, H, W); the model's is {}", input.describe()))),
    };
    let classes: Vec<PathBuf> = entries(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(data_error(dir, "holds no class sub-folders (one folder of images per class)"));
    }
    let mut pixels: Vec<f32> = vec![];
    let mut labels: Vec<i64> = vec![];
    for (label, class) in classes.iter().enumerate() {
        let files: Vec<PathBuf> = entries(class)?
            .into_iter()
            .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())))
            .collect();
        if files.is_empty() {
            return Err(data_error(class, "holds no PNG or JPEG images"));
        }
        for file in files {
            let img = image::open(&file).map_err(|e| data_error(&file, format!("cannot read the image: {e}")))?;
            let img = img.resize_exact(width as u32, height as u32, FilterType::Triangle);
            let start = pixels.len();
            pixels.resize(start + channels * height * width, 0.0);
            let plane = height * width;
            if channels == 1 {
                for (i, p) in img.to_luma8().pixels().enumerate() {
                    pixels[start + i] = p.0[0] as f32;
                }
            } else {
                for (i, p) in img.to_rgb8().pixels().enumerate() {
                    for c in 0..3 {
                        pixels[start + c * plane + i] = p.0[c] as f32;
                    }
                }
            }
            labels.push(label as i64);
        }
    }
    let n = labels.len();
    let x = ArrayD::from_shape_vec(IxDyn(&[n, channels, height, width]), pixels).map_err(|e| data_error(dir, e.to_string()))?;
    let classes = classes.iter().map(|c| c.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    Ok(ImageFolder { x: HostTensor::F32(x), y: HostTensor::I64(Array1::from(labels).into_dyn()), classes })
}
