//! Convolution layers.

mod conv1d;
mod conv2d;
mod conv_transpose;

pub use conv1d::{Conv1D, Padding1D};
pub use conv2d::Conv2D;
pub use conv_transpose::{Conv1DTranspose, Conv2DTranspose};

use strata_core::{Error, Result};

/// Keras's rules: positive dilation and groups, no dilation with strides, channels and filters divisible by groups.
fn check_dilation_and_groups(layer: &str, (dilation, strides): (usize, usize), groups: usize, channels: usize, filters: usize) -> Result<()> {
    if dilation == 0 || groups == 0 {
        return Err(Error::layer(layer, format!("dilation_rate and groups must be positive, received dilation_rate={dilation}, groups={groups}")));
    }
    if dilation > 1 && strides > 1 {
        return Err(Error::layer(layer, format!("strides > 1 not supported in conjunction with dilation_rate > 1 (received strides={strides}, dilation_rate={dilation})")));
    }
    if !channels.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
        return Err(Error::layer(layer, format!("groups={groups} must divide the input channels ({channels}) and filters ({filters})")));
    }
    Ok(())
}
