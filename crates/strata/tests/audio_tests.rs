//! Audio in: the WAV reader (every encoding it takes, and files that lie),
//! resampling, folders of recordings, and the spectrogram layers' bad input.

mod common;

use std::io::Write;
use std::path::Path;

use common::temp_dir;
use strata::data::audio::{self, AudioFolder, AudioOptions};
use strata::data::wav;
use strata::io::keras_config;
use strata::layers::{Layer, MelSpectrogram};
use strata::Rng;

/// A WAV file's bytes: a `fmt ` chunk (`extensible` wraps the tag in a
/// sub-format GUID) and a `data` chunk.
fn wav_bytes(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8], extensible: bool) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&(if extensible { 0xFFFE } else { tag }).to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * block as u32).to_le_bytes());
    fmt.extend_from_slice(&block.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt.extend_from_slice(&0u32.to_le_bytes());
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]);
    }
    let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
    for (id, body) in [(b"fmt ", &fmt[..]), (b"LIST", &b"INFOjunk"[..]), (b"data", data)] {
        out.extend_from_slice(id);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
    }
    let size = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> strata::Result<wav::Wav> {
    wav::decode(bytes, Path::new("test.wav"))
}

#[test]
fn reads_every_encoding() {
    let want = [0.0f32, 0.5, -0.5, -1.0];
    let cases: Vec<(u16, u16, Vec<u8>)> = vec![
        (1, 8, vec![128, 192, 64, 0]),
        (1, 16, [0i16, 16384, -16384, -32768].iter().flat_map(|v| v.to_le_bytes()).collect()),
        (1, 24, [0i32, 1 << 22, -(1 << 22), -(1 << 23)].iter().flat_map(|v| v.to_le_bytes()[..3].to_vec()).collect()),
        (1, 32, [0i32, 1 << 30, -(1 << 30), i32::MIN].iter().flat_map(|v| v.to_le_bytes()).collect()),
        (3, 32, want.iter().flat_map(|v| v.to_le_bytes()).collect()),
        (3, 64, want.iter().flat_map(|v| (*v as f64).to_le_bytes()).collect()),
    ];
    for (tag, bits, data) in cases {
        for extensible in [false, true] {
            let w = decode(&wav_bytes(tag, 1, 8000, bits, &data, extensible)).unwrap_or_else(|e| panic!("{bits}-bit tag {tag}: {e}"));
            assert_eq!((w.sample_rate, w.channels, w.frames()), (8000, 1, 4));
            assert_eq!(w.samples, want, "{bits}-bit tag {tag} extensible {extensible}");
        }
    }
    // Stereo frames interleave; mono is their mean.
    let stereo: Vec<u8> = [16384i16, -16384, 8192, 8192].iter().flat_map(|v| v.to_le_bytes()).collect();
    let w = decode(&wav_bytes(1, 2, 44100, 16, &stereo, false)).unwrap();
    assert_eq!((w.channels, w.frames(), w.to_mono()), (2, 2, vec![0.0, 0.25]));
    assert!((w.duration() - 2.0 / 44100.0).abs() < 1e-12);
}

#[test]
fn reads_streams_of_unknown_length() {
    // ffmpeg or sox writing to a pipe: RIFF and data sizes 0xFFFFFFFF, the last frame cut short.
    let data: Vec<u8> = [100i16, -100, 200, -200].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut bytes = wav_bytes(1, 2, 8000, 16, &data, false);
    bytes.extend_from_slice(&[1, 2, 3]);
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let at = bytes.len() - 3 - data.len() - 4;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let w = decode(&bytes).unwrap();
    assert_eq!((w.channels, w.frames()), (2, 2));
    assert_eq!(w.samples, [100.0 / 32768.0, -100.0 / 32768.0, 200.0 / 32768.0, -200.0 / 32768.0]);
}

