//! Datasets by name: downloads from a local HTTP server started by the test
//! (good, truncated, corrupt, chunked, redirected, missing), checksums, the
//! cache, and Debian's folder when it is installed.

mod common;

use common::temp_dir;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use strata::data::mnist::FILES;
use strata::datasets::{self, Published};
use strata::io::download::sha256_hex;

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|d| b.extend_from_slice(&d.to_be_bytes()));
    b.extend_from_slice(data);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&b).unwrap();
    e.finish().unwrap()
}

/// Serves `files` (by stem) in several ways, by path prefix, until the test ends.
fn serve(files: Vec<(String, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(&stream);
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (mode, name) = path.trim_start_matches('/').split_once('/').unwrap_or(("", ""));
            let body = files.iter().find(|(n, _)| format!("{n}.gz") == name).map(|(_, b)| b.clone());
            let _ = match (mode, body) {
                ("good", Some(b)) => stream.write_all(&[format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes(), &b].concat()),
                ("truncated", Some(b)) => stream.write_all(&[format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes(), &b[..b.len() / 2]].concat()),
                ("corrupt", Some(mut b)) => {
                    let last = b.len() - 1;
                    b[last] ^= 0x55;
                    stream.write_all(&[format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes(), &b].concat())
                }
                ("chunked", Some(b)) => {
                    let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                    for chunk in b.chunks(7) {
                        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                    stream.write_all(&out)
                }
                ("redirect", Some(_)) => stream.write_all(format!("HTTP/1.1 302 Found\r\nLocation: http://{}/good/{name}\r\nContent-Length: 0\r\n\r\n", stream.local_addr().unwrap()).as_bytes()),
                _ => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            };
        }
    });
    base
}

#[test]
fn downloads_are_checked_and_cached() {
    let files: Vec<(String, Vec<u8>)> = vec![
        (FILES[0].to_string(), idx(&[3, 2, 2], &[0, 50, 100, 150, 200, 250, 1, 2, 3, 4, 5, 6])),
        (FILES[1].to_string(), idx(&[3], &[1, 2, 3])),
        (FILES[2].to_string(), idx(&[1, 2, 2], &[9, 8, 7, 6])),
        (FILES[3].to_string(), idx(&[1], &[4])),
    ];
    let sums: Vec<&'static str> = files.iter().map(|(_, b)| &*Box::leak(sha256_hex(b).into_boxed_str())).collect();
    let set = Published { name: "tiny", base_urls: &[], sha256: [sums[0], sums[1], sums[2], sums[3]], system_dir: None };
    let base = serve(files);
    let at = |mode: &str| vec![format!("{base}/{mode}")];

    let dir = temp_dir("bad");
    let err = datasets::download_into(&set, &dir, &at("truncated")).unwrap_err().to_string();
    assert!(err.contains("truncated") && err.contains("train-images-idx3-ubyte.gz"), "{err}");
    let err = datasets::download_into(&set, &dir, &at("corrupt")).unwrap_err().to_string();
    assert!(err.contains("corrupt or truncated") && err.contains(sums[0]), "{err}");
    let err = datasets::download_into(&set, &dir, &at("missing")).unwrap_err().to_string();
    assert!(err.contains("404"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "nothing broken is cached: {left:?}");

    for mode in ["good", "chunked", "redirect"] {
        let dir = temp_dir(mode);
        // A failing address first: the next one is tried.
        datasets::download_into(&set, &dir, &[at("missing"), at(mode)].concat()).unwrap();
        let data = datasets::load_idx_dir(&dir).unwrap();
        assert_eq!((data.train.labels.clone(), data.test.labels.clone()), (vec![1, 2, 3], vec![4]), "{mode}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    // fetch(): the cache folder (STRATA_DATA) and the download address (STRATA_DATASETS_URL).
    let cache = temp_dir("cache");
    std::env::set_var("STRATA_DATA", &cache);
    std::env::set_var("STRATA_DATASETS_URL", format!("{base}/good/"));
    assert_eq!(datasets::fetch(&set).unwrap(), cache.join("tiny"));
    // Cached now: a dead address is not contacted.
    std::env::set_var("STRATA_DATASETS_URL", "http://127.0.0.1:9/");
    assert_eq!(datasets::fetch(&set).unwrap(), cache.join("tiny"));
    // A cached file that went bad is downloaded again, and the failure is named.
    std::fs::write(cache.join("tiny").join(format!("{}.gz", FILES[3])), b"bad").unwrap();
    let err = datasets::fetch(&set).unwrap_err().to_string();
    assert!(err.contains("t10k-labels-idx1-ubyte.gz") && err.contains("127.0.0.1:9"), "{err}");

    // Debian's dataset-fashion-mnist, when installed, is used without a download.
    let system = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    if system.is_dir() {
        assert_eq!(datasets::fetch(&datasets::FASHION_MNIST).unwrap(), system);
    } else {
        let _ = writeln!(std::io::stderr(), "Debian's fashion-mnist check: skipped, {} is not installed", system.display());
    }
    assert!(datasets::published("Fashion_MNIST").is_ok());
    assert!(datasets::published("cifar").unwrap_err().to_string().contains("mnist, fashion-mnist"));
    std::fs::remove_dir_all(&cache).unwrap();
}
