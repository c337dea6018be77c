//! `--engine`, `--device` and `--engine-threads`: which engine runs a model, for every command that
//! runs one.
use anyhow::bail;
use onyx_runtime::{TractEngine, TrainingEngine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Choice {
    /// tract: pure Rust, CPU, always present.
    Tract,
    /// ONNX Runtime, loaded from ORT_DYLIB_PATH.
    Ort,
    /// ONNX Runtime when its library loads, else tract; a model the first refuses runs on the other.
    Auto,
}

#[derive(clap::Args, Clone, Debug)]
pub struct EngineArgs {
    /// The engine that runs the model.
    #[arg(long, value_enum, default_value = "tract")]
    pub engine: Choice,
    /// With the ort engine: `cpu`, or `cuda` / `cuda:N` for ONNX Runtime's CUDA execution provider.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// With the ort engine: threads ONNX Runtime uses within a node (its default: every core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub engine_threads: Option<u32>,
}

impl EngineArgs {
    /// The chosen engine, with a missing ONNX Runtime reported before any work starts (or, for
    /// `auto`, replaced by tract with a note).
    pub fn engine(&self) -> anyhow::Result<Box<dyn TrainingEngine>> {
        if self.engine == Choice::Tract {
            if self.device != "cpu" {
                bail!("--device {} needs --engine ort; tract runs on the CPU", self.device);
            }
            return Ok(Box::new(TractEngine));
        }
        self.ort()
    }

    #[cfg(feature = "ort")]
    fn ort(&self) -> anyhow::Result<Box<dyn TrainingEngine>> {
        use onyx_runtime::{Device, OrtEngine};
        let device = match self.device.as_str() {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda(0),
            d => match d.strip_prefix("cuda:").and_then(|n| n.parse::<i32>().ok()) {
                Some(n) if n >= 0 => Device::Cuda(n),
                _ => bail!("--device {d}: expected cpu, cuda or cuda:N"),
            },
        };
        let engine = OrtEngine::new(self.engine_threads.map(|n| n as usize), device);
        match (engine.check(), self.engine) {
            // Each model tract can load where ONNX Runtime cannot runs there instead, and the
            // other way round.
            (Ok(()), Choice::Auto) => Ok(Box::new(onyx_runtime::FallbackEngine {
                first: Box::new(engine),
                second: Box::new(TractEngine),
                note: Box::new(|why| eprintln!("note: {why}")),
            })),
            (Ok(()), _) => Ok(Box::new(engine)),
            (Err(e), Choice::Auto) if device == Device::Cpu => {
                eprintln!("note: {e}; running on tract");
                Ok(Box::new(TractEngine))
            }
            (Err(e), _) => Err(e.into()),
        }
    }

    #[cfg(not(feature = "ort"))]
    fn ort(&self) -> anyhow::Result<Box<dyn TrainingEngine>> {
        if self.engine == Choice::Auto && self.device == "cpu" {
            return Ok(Box::new(TractEngine));
        }
        bail!("this onyx was built without the ort engine (cargo feature `ort`)")
    }
}
