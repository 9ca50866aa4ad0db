//! `.npy` arrays and `.npz` archives: any bytes give arrays or an error, never
//! a panic; the arrays of an archive, matched to a two-input, one-output
//! model's names as `fit` matches them, give inputs and targets or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::model::Feed;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.npy");
    let _ = strata::io::npy::parse(data, path);
    let Ok(arrays) = strata::io::npy::npz_from(std::io::Cursor::new(data), data.len() as u64, path) else { return };
    let (inputs, targets): (Vec<_>, Vec<_>) = arrays.into_iter().partition(|(name, _)| name != "y");
    let names = ["a".to_string(), "b".to_string()];
    let x = Feed::Named(inputs).resolve(&names, "inputs");
    let y = Feed::Named(targets).resolve(&["y".to_string()], "targets");
    if let (Ok(x), Ok(y)) = (x, y) {
        let _ = strata::data::dataset::Dataset::from_many(x, y);
    }
});
