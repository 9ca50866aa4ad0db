//! # Strata
//!
//! Keras-style deep learning in Rust. Define a model layer by layer (a
//! `Sequential` stack, or any graph with the functional API: `Input`,
//! `layer.apply(&x)`, `Model::new(inputs, outputs)`), compile it with an
//! optimizer, a loss and metrics, and `fit` it:
//!
//! ```no_run
//! use strata::prelude::*;
//!
//! # fn main() -> strata::Result<()> {
//! let data = strata::datasets::mnist_sample()?;
//! let mut model = Sequential::with_seed(0);
//! model.add(Conv2D::new(32, (3, 3)).activation(Relu).input_shape([28, 28, 1]))?;
//! model.add(MaxPooling2D::new((2, 2)))?;
//! model.add(Flatten::new())?;
//! model.add(Dense::new(10).activation(Softmax))?;
//! model.compile("adam", "categorical_crossentropy", &["accuracy"])?;
//! model.fit(&data.train.images, &data.train.one_hot(10)?, FitOptions { epochs: 2, ..Default::default() })?;
//! # Ok(()) }
//! ```
//!
//! The tensor engine and autodiff live in [`strata_core`], re-exported as [`core`].

#![warn(missing_docs)]

pub mod activations;
pub mod applications;
pub mod dashboard;
pub mod data;
pub mod datasets;
pub mod distributed;
pub mod explain;
pub mod initializers;
pub mod io;
pub mod layers;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod optimizers;
pub mod plot;
pub mod regularizers;
mod registry;

pub use strata_core as core;
pub use strata_core::{no_grad, optimized_build, warn_if_unoptimized, DType, Error, Gradients, Padding, Result, Rng, Tensor};

/// Everything a model definition needs, in one import.
pub mod prelude {
    pub use crate::activations::Activation::{self, Linear, Relu, Sigmoid, Softmax, Tanh};
    pub use crate::initializers::Initializer;
    pub use crate::layers::{Add, Concatenate, Conv2D, Conv2DTranspose, Dense, Flatten, Layer, LayerOptions, LayerRef, MaxPooling2D};
    pub use crate::losses::{CategoricalCrossentropy, Loss, MeanSquaredError, SparseCategoricalCrossentropy};
    pub use crate::metrics::{Accuracy, Metric};
    pub use crate::data::dataset::Batch;
    pub use crate::model::{Apply, Callback, Compile, FitOptions, History, Input, Model, ModelCheckpoint, Sequential, StepLogs, TrainStep};
    pub use crate::optimizers::{Adam, Optimizer, SGD};
    pub use strata_core::{Padding, Tensor};
}
