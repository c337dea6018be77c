//! NPY and NPZ files read only after what they declare has been checked against what they hold.
//! ndarray-npy sizes its buffers from the header (its length, then the array's shape) before reading
//! them, so a file of a few bytes could ask for gigabytes; here every array's bytes are read first,
//! bounded by the file (or the zip entry), and its header checked against them.
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, ReadableElement};

/// No single array is read past the size of the largest tensor onyx holds (4 GiB).
const MAX_ARRAY_BYTES: u64 = onyx_proto::MAX_TENSOR_BYTES;

/// An NPY file's array.
pub fn read_npy<T: ReadableElement>(path: &Path) -> Result<ArrayD<T>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let bytes = bounded(file, size)?;
    parse(&bytes)
}

/// An NPZ archive, whose arrays are read one by one through the same checks.
pub struct Npz {
    archive: zip::ZipArchive<File>,
}

impl Npz {
    pub fn open(path: &Path) -> Result<Npz, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        Ok(Npz { archive: zip::ZipArchive::new(file).map_err(|e| format!("not an NPZ (zip) archive: {e}"))? })
    }

    /// The arrays' names, as stored (`x.npy`).
    pub fn names(&self) -> Vec<String> {
        self.archive.file_names().map(str::to_string).collect()
    }

    /// The array `name` (with or without `.npy`).
    pub fn by_name<T: ReadableElement>(&mut self, name: &str) -> Result<ArrayD<T>, String> {
        let stored = if self.archive.index_for_name(name).is_some() { name.to_string() } else { format!("{name}.npy") };
        let entry = self.archive.by_name(&stored).map_err(|e| format!("no array `{name}`: {e}"))?;
        let size = entry.size();
        let bytes = bounded(entry, size)?;
        parse(&bytes)
    }
}

/// Reads what `reader` holds, which declares `size` bytes, refusing more than the budget.
fn bounded(reader: impl Read, size: u64) -> Result<Vec<u8>, String> {
    if size > MAX_ARRAY_BYTES {
        return Err(format!("an array of {size} bytes is over the {MAX_ARRAY_BYTES}-byte limit"));
    }
    // The declared size may lie (a zip entry's header is the file's word): memory follows the bytes
    // that actually arrive, never the claim.
    let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
    reader.take(size + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 != size {
        return Err(format!("the array holds {} bytes where its container declares {size}", bytes.len()));
    }
    Ok(bytes)
}

/// Checks an NPY's header against its bytes, then parses it.
fn parse<T: ReadableElement>(bytes: &[u8]) -> Result<ArrayD<T>, String> {
    let (header, data) = split_header(bytes)?;
    // The header is a Python dict literal: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
    let shape = header.split("'shape':").nth(1).and_then(|s| s.split_once('(')).and_then(|(_, s)| s.split_once(')')).map(|(dims, _)| dims);
    if let Some(dims) = shape {
        let dims: Option<Vec<u64>> = dims.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| d.parse().ok()).collect();
        let dims = dims.ok_or_else(|| format!("the header's shape ({}) is not a tuple of sizes", header.trim()))?;
        // The element size from the type code (`<f4` → 4); 1 when it does not read, which still
        // bounds what the array can claim.
        let width: u64 = header.split("'descr':").nth(1).and_then(|s| s.split('\'').nth(1)).and_then(|d| d.get(2..)).and_then(|w| w.parse().ok()).unwrap_or(1);
        let declared = dims.iter().try_fold(width, |n, &d| n.checked_mul(d));
        if declared != Some(data.len() as u64) {
            return Err(format!("the header declares shape {dims:?} of {width}-byte values, but {} bytes follow it", data.len()));
        }
    }
    ArrayD::<T>::read_npy(Cursor::new(bytes)).map_err(|e| e.to_string())
}

/// The header text and the data after it.
fn split_header(bytes: &[u8]) -> Result<(String, &[u8]), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not an NPY array (no \\x93NUMPY magic)".into());
    }
    let (start, len): (usize, usize) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (12, u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        v => return Err(format!("NPY version {v} is not one this reader knows")),
    };
    let end = start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| format!("the header claims {len} bytes, more than the file holds"))?;
    Ok((String::from_utf8_lossy(&bytes[start..end]).into_owned(), &bytes[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn headers_that_claim_more_than_the_file_are_refused_before_allocating() {
        let good = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", &[0; 8]);
        assert_eq!(parse::<f32>(&good).unwrap().shape(), [2]);
        let huge_shape = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 4000000000), }", &[0; 8]);
        assert!(parse::<f32>(&huge_shape).unwrap_err().contains("declares shape"));
        let mut huge_header = b"\x93NUMPY\x03\x00".to_vec();
        huge_header.extend(3_000_000_000u32.to_le_bytes());
        assert!(parse::<f32>(&huge_header).unwrap_err().contains("more than the file holds"));
        assert!(bounded(Cursor::new(vec![0u8; 4]), 100).unwrap_err().contains("declares 100"));
    }
}
