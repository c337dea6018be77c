//! NPY and NPZ files read only after what they declare has been checked against what they hold.
//! ndarray-npy sizes its buffers from the header (its length, then the array's shape) before reading
//! them, so a file of a few bytes could ask for gigabytes; here every array's bytes are read first,
//! bounded by the file (or the zip entry), and its header checked against them.
use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, ReadableElement};
use onyx_compiler::ir::DType;

use crate::tensor::HostTensor;

/// No single array is read past the size of the largest tensor onyx holds (4 GiB).
const MAX_ARRAY_BYTES: u64 = onyx_proto::MAX_TENSOR_BYTES;

/// An NPY file's array.
pub fn read_npy<T: ReadableElement>(path: &Path) -> Result<ArrayD<T>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let bytes = bounded(file, size)?;
    parse(&bytes)
}

/// An NPY file's array, of whatever element type it holds.
pub fn read_npy_tensor(path: &Path) -> Result<HostTensor, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    parse_tensor(&bounded(file, size)?)
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

impl Npz {
    /// The array `name` (with or without `.npy`), of whatever element type it holds.
    pub fn tensor(&mut self, name: &str) -> Result<HostTensor, String> {
        let stored = if self.archive.index_for_name(name).is_some() { name.to_string() } else { format!("{name}.npy") };
        let entry = self.archive.by_name(&stored).map_err(|e| format!("no array `{name}`: {e}"))?;
        let size = entry.size();
        parse_tensor(&bounded(entry, size)?)
    }
}

/// The element type a NumPy descriptor names, little-endian or byte-wide only.
fn descr_dtype(descr: &str) -> Result<DType, String> {
    let code = descr.trim_start_matches(['<', '|', '=']);
    if descr.starts_with('>') && !descr.ends_with('1') {
        return Err(format!("big-endian arrays ({descr}) are not read; save them little-endian (`a.astype(a.dtype.newbyteorder('<'))`)"));
    }
    Ok(match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "f2" => DType::F16,
        "i1" | "b" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" | "B" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "b1" | "?" => DType::Bool,
        // ml_dtypes' bfloat16 is saved as two opaque bytes.
        "V2" => DType::BF16,
        other => return Err(format!("arrays of NumPy type `{other}` are not read (numbers and bools are)")),
    })
}

/// Parses an NPY of any numeric or bool type from its bytes; Fortran-ordered arrays come back in
/// row-major order.
fn parse_tensor(bytes: &[u8]) -> Result<HostTensor, String> {
    let (header, data) = split_header(bytes)?;
    let field = |key: &str| header.split(&format!("'{key}':")).nth(1).map(str::trim_start);
    let descr = field("descr")
        .and_then(|s| s.strip_prefix('\''))
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| format!("the header has no type (`descr`): {}", header.trim()))?;
    let dtype = descr_dtype(descr)?;
    let fortran = field("fortran_order").is_some_and(|s| s.starts_with("True"));
    let dims = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split_once(')'))
        .map(|(d, _)| d)
        .ok_or_else(|| format!("the header has no shape: {}", header.trim()))?;
    let mut shape: Vec<usize> = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().map_err(|_| format!("the header's shape ({dims}) is not a tuple of sizes")))
        .collect::<Result<_, _>>()?;
    if fortran {
        shape.reverse();
    }
    let t = HostTensor::from_le_bytes(dtype, &shape, data).map_err(|e| format!("the header declares shape {shape:?} of {dtype}: {e}"))?;
    if !fortran {
        return Ok(t);
    }
    // Stored column-major: the reversed shape read row-major, transposed back.
    Ok(crate::each_host_tensor!(t, a => crate::tensor::Element::wrap(a.reversed_axes().as_standard_layout().into_owned())))
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
        let width: u64 =
            header.split("'descr':").nth(1).and_then(|s| s.split('\'').nth(1)).and_then(|d| d.get(2..)).and_then(|w| w.parse().ok()).unwrap_or(1);
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
    let end =
        start.checked_add(len).filter(|&e| e <= bytes.len()).ok_or_else(|| format!("the header claims {len} bytes, more than the file holds"))?;
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

    #[test]
    fn every_numpy_type_reads_as_itself() {
        let int32 = npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(parse_tensor(&int32).unwrap(), HostTensor::I32(ndarray::arr1(&[1, -1]).into_dyn()));
        let half = npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", &crate::tensor::f16::from_f32(1.5).to_le_bytes());
        assert_eq!(parse_tensor(&half).unwrap().to_f64_vec(), [1.5]);
        let flags = npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", &[1, 0, 1]);
        assert_eq!(parse_tensor(&flags).unwrap(), HostTensor::Bool(ndarray::arr1(&[true, false, true]).into_dyn()));
        // [[1, 2, 3], [4, 5, 6]] stored column-major.
        let fortran = npy("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }", &[1, 4, 2, 5, 3, 6]);
        assert_eq!(parse_tensor(&fortran).unwrap(), HostTensor::U8(ndarray::arr2(&[[1, 2, 3], [4, 5, 6]]).into_dyn()));
        let strings = npy("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", &[0; 12]);
        assert!(parse_tensor(&strings).unwrap_err().contains("`U3`"));
        let short = npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", &[0; 8]);
        assert!(parse_tensor(&short).unwrap_err().contains("takes 16 bytes"));
    }
}