#[test]
fn writes_what_it_reads() {
    let dir = temp_dir("wav-roundtrip");
    let path = dir.join("tone.wav");
    let tone: Vec<f32> = (0..800).map(|i| 0.5 * (i as f32 * 0.3).sin()).collect();
    wav::write_pcm16(&path, &tone, 1, 8000).unwrap();
    let back = wav::read(&path).unwrap();
    assert_eq!((back.sample_rate, back.channels, back.frames()), (8000, 1, 800));
    assert!(back.samples.iter().zip(&tone).all(|(a, b)| (a - b).abs() < 1.0 / 32000.0));
    for (channels, rate) in [(0, 8000), (3, 8000), (1, 0)] {
        let e = wav::write_pcm16(&dir.join("bad.wav"), &tone, channels, rate).unwrap_err().to_string();
        assert!(e.contains("cannot write 800 samples"), "{e}");
    }
    // A header claiming 1 Hz would be upsampled 8,000 times: refused, naming the file.
    wav::write_pcm16(&dir.join("slow.wav"), &tone, 1, 1).unwrap();
    let e = audio::load_mono(&dir.join("slow.wav"), Some(8000), None).unwrap_err().to_string();
    assert!(e.contains("slow.wav") && e.contains("more than 256 times"), "{e}");
    assert_eq!(audio::load_mono(&path, Some(16000), Some(100)).unwrap().0.len(), 100);
}

