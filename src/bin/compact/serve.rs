//! A small static file server for the web app and its demo models (native only).
//!
//! `GET`/`HEAD` with single byte-range support (`Range: bytes=a-b`, `a-`, `-n`), so the
//! page reads model files the way it reads local ones: a header here, a tensor there,
//! never the whole file. Routes:
//! - `/models/index.json`: the model folders below the models directory (those with a
//!   config.json), as `[{"name": …, "files": [{"name": …, "size": …}]}]`;
//! - `/models/{name}/{file}`: a file of one of those folders;
//! - anything else: a file of the app's `dist` directory (`/` is `index.html`).
//!
//! It binds where it is told (127.0.0.1 by default), serves plain file names only (no
//! `..`, no hidden files, no subdirectories below a model) and closes each connection
//! after one response.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;

use serde::Serialize;

/// Arguments of `compact serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The built app (Trunk's dist directory).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// A directory of model folders, offered by the app's "demo model" button.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Let pages from other origins read the files (CORS); the wasm tests need it.
    #[arg(long)]
    cors: bool,
}

/// Runs `compact serve`: binds, says where, serves until killed.
pub fn command(a: ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    if !a.dist.join("index.html").is_file() {
        anyhow::bail!("{} has no index.html: build the app first (make demo does)", a.dist.display());
    }
    let listener = TcpListener::bind((a.host.as_str(), a.port)).with_context(|| format!("cannot listen on {}:{}", a.host, a.port))?;
    let addr = listener.local_addr()?;
    println!("compact: serving {} on http://{addr}/", a.dist.display());
    if let Some(m) = &a.models {
        let names: Vec<_> = list_models(m).into_iter().map(|m| m.name).collect();
        println!("compact: demo models from {}: {}", m.display(), if names.is_empty() { "none".into() } else { names.join(", ") });
    }
    run(listener, ServeConfig { dist: a.dist, models: a.models, cors: a.cors })?;
    Ok(())
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The built web app (Trunk's `dist`).
    pub dist: PathBuf,
    /// A directory whose subdirectories are model folders, if any.
    pub models: Option<PathBuf>,
    /// Let pages from any origin read the files (CORS). Off by default: only the app
    /// served here should see the models; the wasm test runner, on its own port, needs it.
    pub cors: bool,
}

/// One model folder as listed in `/models/index.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListedModel {
    pub name: String,
    pub files: Vec<ListedFile>,
}

/// One file of a listed model.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListedFile {
    pub name: String,
    pub size: u64,
}

/// Serves `cfg` on `listener` until the process ends, one thread per connection.
pub fn run(listener: TcpListener, cfg: ServeConfig) -> io::Result<()> {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        let cfg = cfg.clone();
        thread::spawn(move || {
            let _ = handle(stream, &cfg);
        });
    }
    Ok(())
}

/// The model folders below `models` (sorted by name).
pub fn list_models(models: &Path) -> Vec<ListedModel> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(models) else { return out };
    for e in entries.flatten() {
        let dir = e.path();
        let Some(name) = plain_name(&e.file_name().to_string_lossy()) else { continue };
        if !dir.join("config.json").is_file() {
            continue;
        }
        let mut files: Vec<ListedFile> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|f| {
                let meta = f.metadata().ok().filter(|m| m.is_file())?;
                Some(ListedFile { name: plain_name(&f.file_name().to_string_lossy())?, size: meta.len() })
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(ListedModel { name, files });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn plain_name(s: &str) -> Option<String> {
    let ok = !s.is_empty() && !s.starts_with('.') && !s.contains(['/', '\\', '\0']);
    ok.then(|| s.to_string())
}

struct Request {
    method: String,
    path: String,
    range: Option<String>,
}

fn read_request(stream: &TcpStream) -> io::Result<Request> {
    let mut reader = BufReader::new(stream.take(64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("/").to_string());
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.trim().eq_ignore_ascii_case("range")
        {
            range = Some(v.trim().to_string());
        }
    }
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    Ok(Request { method, path: percent_decode(&path), range })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a request path to a file, or `None` for anything not servable.
fn resolve(cfg: &ServeConfig, path: &str) -> Option<PathBuf> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| plain_name(s).is_none()) {
        return None;
    }
    match segments.as_slice() {
        ["models", model, file] => cfg.models.as_ref().map(|m| m.join(model).join(file)),
        [] => Some(cfg.dist.join("index.html")),
        rest => Some(rest.iter().fold(cfg.dist.clone(), |p, s| p.join(s))),
    }
    .filter(|p| p.is_file())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Parses a single `bytes=` range against a file of `len` bytes:
/// `Ok(None)` means no usable range header (serve it all), `Err(())` unsatisfiable.
fn parse_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: answer with the whole file, as RFC 9110 allows
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (s, "") => (s.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().map_err(|_| ())?, e.parse().map_err(|_| ())?);
            (s, e.min(len.saturating_sub(1)))
        }
    };
    if start >= len || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

