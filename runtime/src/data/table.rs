//! Labelled tables for training: a CSV with a header row, the target column chosen by name (the last
//! by default) and the other columns as features.
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::{DType, TensorType};

use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

/// A numeric table: its header and its rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

/// Reads a CSV whose first row names the columns; every other cell must be a finite number.
pub fn read_table(path: &Path) -> Result<Table, RuntimeError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(path).map_err(|e| data_error(path, e.to_string()))?;
    let columns: Vec<String> = reader.headers().map_err(|e| data_error(path, e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
    let mut rows = vec![];
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| data_error(path, format!("line {line}: {e}")))?;
        if record.len() != columns.len() {
            return Err(data_error(path, format!("line {line}: {} cells, but the header names {} columns", record.len(), columns.len())));
        }
        let row = record
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let cell = cell.trim();
                cell.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| RuntimeError::DataCell {
                    path: path.to_path_buf(),
                    row: line,
                    column: format!("{} `{}`", c + 1, columns[c]),
                    message: format!("`{cell}` is not a finite number"),
                })
            })
            .collect::<Result<Vec<f64>, _>>()?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(data_error(path, "no data rows"));
    }
    Ok(Table { columns, rows })
}

impl Table {
    /// Features shaped for `input` and the target typed as `target` (class ids or values), from the
    /// column named `target_column` (the last when `None`).
    pub fn split(
        &self,
        path: &Path,
        input: &IoInfo,
        target: &TensorType,
        target_column: Option<&str>,
    ) -> Result<(HostTensor, HostTensor), RuntimeError> {
        let t = match target_column {
            None => self.columns.len() - 1,
            Some(name) => self
                .columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| data_error(path, format!("no column named `{name}`; the columns are: {}", self.columns.join(", "))))?,
        };
        let n = self.rows.len();
        let shape = input.batch_shape(n).ok_or_else(|| data_error(path, format!("input {} has unknown dimensions", input.describe())))?;
        let per_sample: usize = shape[1..].iter().product();
        if self.columns.len() - 1 != per_sample {
            return Err(data_error(
                path,
                format!(
                    "{} feature columns (all but `{}`), but each sample of {} has {per_sample} values",
                    self.columns.len() - 1,
                    self.columns[t],
                    input.describe()
                ),
            ));
        }
        let features: Vec<f64> = self.rows.iter().flat_map(|r| r.iter().enumerate().filter(|(c, _)| *c != t).map(|(_, v)| *v)).collect();
        let x = match input.dtype {
            DType::I64 => HostTensor::I64(
                ArrayD::from_shape_vec(IxDyn(&shape), features.iter().map(|&v| v as i64).collect()).map_err(|e| data_error(path, e.to_string()))?,
            ),
            _ => HostTensor::F32(
                ArrayD::from_shape_vec(IxDyn(&shape), features.iter().map(|&v| v as f32).collect()).map_err(|e| data_error(path, e.to_string()))?,
            ),
        };
        let column: Vec<f64> = self.rows.iter().map(|r| r[t]).collect();
        let y = match target.dtype {
            DType::I64 => {
                if let Some((row, v)) = column.iter().enumerate().find(|(_, v)| v.fract() != 0.0 || **v < 0.0) {
                    return Err(RuntimeError::DataCell {
                        path: path.to_path_buf(),
                        row: row + 2,
                        column: format!("{} `{}`", t + 1, self.columns[t]),
                        message: format!("{v} is not a class id (a whole number from 0)"),
                    });
                }
                HostTensor::I64(
                    ArrayD::from_shape_vec(IxDyn(&[n]), column.iter().map(|&v| v as i64).collect()).map_err(|e| data_error(path, e.to_string()))?,
                )
            }
            _ => {
                let width = target.shape.get(1).and_then(|d| d.fixed()).unwrap_or(1);
                if width != 1 {
                    return Err(data_error(path, format!("the model predicts {width} values per sample, but one target column was given")));
                }
                HostTensor::F32(
                    ArrayD::from_shape_vec(IxDyn(&[n, 1]), column.iter().map(|&v| v as f32).collect())
                        .map_err(|e| data_error(path, e.to_string()))?,
                )
            }
        };
        Ok((x, y))
    }
}
