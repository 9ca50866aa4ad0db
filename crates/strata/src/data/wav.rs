//! WAV files: RIFF `WAVE` with PCM integer samples (8-bit unsigned, 16-,
//! 24- and 32-bit signed) or IEEE floats (32- and 64-bit), plain or
//! `WAVE_FORMAT_EXTENSIBLE`, any number of channels and any rate. Samples
//! come out as f32 in `[-1, 1)` (integers divided by `2^(bits-1)`, as
//! `tf.audio.decode_wav` does for 16-bit files); floats as stored.
//!
//! A file whose header promises more bytes than it holds, declares sizes
//! that disagree with each other, or uses another encoding is refused with
//! an error that names it, never read short.

use std::path::Path;

use strata_core::{Error, Result};

/// A decoded recording: `frames` samples per channel, interleaved.
#[derive(Clone, Debug, PartialEq)]
pub struct Wav {
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels (1 mono, 2 stereo, ...).
    pub channels: usize,
    /// `frames * channels` values, frame by frame (`[l0, r0, l1, r1, ...]`).
    pub samples: Vec<f32>,
}

/// How the samples are stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    Pcm(u16),
    Float(u16),
}

const PCM: u16 = 1;
/// The size a stream writes when it cannot know it.
const STREAMED: u32 = u32::MAX;
/// The last 14 bytes of the sub-format GUIDs of `WAVE_FORMAT_EXTENSIBLE` (`xxxx0000-0000-0010-8000-00aa00389b71`).
const GUID_TAIL: [u8; 14] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];
const IEEE_FLOAT: u16 = 3;
const EXTENSIBLE: u16 = 0xFFFE;
/// The largest float sample taken: far beyond any real recording's +-1.
const MAX_FLOAT: f32 = 1e6;
/// More channels than any real recording has: a header beyond it is corrupt.
const MAX_CHANNELS: u16 = 256;

impl Wav {
    /// Number of samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.frames() as f64 / self.sample_rate as f64
    }
    /// The channels averaged into one.
    pub fn to_mono(&self) -> Vec<f32> {
        match self.channels {
            1 => self.samples.clone(),
            c => self.samples.chunks_exact(c).map(|f| f.iter().sum::<f32>() / c as f32).collect(),
        }
    }
}

/// Reads a WAV file.
pub fn read(path: &Path) -> Result<Wav> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&raw, path)
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Decodes the bytes of a WAV file; `path` names it in errors.
pub fn decode(raw: &[u8], path: &Path) -> Result<Wav> {
    let bad = |msg: String| Error::data(path, msg);
    if raw.len() < 12 || &raw[..4] != b"RIFF" || &raw[8..12] != b"WAVE" {
        return Err(bad("is not a WAV file (no RIFF/WAVE header)".into()));
    }
    // A size of 0xFFFFFFFF is a stream's "unknown" (ffmpeg and sox writing to a pipe): to the end of the file.
    let riff_end = match u32_at(raw, 4) {
        STREAMED => raw.len(),
        size => 8 + size as usize,
    };
    if riff_end > raw.len() {
        return Err(bad(format!("is truncated: its RIFF header promises {} bytes, the file has {}", riff_end, raw.len())));
    }
    let mut format = None;
    let mut at = 12;
    while at + 8 <= riff_end {
        let (id, size) = (&raw[at..at + 4], u32_at(raw, at + 4));
        let body = at + 8;
        let size = if size == STREAMED && id == b"data" { riff_end - body } else { size as usize };
        let end = body.checked_add(size).filter(|&e| e <= riff_end).ok_or_else(|| {
            bad(format!("is truncated: chunk '{}' at byte {at} promises {size} bytes, only {} remain", String::from_utf8_lossy(id), riff_end - body))
        })?;
        match id {
            b"fmt " => format = Some(parse_format(&raw[body..end], path)?),
            b"data" => {
                let (encoding, channels, sample_rate) = format.ok_or_else(|| bad("has its 'data' chunk before its 'fmt ' chunk".into()))?;
                // A streamed file may stop part-way through its last frame: that frame is dropped.
                let whole = if u32_at(raw, at + 4) == STREAMED { end - (end - body) % frame_bytes(encoding, channels) } else { end };
                let samples = decode_samples(&raw[body..whole], encoding, channels, path)?;
                return Ok(Wav { sample_rate, channels: channels as usize, samples });
            }
            _ => {}
        }
        at = end + (size & 1); // chunks are padded to an even length
    }
    Err(bad(if format.is_none() { "has no 'fmt ' chunk".into() } else { "has no 'data' chunk".into() }))
}

