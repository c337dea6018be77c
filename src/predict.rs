//! Running a model, as `onyx predict` does: on inputs read from files, on a folder of images (each
//! file's most probable classes), or forecasting a series past its end.
use std::path::{Path, PathBuf};

use onyx_proto::onnx::ModelProto;
use onyx_runtime::data::{self, ReadInputs};
use onyx_runtime::{Engine, HostTensor, IoInfo, Session};

use crate::Error;

/// Images a batch of `classify_images` reads and runs at once.
const IMAGE_BATCH: usize = 64;

/// A model loaded on an engine, ready to run.
pub struct Predictor {
    proto: ModelProto,
    session: Box<dyn Session>,
}

/// One image's most probable classes, most probable first: (name, or the index where the model
/// keeps no names; probability).
#[derive(Clone, Debug)]
pub struct Classified {
    pub file: PathBuf,
    pub classes: Vec<(String, f64)>,
}

impl Predictor {
    /// Reads the model at `model` and loads it on `engine`.
    pub fn load(model: &Path, engine: &dyn Engine) -> Result<Predictor, Error> {
        let proto = onyx_proto::read_model(model)?;
        let session = engine.load(&proto)?;
        Ok(Predictor { proto, session })
    }

    pub fn inputs(&self) -> &[IoInfo] {
        self.session.inputs()
    }

    pub fn outputs(&self) -> &[IoInfo] {
        self.session.outputs()
    }

    /// The model's outputs on `inputs` (one per model input, the batch first).
    pub fn run(&self, inputs: &[HostTensor]) -> Result<Vec<HostTensor>, Error> {
        Ok(self.session.run(inputs)?)
    }

    /// The model's inputs from a CSV, NPY or NPZ file, converted to the types the model takes, with
    /// a note for each conversion. NaN and infinities are refused, naming the input and the index,
    /// unless `allow_nan` (for a model that handles them).
    pub fn read_inputs(&self, path: &Path, allow_nan: bool) -> Result<ReadInputs, Error> {
        let read = data::read_inputs_noted(path, self.session.inputs())?;
        if !allow_nan {
            for (info, t) in self.session.inputs().iter().zip(&read.tensors) {
                if let Some((value, index)) = t.first_non_finite_at() {
                    return Err(Error::NonFiniteInput { path: path.to_path_buf(), input: info.name.clone(), value, index });
                }
            }
        }
        Ok(read)
    }

    /// The window a forecasting model reads: its one input is (window, 1) per sample.
    pub fn window(&self) -> Result<usize, Error> {
        let inputs = self.session.inputs();
        let info = &inputs[0];
        match (inputs.len(), info.shape.get(1).and_then(|d| d.fixed()), info.shape.get(2).and_then(|d| d.fixed()), info.shape.len()) {
            (1, Some(w), Some(1), 3) => Ok(w),
            _ => Err(Error::NotAForecaster(info.describe())),
        }
    }

    /// `steps` values after the end of `series`, each forecast from the window that ends with the
    /// forecasts before it.
    pub fn forecast(&self, series: &[f64], steps: usize) -> Result<Vec<f64>, Error> {
        let window = self.window()?;
        if series.len() < window {
            return Err(Error::ShortSeries { values: series.len(), window });
        }
        let mut extended = series.to_vec();
        for _ in 0..steps {
            let next = self.one_step(&extended, &[extended.len()])?[0];
            extended.push(next);
        }
        Ok(extended.split_off(series.len()))
    }

    /// The one-step forecasts of `series` at each of `ends`: from the window of true values that
    /// ends just before it.
    pub fn one_step(&self, series: &[f64], ends: &[usize]) -> Result<Vec<f64>, Error> {
        if ends.is_empty() {
            return Ok(vec![]);
        }
        let window = self.window()?;
        Ok(self.session.run(&[data::windows_ending(series, window, ends)])?.remove(0).to_f64_vec())
    }

    /// The `top` most probable classes of each image file, by the names the model keeps
    /// (`onyx.classes`) where it has them. Images are read and run a batch at a time.
    pub fn classify_images(&self, files: &[PathBuf], top: usize) -> Result<Vec<Classified>, Error> {
        let [info] = self.session.inputs() else { return Err(Error::Inputs { command: "predict on images", count: self.session.inputs().len() }) };
        let names = onyx_runtime::classes::class_names(&self.proto);
        let metadata: Vec<(String, String)> =
            self.proto.metadata_props.iter().map(|p| (p.key.clone().unwrap_or_default(), p.value.clone().unwrap_or_default())).collect();
        let format = onyx_compiler::image_format::ImageFormat::of(&info.shape, &metadata);
        let mut out = Vec::with_capacity(files.len());
        for chunk in files.chunks(IMAGE_BATCH) {
            let y = self.session.run(&[data::read_images(chunk, info, format)?])?.remove(0);
            let width = y.shape().iter().skip(1).product::<usize>().max(1);
            for (file, row) in chunk.iter().zip(y.to_f64_vec().chunks(width)) {
                let name = |class: usize| names.as_ref().and_then(|n| n.get(class).cloned()).unwrap_or_else(|| class.to_string());
                let classes = onyx_runtime::classes::top_k(row, top).into_iter().map(|(class, p)| (name(class), p)).collect();
                out.push(Classified { file: file.clone(), classes });
            }
        }
        Ok(out)
    }
}
