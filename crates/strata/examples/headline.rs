//! The founding document's Keras program, line for line, in Rust.
//!
//!     cargo run --release -p strata --example headline

use strata::prelude::*;

fn main() -> strata::Result<()> {
    let data = strata::datasets::mnist_sample()?; // or datasets::load_idx_dir("fashion-mnist")
    let (x_train, y_train) = (&data.train.images, data.train.one_hot(10)?);

    let mut model = Sequential::with_seed(0);
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
    model.summary()?;
    model.fit(x_train, &y_train, FitOptions { epochs: 10, batch_size: 32, ..Default::default() })?;

    let test = model.evaluate(&data.test.images, &data.test.one_hot(10)?, 1000)?;
    println!("test accuracy {:.4}", test.get("accuracy").unwrap_or(f64::NAN));
    Ok(())
}
