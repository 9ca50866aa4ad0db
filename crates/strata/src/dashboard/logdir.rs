//! Runs read from a folder: the `.jsonl` logs a [`Dashboard`](super::Dashboard)
//! writes with `logdir`, and `CSVLogger` files (Strata's or Keras's), watched
//! for new lines while the dashboard runs.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::board::{finite, Board};
use crate::plot::Curves;

/// What has been read of each file: bytes so far (a `.jsonl`) or the
/// length last parsed (a `.csv`, read again whole when it grows).
#[derive(Default)]
struct Seen {
    offset: HashMap<PathBuf, u64>,
}

/// Reads the folder once: new runs and new lines of known ones.
pub fn scan(dir: &Path, board: &Board) {
    let mut seen = Seen::default();
    scan_with(dir, board, &mut seen);
}

/// Reads `dir` now, then again every half second (on a thread) until `stop` is set.
pub fn watch(dir: PathBuf, board: Arc<Board>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let mut seen = Seen::default();
    scan_with(&dir, &board, &mut seen);
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(500));
            scan_with(&dir, &board, &mut seen);
        }
    })
}

fn scan_with(dir: &Path, board: &Board, seen: &mut Seen) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let (Some(stem), Some(ext)) = (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str())) else { continue };
        let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) else { continue };
        let done = seen.offset.get(&path).copied();
        if done == Some(len) {
            continue;
        }
        match ext {
            "jsonl" => {
                if done.is_none() {
                    board.start_run(stem, false);
                }
                let read = read_jsonl(&path, done.unwrap_or(0), stem, board);
                seen.offset.insert(path, read);
            }
            "csv" => {
                if let Ok(curves) = Curves::from_csv(&path) {
                    if done.is_none() {
                        board.start_run(stem, false);
                        board.end_run(stem, "logged");
                    }
                    for (i, &epoch) in curves.epochs.iter().enumerate() {
                        let mut logs = Map::new();
                        logs.insert("epoch".into(), Value::from(epoch));
                        for (name, values) in &curves.series {
                            logs.insert(name.clone(), finite(values[i]));
                        }
                        board.epoch(stem, logs);
                    }
                    seen.offset.insert(path, len);
                }
            }
            _ => {}
        }
    }
}

/// Reads the complete lines after `from`; returns the offset after the last one.
fn read_jsonl(path: &Path, from: u64, run: &str, board: &Board) -> u64 {
    let Ok(mut f) = std::fs::File::open(path) else { return from };
    let mut text = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.read_to_end(&mut text).is_err() {
        return from;
    }
    // A line still being written has no newline yet: leave it for later.
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for line in String::from_utf8_lossy(&text[..complete]).lines() {
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line) else { continue };
        match (event.get("type").and_then(Value::as_str), event.get("logs"), event.get("status").and_then(Value::as_str)) {
            (Some("epoch"), Some(Value::Object(logs)), _) => board.epoch(run, logs.clone()),
            (Some("status"), _, Some(status)) => board.end_run(run, status),
            _ => {}
        }
    }
    from + complete as u64
}