#[test]
fn refuses_files_that_lie_or_are_cut() {
    let data: Vec<u8> = [1i16, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    let good = wav_bytes(1, 1, 8000, 16, &data, false);
    let expect = |bytes: &[u8], words: &[&str]| {
        let e = decode(bytes).expect_err("a bad file must be refused").to_string();
        assert!(e.starts_with("test.wav") && words.iter().all(|w| e.contains(w)), "{e}");
    };
    // Every truncation is an error (the RIFF size then promises more than there is), never a panic.
    for cut in 0..good.len() {
        assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
    }
    expect(&good[..good.len() - 1], &["truncated", "RIFF"]);
    let mut lying_data = good.clone();
    let at = lying_data.len() - data.len() - 4;
    lying_data[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
    expect(&lying_data, &["truncated", "'data'", "1000"]);
    expect(&wav_bytes(0x55, 1, 8000, 16, &data, false), &["encoding 0x0055"]);
    expect(&wav_bytes(1, 1, 8000, 12, &data, false), &["12-bit"]);
    expect(&wav_bytes(1, 0, 8000, 16, &data, false), &["0 channels"]);
    expect(&wav_bytes(1, 1, 8000, 16, &data[..3], false), &["3 bytes", "2-byte frames"]);
    let mut wrong_align = good.clone();
    wrong_align[32..34].copy_from_slice(&4u16.to_le_bytes());
    expect(&wrong_align, &["disagree", "declares 4"]);
    let nan: Vec<u8> = [0.0f32, f32::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
    expect(&wav_bytes(3, 1, 8000, 32, &nan, false), &["sample of NaN", "frame 1"]);
    // Found by fuzzing: a float near f32::MAX is finite but overflows the resampling filter.
    let huge: Vec<u8> = [0.5f32, 0.25, 3.4e38].iter().flat_map(|v| v.to_le_bytes()).collect();
    expect(&wav_bytes(3, 1, 8000, 32, &huge, false), &["frame 2", "within +-1e6"]);
    expect(b"RIFF\x04\0\0\0WAVE", &["no 'fmt ' chunk"]);
    let mut odd_guid = wav_bytes(1, 1, 8000, 16, &data, true);
    odd_guid[12 + 8 + 26] ^= 0xFF;
    expect(&odd_guid, &["sub-format is not a PCM or float GUID"]);
    let mut short_extension = wav_bytes(1, 1, 8000, 16, &data, true);
    short_extension[12 + 8 + 16] = 10;
    expect(&short_extension, &["fewer than its 40 (22)"]);
    expect(b"RIFX\x04\0\0\0WAVE", &["not a WAV file"]);
    let mut data_first = b"RIFF\x14\0\0\0WAVEdata\x08\0\0\0".to_vec();
    data_first.extend_from_slice(&data);
    expect(&data_first, &["before its 'fmt '"]);
}

fn tone(freq: f64, rate: u32, n: usize) -> Vec<f32> {
    (0..n).map(|i| (std::f64::consts::TAU * freq * i as f64 / rate as f64).sin() as f32).collect()
}

fn rms(v: &[f32]) -> f32 {
    (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt()
}

#[test]
fn resampling_keeps_what_the_new_rate_holds_and_removes_the_rest() {
    // Up: a 440 Hz tone at 8 kHz becomes the same tone at 16 kHz (away from the ends).
    let up = audio::resample(&tone(440.0, 8000, 800), 8000, 16000);
    assert_eq!(up.len(), 1600);
    let exact = tone(440.0, 16000, 1600);
    let worst = up[200..1400].iter().zip(&exact[200..1400]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 2e-3, "440 Hz up to 16 kHz: largest error {worst}");
    // Down to 8 kHz: 1 kHz passes, 5 kHz (above the new Nyquist of 4 kHz) is removed rather than folded to 3 kHz.
    let pass = audio::resample(&tone(1000.0, 16000, 3200), 16000, 8000);
    let stop = audio::resample(&tone(5000.0, 16000, 3200), 16000, 8000);
    assert_eq!(pass.len(), 1600);
    assert!((rms(&pass[200..1400]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01, "1 kHz passband rms {}", rms(&pass[200..1400]));
    assert!(rms(&stop[200..1400]) < 1e-3, "5 kHz leaked: rms {}", rms(&stop[200..1400]));
    // A ratio of many phases (8001 / 8000) interpolates a finer table of the filter; the same tone results.
    let odd = audio::resample(&tone(440.0, 8000, 800), 8000, 8001);
    let exact = tone(440.0, 8001, 801);
    assert_eq!(odd.len(), 801);
    assert!(odd[200..600].iter().zip(&exact[200..600]).all(|(a, b)| (a - b).abs() < 2e-3));
    // A large reduction (48 kHz to 100 Hz) stays within a bounded table: a 20 Hz tone passes.
    let low = audio::resample(&tone(20.0, 48000, 48000), 48000, 100);
    assert_eq!(low.len(), 100);
    assert!((rms(&low[30..70]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.02, "20 Hz at 100 Hz: rms {}", rms(&low[30..70]));
    // An odd ratio, and the identity.
    assert_eq!(audio::resample(&tone(100.0, 44100, 441), 44100, 8000).len(), 80);
    assert_eq!(audio::resample(&[0.25, 0.5], 8000, 8000), [0.25, 0.5]);
}

#[test]
fn folders_by_file_name_and_by_sub_folder() {
    let dir = temp_dir("audio-folder");
    for (name, rate, n) in [("7_alice_0.wav", 8000, 400), ("3_bob_1.wav", 16000, 1600), ("7_bob_2.wav", 8000, 100)] {
        wav::write_pcm16(&dir.join(name), &tone(300.0, rate, n), 1, rate).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not audio").unwrap();
    let folder = AudioFolder::open(&dir).unwrap();
    assert_eq!(folder.class_names, ["3", "7"]);
    assert_eq!(folder.labels, [0, 1, 1]);
    // Mixed rates need a rate to resample to; the error names the file.
    let e = folder.load(&AudioOptions::default()).unwrap_err().to_string();
    assert!(e.contains("7_alice_0.wav") && e.contains("8000 Hz") && e.contains("16000 Hz"), "{e}");
    let (x, rate) = folder.load(&AudioOptions { sample_rate: Some(8000), length: None }).unwrap();
    assert_eq!((x.shape(), rate), (&[3, 800][..], 8000));
    let (x, _) = folder.load(&AudioOptions { sample_rate: Some(8000), length: Some(500) }).unwrap();
    let rows = x.to_vec();
    assert_eq!(x.shape(), [3, 500]);
    assert!(rows[1000 + 100..1500].iter().all(|&v| v == 0.0), "a short clip is zero-padded at its end");

    let classes = temp_dir("audio-classes");
    for (class, file) in [("yes", "a.wav"), ("no", "b.WAV"), ("no", "c.wav")] {
        std::fs::create_dir_all(classes.join(class)).unwrap();
        wav::write_pcm16(&classes.join(class).join(file), &tone(200.0, 8000, 80), 1, 8000).unwrap();
    }
    let folder = AudioFolder::open(&classes).unwrap();
    assert_eq!((folder.class_names.clone(), folder.labels.clone()), (vec!["no".to_string(), "yes".to_string()], vec![0, 0, 1]));

    let unlabelled = temp_dir("audio-unlabelled");
    wav::write_pcm16(&unlabelled.join("recording.wav"), &[0.0; 8], 1, 8000).unwrap();
    let e = AudioFolder::open(&unlabelled).unwrap_err().to_string();
    assert!(e.contains("recording.wav") && e.contains("label_rest.wav"), "{e}");
    let e = AudioFolder::open(&unlabelled.join("missing")).unwrap_err().to_string();
    assert!(e.contains("not found"), "{e}");
    let mut f = std::fs::File::create(unlabelled.join("1_x_0.wav")).unwrap();
    f.write_all(b"RIFF").unwrap();
    let e = audio::load_files(&[unlabelled.join("1_x_0.wav")], &AudioOptions::default()).unwrap_err().to_string();
    assert!(e.contains("1_x_0.wav") && e.contains("not a WAV file"), "{e}");
}

#[test]
fn spectrogram_layers_refuse_bad_arguments_by_name() {
    let expect = |class: &str, config: serde_json::Value, words: &[&str]| {
        let e = keras_config::layer_from_config(class, &config).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(words.iter().all(|w| e.contains(w)), "{class} {config}: {e}");
    };
    expect("STFTSpectrogram", serde_json::json!({"name": "spec", "frame_length": 16, "mode": "angle"}), &["spec", "'angle' is not supported"]);
    expect("STFTSpectrogram", serde_json::json!({"name": "spec", "frame_length": 16, "mode": "loud"}), &["mode", "loud"]);
    expect("STFTSpectrogram", serde_json::json!({"name": "spec", "frame_length": 16, "frame_step": 20}), &["frame_step=20"]);
    expect("STFTSpectrogram", serde_json::json!({"name": "spec", "frame_length": 16, "fft_length": 8}), &["fft_length=8"]);
    expect("STFTSpectrogram", serde_json::json!({"name": "spec", "frame_length": 16, "scaling": "peak"}), &["scaling='peak'"]);
    expect("MelSpectrogram", serde_json::json!({"name": "mel", "fft_length": 64, "sequence_length": 128}), &["mel", "sequence_length=128"]);
    expect("MelSpectrogram", serde_json::json!({"name": "mel", "sampling_rate": 8000, "min_freq": 6000, "max_freq": 5000}), &["min_freq=6000", "max_freq=5000"]);
    // Keras reads 0 as the default, and lets filters reach past the Nyquist frequency.
    let mel = keras_config::layer_from_config("MelSpectrogram", &serde_json::json!({"name": "mel", "sampling_rate": 8000, "max_freq": 0, "sequence_length": 0})).unwrap();
    assert_eq!((mel.config()["max_freq"].clone(), mel.config()["sequence_length"].clone()), (serde_json::json!(4000.0), serde_json::json!(2048)));
    assert!(keras_config::layer_from_config("MelSpectrogram", &serde_json::json!({"name": "mel", "sampling_rate": 8000, "max_freq": 6000})).is_ok());
    expect("MelSpectrogram", serde_json::json!({"name": "mel", "window": "kaiser"}), &["window='kaiser'"]);
    expect("MelSpectrogram", serde_json::json!({"name": "mel", "fft_length": 1u64 << 40}), &["mel", "up to 8192"]);
    expect("STFTSpectrogram", serde_json::json!({"name": "spec", "frame_length": 100000}), &["spec", "up to 8192"]);
    // A window the STFT layer does not know is refused when it builds its kernels.
    let mut layer = keras_config::layer_from_config("STFTSpectrogram", &serde_json::json!({"name": "spec", "frame_length": 16, "window": "kaiser"})).unwrap();
    let e = layer.build(&[64, 1], &mut Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("spec") && e.contains("window='kaiser'"), "{e}");
    // Too short to mirror by half a frame; the wrong rank.
    let mut mel = MelSpectrogram::new(8000).fft_length(256);
    let e = mel.build(&[100], &mut Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("mel_spectrogram") && e.contains("128") && e.contains("received 100"), "{e}");
    let e = mel.build(&[1000, 1], &mut Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("(batch, samples)"), "{e}");
    let e = layer.build(&[8, 1], &mut Rng::new(0)).unwrap_err().to_string();
    assert!(e.contains("shorter than one frame"), "{e}");
}

#[test]
fn spoken_digits_from_shared_when_present() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/spoken-digits/recordings");
    if !dir.is_dir() {
        let _ = writeln!(std::io::stderr(), "spoken_digits_from_shared_when_present: skipped, {} is not present", dir.display());
        return;
    }
    let folder = AudioFolder::open(&dir).unwrap();
    assert_eq!((folder.len(), folder.class_names.len()), (2500, 10));
    assert_eq!(folder.class_names, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let w = wav::read(&folder.files[0]).unwrap();
    assert_eq!((w.sample_rate, w.channels), (8000, 1));
    let (x, rate) = audio::load_files(&folder.files[..50], &AudioOptions { sample_rate: Some(16000), length: Some(16000) }).unwrap();
    assert_eq!((x.shape(), rate), (&[50, 16000][..], 16000));
    let mut mel = MelSpectrogram::new(16000).fft_length(512).sequence_stride(256).num_mel_bins(40);
    assert_eq!(mel.build(&[16000], &mut Rng::new(0)).unwrap(), [40, 63]);
    assert!(mel.call(&x, false).unwrap().all_finite());
}
