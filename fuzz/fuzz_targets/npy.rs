//! `.npy` arrays and `.npz` archives: any bytes give arrays or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.npy");
    let _ = strata::io::npy::parse(data, path);
    let _ = strata::io::npy::npz_from(std::io::Cursor::new(data), data.len() as u64, path);
});
