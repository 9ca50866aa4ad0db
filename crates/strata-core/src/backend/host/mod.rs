//! The host kernels behind [`super::Portable`] and [`super::Cpu`]: each op's
//! forward pass over host slices and, right beside it, the closure that
//! computes its inputs' gradients.

pub(crate) mod activation;
pub(crate) mod arith;
pub(crate) mod conv;
pub(crate) mod image;
pub(crate) mod index;
pub(crate) mod layout;
pub(crate) mod linear;
pub(crate) mod lstm;
pub(crate) mod loss;
pub(crate) mod matmul;
pub(crate) mod optim;
pub(crate) mod gate_dropout;
pub(crate) mod gru;
pub(crate) mod gru_reset_before;
pub(crate) mod pool;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod softmax;
pub(crate) mod stages;
pub(crate) mod table_rows;