/// The `fmt ` chunk: encoding, channels, sample rate, checked against each other.
fn parse_format(f: &[u8], path: &Path) -> Result<(Encoding, u16, u32)> {
    let bad = |msg: String| Error::data(path, msg);
    if f.len() < 16 {
        return Err(bad(format!("has a 'fmt ' chunk of {} bytes, fewer than the 16 every WAV file has", f.len())));
    }
    let (mut tag, channels, rate, byte_rate, block_align, bits) = (u16_at(f, 0), u16_at(f, 2), u32_at(f, 4), u32_at(f, 8), u16_at(f, 12), u16_at(f, 14));
    if tag == EXTENSIBLE {
        if f.len() < 40 || u16_at(f, 16) < 22 {
            return Err(bad(format!("has an extensible 'fmt ' chunk of {} bytes (extension {}), fewer than its 40 (22)", f.len(), if f.len() >= 18 { u16_at(f, 16) } else { 0 })));
        }
        if f[26..40] != GUID_TAIL {
            return Err(bad("has an extensible 'fmt ' chunk whose sub-format is not a PCM or float GUID".into()));
        }
        tag = u16_at(f, 24); // the first two bytes of the sub-format GUID
    }
    let encoding = match (tag, bits) {
        (PCM, 8 | 16 | 24 | 32) => Encoding::Pcm(bits),
        (IEEE_FLOAT, 32 | 64) => Encoding::Float(bits),
        (PCM | IEEE_FLOAT, _) => return Err(bad(format!("stores {bits}-bit {} samples; Strata reads 8-, 16-, 24- and 32-bit integers and 32- and 64-bit floats", if tag == PCM { "integer" } else { "float" }))),
        _ => return Err(bad(format!("uses encoding {tag:#06x}; Strata reads PCM integers (1) and IEEE floats (3)"))),
    };
    if channels == 0 || channels > MAX_CHANNELS || rate == 0 {
        return Err(bad(format!("declares {channels} channels at {rate} samples per second")));
    }
    let frame_bytes = channels as u32 * bits as u32 / 8;
    if block_align as u32 != frame_bytes || byte_rate as u64 != frame_bytes as u64 * rate as u64 {
        return Err(bad(format!(
            "has a header whose sizes disagree: {channels} channels of {bits} bits make {frame_bytes}-byte frames and {} bytes per second at {rate} Hz, it declares {block_align} and {byte_rate}",
            frame_bytes as u64 * rate as u64
        )));
    }
    Ok((encoding, channels, rate))
}

fn frame_bytes(encoding: Encoding, channels: u16) -> usize {
    let (Encoding::Pcm(bits) | Encoding::Float(bits)) = encoding;
    bits as usize / 8 * channels as usize
}

fn decode_samples(data: &[u8], encoding: Encoding, channels: u16, path: &Path) -> Result<Vec<f32>> {
    let frame = frame_bytes(encoding, channels);
    if !data.len().is_multiple_of(frame) {
        return Err(Error::data(path, format!("has {} bytes of samples, not a whole number of {frame}-byte frames", data.len())));
    }
    let samples: Vec<f32> = match encoding {
        Encoding::Pcm(8) => data.iter().map(|&b| (b as f32 - 128.0) / 128.0).collect(),
        Encoding::Pcm(16) => data.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0).collect(),
        Encoding::Pcm(24) => data.chunks_exact(3).map(|b| (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0).collect(),
        Encoding::Pcm(_) => data.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0).collect(),
        Encoding::Float(32) => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Encoding::Float(_) => data.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()) as f32).collect(),
    };
    // Float samples are nominally within +-1; beyond MAX_FLOAT they are corrupt (and would overflow any filter).
    if let Some(i) = samples.iter().position(|v| !(v.abs() <= MAX_FLOAT)) {
        return Err(Error::data(path, format!("holds a sample of {} at frame {}, channel {} (float samples must be finite and within +-{MAX_FLOAT:e})", samples[i], i / channels as usize, i % channels as usize)));
    }
    Ok(samples)
}

/// Writes `samples` (one channel, or `channels` interleaved) as a 16-bit PCM
/// WAV file, clipping to `[-1, 1]`; written to a temporary file and renamed.
pub fn write_pcm16(path: &Path, samples: &[f32], channels: u16, sample_rate: u32) -> Result<()> {
    let byte_rate = u32::try_from(sample_rate as u64 * 2 * channels as u64).ok().filter(|_| (1..=MAX_CHANNELS).contains(&channels) && sample_rate > 0);
    let data_len = u32::try_from(samples.len() * 2).ok().filter(|&n| n <= u32::MAX - 36 && samples.len().is_multiple_of(channels.max(1) as usize));
    let (Some(byte_rate), Some(data_len)) = (byte_rate, data_len) else {
        return Err(Error::argument("write_pcm16", format!("cannot write {} samples as {channels} channels at {sample_rate} Hz in one WAV file", samples.len())));
    };
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    for v in [PCM, channels] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    for v in [2 * channels, 16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    crate::io::atomic::write(path, &out)
}
