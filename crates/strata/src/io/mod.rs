//! Files in and out: atomic writes, Keras JSON configs, model files.

pub mod atomic;
pub mod keras_config;
