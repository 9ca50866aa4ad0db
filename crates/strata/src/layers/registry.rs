//! Which function reads which Keras layer class: every built-in layer's own
//! `from_config` (in its file), and the user's own layers registered at run
//! time (Keras's `custom_objects`), so models that use them load.

use std::sync::Arc;

use serde_json::Value;
use strata_core::{Error, Result};

use crate::registry::Registry;

use super::config::{declared_input_shape, require};
use super::{Activation, AveragePooling1D, AveragePooling2D, BatchNormalization, Concatenate, Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Cropping2D, Dense, Dot, Embedding, Dropout, Flatten, Layer};
use super::{Add, Average, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, LayerNormalization, MaxPooling1D, MaxPooling2D};
use super::{Maximum, Minimum, Multiply, Permute, ReLU, Reshape, Subtract, UpSampling2D, ZeroPadding2D};
use super::preprocessing::{CenterCrop, MelSpectrogram, Normalization, STFTSpectrogram, RandomAffine, RandomColor, RandomCrop, Rescaling, Resizing, TextVectorization};
use super::regularization::Gaussian;

/// Reads a layer from its Keras config; the first argument names the layer in errors.
pub type FromConfig = fn(&str, &Value) -> Result<Box<dyn Layer>>;

const BUILT_IN: &[(&str, FromConfig)] = &[
    ("Dense", Dense::from_config),
    ("GRU", super::GRU::from_config),
    ("SimpleRNN", super::SimpleRNN::from_config),
    ("LSTM", super::LSTM::from_config),
    ("Bidirectional", super::Bidirectional::from_config),
    ("MultiHeadAttention", super::MultiHeadAttention::from_config),
    ("TimeDistributed", super::TimeDistributed::from_config),
    ("Embedding", Embedding::from_config),
    ("Masking", super::Masking::from_config),
    ("Conv1D", Conv1D::from_config),
    ("Conv2D", Conv2D::from_config),
    ("Conv1DTranspose", Conv1DTranspose::from_config),
    ("Conv2DTranspose", Conv2DTranspose::from_config),
    ("MaxPooling1D", MaxPooling1D::from_config),
    ("MaxPooling2D", MaxPooling2D::from_config),
    ("AveragePooling1D", AveragePooling1D::from_config),
    ("AveragePooling2D", AveragePooling2D::from_config),
    ("GlobalAveragePooling1D", GlobalAveragePooling1D::from_config),
    ("GlobalAveragePooling2D", GlobalAveragePooling2D::from_config),
    ("GlobalMaxPooling1D", GlobalMaxPooling1D::from_config),
    ("GlobalMaxPooling2D", GlobalMaxPooling2D::from_config),
    ("Flatten", Flatten::from_config),
    ("Reshape", Reshape::from_config),
    ("Permute", Permute::from_config),
    ("ZeroPadding2D", ZeroPadding2D::from_config),
    ("Cropping2D", Cropping2D::from_config),
    ("UpSampling2D", UpSampling2D::from_config),
    ("Activation", Activation::from_config),
    ("ReLU", ReLU::from_config),
    ("LeakyReLU", ReLU::leaky_from_config),
    ("Dropout", Dropout::from_config),
    ("GaussianNoise", Gaussian::noise_from_config),
    ("GaussianDropout", Gaussian::dropout_from_config),
    ("Rescaling", Rescaling::from_config),
    ("Normalization", Normalization::from_config),
    ("MelSpectrogram", MelSpectrogram::from_config),
    ("STFTSpectrogram", STFTSpectrogram::from_config),
    ("TextVectorization", TextVectorization::from_config),
    ("Resizing", Resizing::from_config),
    ("CenterCrop", CenterCrop::from_config),
    ("RandomCrop", RandomCrop::from_config),
    ("RandomFlip", RandomAffine::flip_from_config),
    ("RandomRotation", RandomAffine::rotation_from_config),
    ("RandomZoom", RandomAffine::zoom_from_config),
    ("RandomTranslation", RandomAffine::translation_from_config),
    ("RandomContrast", RandomColor::contrast_from_config),
    ("RandomBrightness", RandomColor::brightness_from_config),
    ("BatchNormalization", BatchNormalization::from_config),
    ("LayerNormalization", LayerNormalization::from_config),
    ("Add", Add::from_config),
    ("Subtract", Subtract::from_config),
    ("Multiply", Multiply::from_config),
    ("Average", Average::from_config),
    ("Maximum", Maximum::from_config),
    ("Minimum", Minimum::from_config),
    ("Concatenate", Concatenate::from_config),
    ("Dot", Dot::from_config),
];

static CUSTOM: Registry<ReadLayer> = Registry::new();

/// Reads a layer of one's own from its Keras config.
type ReadLayer = dyn Fn(&Value) -> Result<Box<dyn Layer>> + Send + Sync;

/// Registers the reader of a layer class of one's own (Keras's
/// `register_keras_serializable` / `custom_objects`): models whose config
/// names `class_name` then load. A later registration of a name replaces an earlier one.
pub fn register_layer(class_name: &str, from_config: impl Fn(&Value) -> Result<Box<dyn Layer>> + Send + Sync + 'static) {
    CUSTOM.register(class_name, Arc::new(from_config));
}

/// Whether `class_name` is one of Strata's own layers (and no layer of the
/// user's registered under that name): in inference each of them computes
/// every sample apart from the others.
pub(crate) fn is_built_in(class_name: &str) -> bool {
    BUILT_IN.iter().any(|(n, _)| *n == class_name) && CUSTOM.get(class_name).is_none()
}

/// Every layer class a config may name: the built-in ones, then the registered ones.
pub fn supported() -> Vec<String> {
    BUILT_IN.iter().map(|(n, _)| n.to_string()).chain(CUSTOM.names()).collect()
}

/// Builds a layer from its Keras class name and config, named as the config
/// says, with the input shape it declares. Unknown classes and unsupported
/// options are named in the error.
pub fn layer_from_config(class_name: &str, config: &Value) -> Result<Box<dyn Layer>> {
    let name = config.get("name").and_then(|n| n.as_str()).unwrap_or(class_name).to_string();
    let l = name.as_str();
    require(l, config, "data_format", &Value::from("channels_last"))?;
    let custom = CUSTOM.get(class_name).map(|(_, read)| read);
    let mut layer = match (custom, BUILT_IN.iter().find(|(n, _)| *n == class_name)) {
        (Some(read), _) => read(config).map_err(|e| e.in_layer(l))?,
        (None, Some((_, read))) => read(l, config)?,
        (None, None) => return Err(Error::layer(l, format!("layer class '{class_name}' is not supported yet (supported: {})", supported().join(", ")))),
    };
    layer.set_name(name.clone());
    match config.get("trainable") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => layer.set_trainable(false),
        Some(other) => return Err(Error::layer(l, format!("'trainable' must be true or false, got {other}"))),
    }
    if let Some(shape) = declared_input_shape(l, config)? {
        layer.base_mut().input_shape = Some(shape);
    }
    Ok(layer)
}
