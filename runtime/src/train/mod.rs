//! The trainer: runs a training-step graph step after step on an engine, with batching, seeded
//! shuffling, dropout masks, validation and early stopping, and reports progress to an observer.
mod cache;
mod checkpoint;
mod fit;
mod history;
mod rows;
mod shards;

pub use cache::{FrozenBase, features, split_frozen_base};
pub use checkpoint::{Checkpoint, EarlyState, checkpoint_path, load as load_checkpoint};
pub use fit::{EarlyStopping, EpochLog, Event, FitOptions, Trainer};
pub use history::{write_history_csv, write_loss_plot};
pub use rows::{DiskRows, Features, Rows};
