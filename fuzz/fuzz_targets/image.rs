//! PNG and JPEG files: any bytes decode or give an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::data::images::{self, ColorMode};

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = images::decode(data, std::path::Path::new("fuzz.png")) {
        let grey = image.to_mode(ColorMode::Grayscale);
        let _ = images::resize_bilinear(&grey, (image.height, image.width, 1), (3, 5));
    }
});
