//! Files in and out: atomic writes, Keras JSON configs, model files.

pub mod atomic;
pub mod csv;
pub mod download;
pub mod keras_config;
pub mod keras_file;
pub mod npy;
