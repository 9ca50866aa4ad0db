//! Keras model configs (`model.to_json()`): any text builds a model or gives an
//! error, never a panic; a model that builds writes a config that reads back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(model) = strata::model::Sequential::from_json_str(text, 0) {
        let again = model.to_json().to_string();
        strata::model::Sequential::from_json_str(&again, 0).expect("a written config reads back");
    }
});
