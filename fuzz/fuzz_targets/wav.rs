//! WAV files: any bytes decode or give an error, never a panic; what
//! decodes mixes to one channel and resamples to 16 kHz as `strata predict`
//! would (at most 256 times the rate, at most 8192 samples).
#![no_main]
use libfuzzer_sys::fuzz_target;
use strata::data::{audio, wav};

fuzz_target!(|data: &[u8]| {
    if let Ok(w) = wav::decode(data, std::path::Path::new("fuzz.wav")) {
        let mono = w.to_mono();
        assert_eq!(mono.len(), w.frames());
        if 16_000 <= 256 * w.sample_rate as u64 {
            let out = audio::resample_first(&mono, w.sample_rate, 16_000, 8192);
            assert!(out.len() <= 8192 && out.iter().all(|v| v.is_finite()));
        }
    }
});
