//! A folder of class sub-folders of PNG or JPEG images, read as Keras' `image_dataset_from_directory`
//! reads it: classes in sorted order labelled 0, 1, …; each image decoded, converted to the input's
//! channels (1: grey, 3: RGB), resized to the input's height and width (bilinear) and kept as raw
//! 0–255 values, channels first. Scaling belongs to the model (`normalize` in the spec), so the
//! deployed model takes the same raw pixels.
use onyx_compiler::image_format::{ChannelOrder, ImageFormat, Layout};
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
            .map(|c| {
                classes
                    .iter()
                    .position(|k| k == c)
                    .map(|i| i as i64)
                    .ok_or_else(|| format!("class folder `{c}` is not one of the training classes ({})", classes.join(", ")))
            })
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

/// The (channels, height, width) of an image input of shape (N, C, H, W) or (N, H, W, C) with C of
/// 1 or 3.
fn image_shape(dir: &Path, input: &IoInfo, format: ImageFormat) -> Result<(usize, usize, usize), RuntimeError> {
    let ty = onyx_compiler::ir::TensorType::new(input.dtype, input.shape.clone());
    match format.layout.image_dims(&ty) {
        Some((c @ (1 | 3), h, w)) => Ok((c, h, w)),
        _ => {
            let expected = match format.layout {
                Layout::Nchw => "(N, 1 or 3, H, W)",
                Layout::Nhwc => "(N, H, W, 1 or 3)",
            };
            Err(data_error(dir, format!("a folder of images feeds an input of shape {expected}; the model's is {}", input.describe())))
        }
    }
}

fn is_image(p: &Path) -> bool {
    p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The PNG and JPEG files of `dir` and of its sub-folders (one level, as class folders hold them),
/// sorted by path.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let mut files = vec![];
    for entry in entries(dir)? {
        if entry.is_dir() {
            files.extend(entries(&entry)?.into_iter().filter(|p| is_image(p)));
        } else if is_image(&entry) {
            files.push(entry);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(data_error(dir, "holds no PNG or JPEG images (nor class folders of them)"));
    }
    Ok(files)
}

/// ITU-R BT.601's luma weights, for color images feeding a one-channel model.
const LUMA_601: [f32; 3] = [0.299, 0.587, 0.114];

/// `files` decoded, resized to the input (bilinear) and laid out as `format` says (channels first
/// or last, RGB or BGR) as raw 0–255 values, for a model input of 1 or 3 channels: grayscale images
/// repeated over three channels, color ones reduced to one by BT.601's luma. An image that does not
/// decode is an error naming it.
pub fn read_images(files: &[PathBuf], input: &IoInfo, format: ImageFormat) -> Result<HostTensor, RuntimeError> {
    let (channels, height, width) = image_shape(files.first().map_or(Path::new("."), |f| f.as_path()), input, format)?;
    let plane = height * width;
    // Where channel c of pixel i goes within a sample.
    let at = |i: usize, c: usize| match format.layout {
        Layout::Nchw => c * plane + i,
        Layout::Nhwc => i * channels + c,
    };
    let mut pixels = vec![0f32; files.len() * channels * plane];
    for (file, sample) in files.iter().zip(pixels.chunks_exact_mut(channels * plane)) {
        let img = image::open(file).map_err(|e| data_error(file, format!("cannot read the image: {e}")))?;
        let rgb = img.resize_exact(width as u32, height as u32, FilterType::Triangle).to_rgb8();
        for (i, p) in rgb.pixels().enumerate() {
            let [r, g, b] = p.0.map(f32::from);
            if channels == 1 {
                sample[at(i, 0)] = (LUMA_601[0] * r + LUMA_601[1] * g + LUMA_601[2] * b).round();
            } else {
                let ordered = match format.channels {
                    ChannelOrder::Rgb => [r, g, b],
                    ChannelOrder::Bgr => [b, g, r],
                };
                for (c, v) in ordered.into_iter().enumerate() {
                    sample[at(i, c)] = v;
                }
            }
        }
    }
    let shape = match format.layout {
        Layout::Nchw => [files.len(), channels, height, width],
        Layout::Nhwc => [files.len(), height, width, channels],
    };
    let x = ArrayD::from_shape_vec(IxDyn(&shape), pixels).map_err(|e| RuntimeError::Internal(e.to_string()))?;
    Ok(HostTensor::F32(x))
}

/// Reads `dir` for a model's image input as the model takes it (its layout and channel order from
/// its `metadata`), labelled by `classes` (the training classes, in their order) where given.
pub fn read_image_folder_for(
    dir: &Path,
    input: &IoInfo,
    metadata: &[(String, String)],
    classes: Option<&[String]>,
) -> Result<ImageFolder, RuntimeError> {
    let folder = read_image_folder(dir, input, ImageFormat::of(&input.shape, metadata))?;
    match classes {
        Some(names) => folder.labelled_as(names).map_err(|m| data_error(dir, m)),
        None => Ok(folder),
    }
}

/// Reads `dir` for a model image input laid out as `format` says.
pub fn read_image_folder(dir: &Path, input: &IoInfo, format: ImageFormat) -> Result<ImageFolder, RuntimeError> {
    image_shape(dir, input, format)?;
    let classes: Vec<PathBuf> = entries(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(data_error(dir, "holds no class sub-folders (one folder of images per class)"));
    }
    let mut files: Vec<PathBuf> = vec![];
    let mut labels: Vec<i64> = vec![];
    for (label, class) in classes.iter().enumerate() {
        let found: Vec<PathBuf> = entries(class)?.into_iter().filter(|p| is_image(p)).collect();
        if found.is_empty() {
            return Err(data_error(class, "holds no PNG or JPEG images"));
        }
        labels.extend(std::iter::repeat_n(label as i64, found.len()));
        files.extend(found);
    }
    let x = read_images(&files, input, format)?;
    let classes = classes.iter().map(|c| c.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    Ok(ImageFolder { x, y: HostTensor::I64(Array1::from(labels).into_dyn()), classes })
}
