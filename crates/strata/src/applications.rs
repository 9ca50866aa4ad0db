//! Ready-made model architectures.

use strata_core::Result;

use crate::prelude::*;

/// The founding document's CNN for 28x28 grey images and 10 classes, layer
/// for layer as its Keras program (60,554 parameters), compiled with Adam,
/// categorical cross-entropy and accuracy.
pub fn headline_cnn(seed: u64) -> Result<Sequential> {
    let mut model = Sequential::with_seed(seed);
    model.add(Conv2D::new(32, (3, 3)).activation(Relu).input_shape([28, 28, 1]))?;
    model.add(MaxPooling2D::new((2, 2)))?;
    model.add(Conv2D::new(64, (3, 3)).activation(Relu))?;
    model.add(MaxPooling2D::new((2, 2)))?;
    model.add(Conv2D::new(64, (3, 3)).activation(Relu))?;
    model.add(MaxPooling2D::new((2, 2)))?;
    model.add(Flatten::new())?;
    model.add(Dense::new(64).activation(Relu))?;
    model.add(Dense::new(10).activation(Softmax))?;
    model.compile("adam", "categorical_crossentropy", &["accuracy"])?;
    Ok(model)
}
