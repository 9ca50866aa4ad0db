//! # strata-core
//!
//! The bottom layer of Strata: an n-dimensional [`Tensor`] (`f32`, or
//! integers for ids and labels), the differentiable [`ops`], the
//! [`backend`] seam that computes them on a device (the CPU's [`kernels`]
//! today), and reverse-mode automatic differentiation
//! ([`Tensor::backward`]). It knows nothing of layers, models or files.
//!
//! ```
//! use strata_core::Tensor;
//! let w = Tensor::variable(vec![2.0, -1.0], &[2, 1]).unwrap();
//! let x = Tensor::new(vec![1.0, 3.0], &[1, 2]).unwrap();
//! let y = x.matmul(&w).unwrap().square().sum();
//! let grads = y.backward().unwrap();
//! // y = (2 - 3)² = 1; dy/dw = 2 (x·w) xᵀ = [-2, -6]
//! assert_eq!(grads.get(&w).unwrap().to_vec(), [-2.0, -6.0]);
//! ```

pub mod autodiff;
pub mod backend;
pub mod buffer;
pub mod error;
pub mod kernels;
pub mod ops;
pub mod profile;
pub mod rng;
pub mod tensor;
pub mod threads;

pub use autodiff::{no_grad, Gradients, NoGradGuard};
pub use error::{fmt_shape, Error, Result};
pub use kernels::window::Padding;
pub use rng::Rng;
pub use backend::Backend;
pub use tensor::{DType, Device, Tensor};
