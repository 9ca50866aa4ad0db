//! IDX files, plain or gzip: any bytes give an array or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strata::data::idx::from_bytes(data, std::path::Path::new("fuzz.idx"));
});
