//! Layers from Keras's JSON (`model.to_json()`, `layer.get_config()`): each
//! layer reads its own config (its `from_config`, listed in
//! `layers::registry`); the field readers live in `layers::config`.

pub use crate::layers::config::{declared_input_shape, field, usize_field};
pub use crate::layers::registry::{layer_from_config, register_layer, supported};