fn handle(mut stream: TcpStream, cfg: &ServeConfig) -> io::Result<()> {
    let req = read_request(&stream)?;
    let head = req.method == "HEAD";
    if req.method == "OPTIONS" && cfg.cors {
        return respond(&mut stream, "204 No Content", "text/plain", &[], b"", true, cfg.cors);
    }
    if req.method != "GET" && !head {
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", &[], b"only GET and HEAD\n", head, cfg.cors);
    }
    if req.path == "/models/index.json" {
        let list = cfg.models.as_deref().map(list_models).unwrap_or_default();
        let body = serde_json::to_vec(&list).unwrap_or_default();
        return respond(&mut stream, "200 OK", "application/json", &[], &body, head, cfg.cors);
    }
    let Some(path) = resolve(cfg, &req.path) else {
        return respond(&mut stream, "404 Not Found", "text/plain", &[], b"not found\n", head, cfg.cors);
    };
    let mut file = File::open(&path)?;
    let len = file.metadata()?.len();
    let ctype = content_type(&path);
    match parse_range(req.range.as_deref(), len) {
        Err(()) => {
            let cr = format!("Content-Range: bytes */{len}");
            respond(&mut stream, "416 Range Not Satisfiable", "text/plain", &[&cr], b"", head, cfg.cors)
        }
        Ok(range) => {
            let (status, start, count, extra) = match range {
                Some((s, e)) => ("206 Partial Content", s, e - s + 1, Some(format!("Content-Range: bytes {s}-{e}/{len}"))),
                None => ("200 OK", 0, len, None),
            };
            write_head(&mut stream, status, ctype, count, extra.as_deref().into_iter().collect::<Vec<_>>().as_slice(), cfg.cors)?;
            if !head {
                file.seek(SeekFrom::Start(start))?;
                io::copy(&mut file.take(count), &mut stream)?;
            }
            stream.flush()
        }
    }
}

fn write_head(stream: &mut TcpStream, status: &str, ctype: &str, len: u64, extra: &[&str], cors: bool) -> io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n"
    );
    if cors {
        h.push_str(
            "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n\
             Access-Control-Allow-Headers: Range\r\nAccess-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges\r\n",
        );
    }
    for e in extra {
        h.push_str(e);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    stream.write_all(h.as_bytes())
}

#[allow(clippy::too_many_arguments)]
fn respond(stream: &mut TcpStream, status: &str, ctype: &str, extra: &[&str], body: &[u8], head: bool, cors: bool) -> io::Result<()> {
    write_head(stream, status, ctype, body.len() as u64, extra, cors)?;
    if !head {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-7"), 10), Ok(Some((0, 7))));
        assert_eq!(parse_range(Some("bytes=8-"), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=7-3"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=x-3"), 10), Err(()));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Err(()));
    }

    #[test]
    fn only_plain_paths_resolve() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "x").unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/config.json"), "{}").unwrap();
        let cfg = ServeConfig { dist: dir.path().into(), models: Some(dir.path().into()), cors: false };
        assert!(resolve(&cfg, "/").is_some());
        assert!(resolve(&cfg, "/models/m/config.json").is_some());
        assert!(resolve(&cfg, "/models/../m/config.json").is_none());
        assert!(resolve(&cfg, "/models/m/.hidden").is_none());
        assert!(resolve(&cfg, "/nope").is_none());
        assert_eq!(percent_decode("/a%20b%2"), "/a b%2");
        let list = list_models(dir.path());
        assert_eq!(list, vec![ListedModel { name: "m".into(), files: vec![ListedFile { name: "config.json".into(), size: 2 }] }]);
    }
}
