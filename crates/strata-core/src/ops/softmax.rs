//! Softmax and log-softmax along any axis, computed stably (max subtracted).

use crate::error::Result;
use crate::tensor::Tensor;

use super::resolve_axis;

impl Tensor {
    /// Softmax along `axis` (`-1` = last). The result remembers its logits so
    /// that a cross-entropy loss can take the fused, stable path.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        let axis = resolve_axis("softmax", axis, self.shape())?;
        Ok(self.backend().softmax(self, axis, false))
    }

    /// `log(softmax(x))` along `axis`, computed without forming the softmax.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        let axis = resolve_axis("log_softmax", axis, self.shape())?;
        Ok(self.backend().softmax(self, axis, true))
    }
}
