//! The rewrites that make training steps faster on the engines onyx runs them on, and the
//! thresholds that decide where each pays, in one place. Autodiff and the training graph builder
//! write the plain step; [`Tuning::TUNED`], what onyx trains with, adds these, each computing the
//! same numbers:
//! 1. Relu then MaxPool computed as MaxPool then Relu (`passes::pool_before_relu`);
//! 2. every map cut to the cells its readers read (`passes::crop_unread`);
//! 3. a thin conv and its pooling as shifted kernels over sub-grids (`passes::pool_by_strided_convs`);
//! 4. a wide conv's weight gradient as one GEMM over patches (`ops::conv`).
//!
//! The thresholds were fitted on mnist_cnn and lstm_forecast with `cargo bench --bench train_step`.
use crate::ir::Graph;
use crate::passes::PassError;

/// The sub-grid form's larger kernel multiplies the conv's work (16/9 for 3x3 kernels and 2x2
/// pooling), which pays where the input is thin (an image model's first conv) and not where it is
/// wide: rewriting mnist_cnn's second conv (32 channels) as well made its gradient shard on tract
/// about a third slower than rewriting the first conv alone.
pub const SUBGRID_MAX_INPUT_CHANNELS: usize = 8;

/// Windows of more cells would multiply the sub-grid form's filters (and the work) as many times.
pub const SUBGRID_MAX_CELLS: usize = 9;

/// From this many input channels, a conv's weight gradient is taken from patches rather than from a
/// Conv with the batch as channels.
pub const PATCH_MIN_CHANNELS: usize = 8;

/// A node's fixed cost, in elements it writes, when the update graph is dealt across threads: the
/// ratio of ONNX Runtime's fixed cost per node of the update graph to its cost per element, fitted
/// on mnist_cnn's Adam update.
pub const UPDATE_NODE_COST: usize = 4096;

/// Which rewrites a training step gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuning {
    pub commute_pool: bool,
    pub crop: bool,
    pub subgrid: bool,
    pub patch_products: bool,
}

impl Tuning {
    /// The step as autodiff writes it.
    pub const PLAIN: Tuning = Tuning { commute_pool: false, crop: false, subgrid: false, patch_products: false };
    /// Every rewrite, where its threshold says it pays.
    pub const TUNED: Tuning = Tuning { commute_pool: true, crop: true, subgrid: true, patch_products: true };

    /// The graph rewrites, on the forward graph before autodiff: the crop first, so that the
    /// sub-grids are those of the cells read.
    pub(crate) fn rewrite(&self, graph: &mut Graph) -> Result<(), PassError> {
        if self.commute_pool {
            crate::passes::pool_before_relu(graph);
        }
        if self.crop {
            crate::passes::crop_unread(graph)?;
        }
        if self.subgrid {
            crate::passes::pool_by_strided_convs(graph)?;
        }
        Ok(())
    }
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning::TUNED
    }
}
