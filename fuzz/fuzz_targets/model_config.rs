//! Keras model configs (`model.to_json()`), Sequential and Functional: any
//! text builds a model or gives an error, never a panic; a model that builds
//! writes a config that reads back into the same config.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(model) = strata::model::Model::from_json_str(text, 0) {
        let again = model.to_json();
        let back = strata::model::Model::from_json(&again, 0).expect("a written config reads back");
        assert_eq!(back.to_json(), again, "a written config reads back the same");
    }
});
