//! Downloading a file: `http://` with a small built-in HTTP/1.1 client (no
//! TLS library to compile), `https://` through the `curl` program. Written to
//! `dest` atomically, after its size and SHA-256 are checked.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use strata_core::{Error, Result};

use super::atomic;

const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_REDIRECTS: usize = 5;

/// Downloads `url` to `dest` if its SHA-256 is `sha256` (lower-case hex);
/// a truncated or corrupt download is an error and leaves nothing at `dest`.
pub fn fetch(url: &str, dest: &Path, sha256: &str, progress: bool) -> Result<()> {
    let bytes = if url.starts_with("https://") { curl(url)? } else { http_get(url, progress)? };
    let got = sha256_hex(&bytes);
    if got != sha256 {
        return Err(Error::data(dest, format!("download from {url} is corrupt or truncated: {} bytes with SHA-256 {got}, expected {sha256}", bytes.len())));
    }
    atomic::write(dest, &bytes)
}

/// SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn curl(url: &str) -> Result<Vec<u8>> {
    let out = std::process::Command::new("curl").args(["--fail", "--silent", "--show-error", "--location", "--retry", "2", url]).output();
    match out {
        Ok(out) if out.status.success() => Ok(out.stdout),
        Ok(out) => Err(Error::argument("download", format!("{url}: curl failed: {}", String::from_utf8_lossy(&out.stderr).trim()))),
        Err(e) => Err(Error::argument("download", format!("{url}: https downloads use the curl program, which could not run ({e}); install curl or fetch the file by hand"))),
    }
}

/// `http://host[:port]/path` as (host, port, path).
fn parse_http(url: &str) -> Result<(String, u16, String)> {
    let bad = || Error::argument("download", format!("'{url}' is not an http:// URL"));
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port, if path.is_empty() { "/".into() } else { path.into() }))
}

fn http_get(url: &str, progress: bool) -> Result<Vec<u8>> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        match http_once(&url, progress)? {
            Response::Body(bytes) => return Ok(bytes),
            Response::Redirect(to) if to.starts_with("https://") => return curl(&to),
            Response::Redirect(to) => url = to,
        }
    }
    Err(Error::argument("download", format!("{url}: more than {MAX_REDIRECTS} redirects")))
}

enum Response {
    Body(Vec<u8>),
    Redirect(String),
}

fn http_once(url: &str, progress: bool) -> Result<Response> {
    let (host, port, path) = parse_http(url)?;
    let failed = |e: std::io::Error| Error::argument("download", format!("{url}: {e}"));
    let addr = (host.as_str(), port).to_socket_addrs().map_err(failed)?.next().ok_or_else(|| Error::argument("download", format!("{url}: host not found")))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(failed)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(failed)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: strata/{}\r\nConnection: close\r\n\r\n", env!("CARGO_PKG_VERSION"));
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(failed)?;
    let code: u16 = status.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| Error::argument("download", format!("{url}: not an HTTP response: {:?}", status.trim())))?;
    let (mut length, mut chunked, mut location) = (None, false, None);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(failed)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<u64>().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                "location" => location = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    if (300..400).contains(&code) {
        let to = location.ok_or_else(|| Error::argument("download", format!("{url}: redirect {code} without a Location")))?;
        return Ok(Response::Redirect(to));
    }
    if code != 200 {
        return Err(Error::argument("download", format!("{url}: HTTP status {code}")));
    }
    let mut body = Vec::new();
    if chunked {
        read_chunked(&mut reader, &mut body).map_err(failed)?;
    } else {
        let bar = (progress && length.is_some()).then(|| indicatif::ProgressBar::new(length.unwrap_or(0)));
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader.read(&mut buf).map_err(failed)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
            if let Some(b) = &bar {
                b.set_position(body.len() as u64);
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if let Some(expected) = length.filter(|&l| l != body.len() as u64) {
            return Err(Error::argument("download", format!("{url}: truncated: got {} of {expected} bytes", body.len())));
        }
    }
    Ok(Response::Body(body))
}

fn read_chunked(reader: &mut impl BufRead, body: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16).map_err(|_| std::io::Error::other(format!("bad chunk size {:?}", line.trim())))?;
        if size == 0 {
            return Ok(());
        }
        if size > 1 << 30 {
            return Err(std::io::Error::other(format!("chunk of {size} bytes is larger than any dataset file")));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        reader.read_line(&mut line)?;
    }
}
