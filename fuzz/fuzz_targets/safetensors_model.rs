//! Saved models (safetensors header, metadata, model config, tensors, training
//! state): any bytes load a model or give an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata::model::Sequential::load_bytes(data, std::path::Path::new("fuzz.safetensors"));
});
