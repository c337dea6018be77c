//! Reading model inputs from CSV, NPY and NPZ files, labelled tables and image folders for training,
//! and writing outputs as CSV, NPY, NPZ or JSON.
mod images;
mod labelled;
pub mod npy;
mod read;
mod scale;
mod series;
mod table;
mod targets;
mod write;

pub use images::{ImageFolder, image_files, read_image_folder, read_image_folder_for, read_images};
pub use labelled::{check_finite, read_labelled};
pub use read::{ReadInputs, convert, read_inputs, read_inputs_noted};
pub use scale::{feature_stats, overall_stats, standardize};
pub use series::{changes, read_series, windows, windows_ending};
pub use table::{Table, read_table};
pub use targets::check_targets;
pub use write::{OutputFormat, encode_outputs, json_values, write_outputs};
