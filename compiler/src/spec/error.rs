use std::fmt;
use std::path::PathBuf;

/// A spec error that names where it is: file, line, layer and field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Index (1-based, as a reader counts) of the layer, when the error is inside one.
    pub layer: Option<usize>,
    pub layer_name: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(index) = self.layer {
            write!(f, "layer {index}")?;
            if let Some(name) = &self.layer_name {
                write!(f, " `{name}`")?;
            }
            f.write_str(if self.field.is_some() { ", " } else { ": " })?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}
