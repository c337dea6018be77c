//! Reading model inputs from CSV, NPY and NPZ files and writing outputs as CSV, NPY, NPZ or JSON.
mod read;
mod write;

pub use read::read_inputs;
pub use write::{OutputFormat, encode_outputs, write_outputs};
