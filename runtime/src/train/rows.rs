//! Where the trainer takes its batches from: tensors in memory, or rows of a float file on disk
//! (a frozen base's features beyond the memory budget), mapped into memory and copied out a batch at
//! a time.
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use ndarray::{ArrayD, IxDyn};

use crate::error::RuntimeError;
use crate::tensor::HostTensor;

/// Samples along the first axis, from which the trainer selects batches.
pub trait Rows {
    /// The rows `rows`, in that order, as one tensor.
    fn select_rows(&self, rows: &[usize]) -> HostTensor;
}

impl Rows for HostTensor {
    fn select_rows(&self, rows: &[usize]) -> HostTensor {
        HostTensor::select_rows(self, rows)
    }
}

/// Float samples written to a file of their own (little-endian f32, row after row), removed when
/// dropped.
pub struct DiskRows {
    path: PathBuf,
    map: Mmap,
    /// The shape of one sample.
    sample: Vec<usize>,
}

impl DiskRows {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Rows for DiskRows {
    fn select_rows(&self, rows: &[usize]) -> HostTensor {
        let width: usize = self.sample.iter().product();
        let mut values = Vec::with_capacity(rows.len() * width);
        for &r in rows {
            let bytes = &self.map[r * width * 4..(r + 1) * width * 4];
            values.extend(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        let mut shape = vec![rows.len()];
        shape.extend(&self.sample);
        HostTensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), values).expect("rows of the sample's width"))
    }
}

impl Drop for DiskRows {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes float samples one batch after another into a new file at `path`.
pub struct DiskWriter {
    path: PathBuf,
    file: std::io::BufWriter<File>,
    rows: usize,
    sample: Option<Vec<usize>>,
}

impl DiskWriter {
    pub fn create(path: PathBuf) -> Result<DiskWriter, RuntimeError> {
        // Read as well as write: the finished file is mapped from this handle.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| RuntimeError::Io { path: path.clone(), source })?;
        Ok(DiskWriter { path, file: std::io::BufWriter::new(file), rows: 0, sample: None })
    }

    pub fn append(&mut self, batch: &ArrayD<f32>) -> Result<(), RuntimeError> {
        let sample = batch.shape()[1..].to_vec();
        if self.sample.get_or_insert_with(|| sample.clone()) != &sample {
            return Err(RuntimeError::Internal(format!("rows of shape {sample:?} after rows of {:?}", self.sample)));
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.file.write_all(&bytes).map_err(|source| RuntimeError::Io { path: self.path.clone(), source })?;
        self.rows += batch.shape()[0];
        Ok(())
    }

    pub fn finish(self) -> Result<DiskRows, RuntimeError> {
        let path = self.path;
        let io = |source| RuntimeError::Io { path: path.clone(), source };
        let file = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        // SAFETY: the file is ours (created above, under a name of its own) and nothing writes to it
        // once mapped; it is removed only when the mapping is dropped.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(DiskRows { path, map, sample: self.sample.unwrap_or_default() })
    }
}

/// A frozen base's features: in memory, or on disk when they outgrow the memory budget.
pub enum Features {
    Memory(HostTensor),
    Disk(DiskRows),
}

impl Rows for Features {
    fn select_rows(&self, rows: &[usize]) -> HostTensor {
        match self {
            Features::Memory(t) => t.select_rows(rows),
            Features::Disk(d) => d.select_rows(rows),
        }
    }
}
