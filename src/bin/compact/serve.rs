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
//! It binds where it is told (127.0.0.1 by default) and is safe on every input:
//! - Files only under `--models` or `--dist` once links are resolved: the requested path
//!   is canonicalized and must lie under the canonicalized root (403 otherwise). Links
//!   may point anywhere inside the root, not only inside the model folder: a model folder
//!   may link to a snapshot of a Hugging Face cache kept under `--models`, whose files
//!   link into `../../blobs/`. A model folder or file linked in from outside the root is
//!   neither listed nor served. Plain names only: no `..`, no hidden files, no
//!   subdirectories below a model.
//! - Only requests addressed (`Host` header) to `localhost`, a loopback address or the
//!   bound address, on the bound port, are answered; other names get 403, against DNS
//!   rebinding (a page of another site reaching this server under a name of its own).
//!   `--allow-host NAME[:PORT]` adds names. HTTP/1.1 without `Host` gets 400.
//! - CORS only for the origins named with `--cors-origin` (exact match on `Origin`,
//!   echoed back with `Vary: Origin`); none by default.
//! - A fixed pool of worker threads takes connections from a bounded queue (503 when it
//!   is full). The request head must arrive within 10 s and fit in 16 KiB and 100 header
//!   lines (408, 414, 431); each write may take 60 s. Every refusal has a status and a
//!   short text saying why, and each connection closes after one response.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Worker threads, each serving one connection at a time.
const WORKERS: usize = 32;
/// Accepted connections waiting for a worker; one more gets 503.
const QUEUE: usize = 64;
/// Time for the whole request head to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for each write to the client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head (request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// Most header lines in a request.
const MAX_HEADER_LINES: usize = 100;
/// How long a closing connection waits for the client's unread bytes.
const LINGER: Duration = Duration::from_secs(1);

/// Arguments of `compact serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The built app (Trunk's dist directory).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// A directory of model folders, offered by the app's "demo model" button. Only files
    /// that lie under it once links are resolved are served.
    #[arg(long)]
    models: Option<PathBuf>,
    /// Port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Another name to answer to besides localhost and the loopback addresses: NAME (on
    /// the bound port) or NAME:PORT, e.g. the machine's LAN name or address with
    /// --host 0.0.0.0. Repeatable. Requests for other names are refused (DNS-rebinding
    /// protection).
    #[arg(long = "allow-host", value_name = "NAME[:PORT]", value_parser = parse_allowed_host)]
    allow_host: Vec<AllowedHost>,
    /// An origin whose pages may read the files (CORS), e.g. http://127.0.0.1:8000: exact
    /// match on the request's Origin. Repeatable. None by default, so only the app served
    /// here reads the models; the wasm tests name their runner's origin.
    #[arg(long = "cors-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    cors_origin: Vec<String>,
}

/// Runs `compact serve`: binds, says where, serves until killed.
pub fn command(a: ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    if !a.dist.join("index.html").is_file() {
        anyhow::bail!("{} has no index.html: build the app first (make demo does)", a.dist.display());
    }
    if let Some(m) = &a.models
        && !m.is_dir()
    {
        anyhow::bail!("--models {}: not a directory; give the folder that holds the model folders", m.display());
    }
    let listener = TcpListener::bind((a.host.as_str(), a.port)).with_context(|| format!("cannot listen on {}:{}", a.host, a.port))?;
    let addr = listener.local_addr()?;
    println!("compact: serving {} on http://{addr}/", a.dist.display());
    if let Some(m) = &a.models {
        let scan = scan_models(m);
        let names: Vec<_> = scan.listed.into_iter().map(|m| m.name).collect();
        println!("compact: demo models from {}: {}", m.display(), if names.is_empty() { "none".into() } else { names.join(", ") });
        for name in scan.outside {
            eprintln!("compact: not serving {name}: it resolves outside {} (only files under --models are served)", m.display());
        }
    }
    let cfg =
        ServeConfig { dist: a.dist, models: a.models, hosts: Hosts { bound: addr, allowed: a.allow_host }, cors_origins: a.cors_origin };
    run(listener, cfg).context("compact serve stopped")
}

/// What to serve, and to whom.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The built web app (Trunk's `dist`).
    pub dist: PathBuf,
    /// A directory whose subdirectories are model folders, if any.
    pub models: Option<PathBuf>,
    /// The names requests may be addressed to.
    pub hosts: Hosts,
    /// Origins whose pages may read the files (CORS), compared exactly. Empty by default:
    /// only the app served here should see the models.
    pub cors_origins: Vec<String>,
}

/// The names a request's `Host` header may give: loopback ones, the bound address, and
/// those added with `--allow-host`.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// The address the server listens on (its port is the one requests must name).
    pub bound: SocketAddr,
    /// Names added with `--allow-host`.
    pub allowed: Vec<AllowedHost>,
}

/// A name or address to answer to, with its port (`None`: the bound port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    name: HostName,
    port: Option<u16>,
}

/// The host part of a `Host` header: an IP address, or a lowercase name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostName {
    Ip(IpAddr),
    Name(String),
}

/// Splits `host[:port]` (IPv6 in brackets) into its parts; `None` when it is not one.
fn parse_host(s: &str) -> Option<(HostName, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((HostName::Ip(IpAddr::V6(ip.parse::<Ipv6Addr>().ok()?)), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (s, None),
    };
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some((HostName::Ip(IpAddr::V4(ip)), port));
    }
    let name = !host.is_empty() && host.len() <= 253 && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    name.then(|| (HostName::Name(host.to_ascii_lowercase()), port))
}

/// `--allow-host`'s value: a name or address, optionally with `:PORT`.
fn parse_allowed_host(s: &str) -> Result<AllowedHost, String> {
    if let Ok(ip) = s.parse::<Ipv6Addr>() {
        return Ok(AllowedHost { name: HostName::Ip(IpAddr::V6(ip)), port: None });
    }
    let (name, port) = parse_host(s).ok_or_else(|| {
        format!("expected a host name or IP address, optionally with :PORT (e.g. mybox.lan or 192.168.1.5:8080), not {s:?}")
    })?;
    Ok(AllowedHost { name, port })
}

/// `--cors-origin`'s value: `http[s]://host[:port]`, no path; lowercased, as browsers send it.
fn parse_origin(s: &str) -> Result<String, String> {
    let err = || format!("expected an origin, scheme://host[:port] with no path or wildcard (e.g. http://127.0.0.1:8000), not {s:?}");
    let origin = s.to_ascii_lowercase();
    let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).ok_or_else(err)?;
    parse_host(rest).ok_or_else(err)?;
    Ok(origin)
}

impl Hosts {
    /// Whether a request for `name` on `port` (`None`: 80) is for this server.
    fn allows(&self, name: &HostName, port: Option<u16>) -> bool {
        let port = port.unwrap_or(80);
        let bound = self.bound.ip();
        let local = match name {
            HostName::Ip(ip) => ip.is_loopback() || (*ip == bound && !bound.is_unspecified()),
            HostName::Name(n) => n == "localhost",
        };
        (local && port == self.bound.port()) || self.allowed.iter().any(|a| a.name == *name && port == a.port.unwrap_or(self.bound.port()))
    }

    /// Checks a request's `Host` header: `Err` holds the status and the text saying why not.
    fn check(&self, host: Option<&str>, http11: bool) -> Result<(), (&'static str, String)> {
        let Some(host) = host else {
            return if http11 { Err(("400 Bad Request", "an HTTP/1.1 request needs a Host header\n".into())) } else { Ok(()) };
        };
        let shown: String = host.chars().take(100).collect();
        let Some((name, port)) = parse_host(host) else {
            return Err(("400 Bad Request", format!("the Host header {shown:?} is not a host name or address with an optional port\n")));
        };
        if self.allows(&name, port) {
            return Ok(());
        }
        let port = self.bound.port();
        let mut names = vec!["localhost".to_string(), "loopback addresses (127.0.0.1, [::1])".into()];
        if !self.bound.ip().is_unspecified() && !self.bound.ip().is_loopback() {
            names.push(self.bound.ip().to_string());
        }
        names.extend(self.allowed.iter().map(|a| match (&a.name, a.port) {
            (HostName::Name(n), None) => n.clone(),
            (HostName::Name(n), Some(p)) => format!("{n}:{p}"),
            (HostName::Ip(ip), p) => SocketAddr::new(*ip, p.unwrap_or(port)).to_string(),
        }));
        Err((
            "403 Forbidden",
            format!(
                "compact serve answers only to {} on port {port}, not to Host {shown:?}: this protects against DNS rebinding \
                 (a page of another site reaching this server through a name of its own). To serve under this name, \
                 restart it with --allow-host {shown}.\n",
                names.join(", ")
            ),
        ))
    }
}

/// One model folder as listed in `/models/index.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListedModel {
    /// The folder's name, the `{name}` of its files' URLs.
    pub name: String,
    /// Its served files, sorted by name.
    pub files: Vec<ListedFile>,
}

/// One file of a listed model.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ListedFile {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Serves `cfg` on `listener` until the process ends: a fixed pool of worker threads
/// takes the accepted connections from a bounded queue; when it is full, 503.
pub fn run(listener: TcpListener, cfg: ServeConfig) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    let mut started = 0;
    for i in 0..WORKERS {
        let (rx, cfg) = (Arc::clone(&rx), Arc::clone(&cfg));
        match thread::Builder::new().name(format!("serve-{i}")).spawn(move || work(&rx, &cfg)) {
            Ok(_) => started += 1,
            Err(e) if started == 0 => {
                return Err(io::Error::other(format!(
                    "cannot start a worker thread ({e}): the system refuses new threads (see ulimit -u)"
                )));
            }
            Err(e) => {
                eprintln!("compact serve: started {started} of {WORKERS} worker threads ({e}); serving with those");
                break;
            }
        }
    }
    for stream in listener.incoming() {
        match stream {
            Ok(s) => match tx.try_send(s) {
                Ok(()) => {}
                Err(TrySendError::Full(s)) => busy(s),
                Err(TrySendError::Disconnected(_)) => return Err(io::Error::other("every worker thread has stopped")),
            },
            // Out of file descriptors, or a connection gone before it was accepted: wait a
            // little rather than spin.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    Ok(())
}

/// A worker: serves connections from the queue, one at a time, until the queue closes.
fn work(rx: &Mutex<Receiver<TcpStream>>, cfg: &ServeConfig) {
    loop {
        let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(stream) = next else { return };
        // A bug in one request must not shrink the pool.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| serve_connection(stream, cfg)));
    }
}

/// Answers a connection the queue has no room for.
fn busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ =
        send_text(&mut stream, "503 Service Unavailable", &["Retry-After: 1".into()], "busy: every worker is taken; try again\n", false);
}

fn serve_connection(mut stream: TcpStream, cfg: &ServeConfig) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    if handle(&mut stream, cfg).is_ok() {
        linger(&stream);
    }
}

/// Half-closes and reads what the client still sends (a request rest, up to 64 KiB, for
/// a second), so that closing with unread bytes does not reset the connection and lose
/// the response.
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_ok() {
        let mut rest = Deadline { stream, until: Instant::now() + LINGER, read: 0 }.take(64 * 1024);
        let _ = io::copy(&mut rest, &mut io::sink());
    }
}

/// The model folders below `models` (sorted by name), with the files that are served.
pub fn list_models(models: &Path) -> Vec<ListedModel> {
    scan_models(models).listed
}

/// What the models directory offers.
#[derive(Default)]
struct Scan {
    /// Folders with a served config.json, and their served files.
    listed: Vec<ListedModel>,
    /// Folders whose config.json resolves outside the directory (so are not served).
    outside: Vec<String>,
}

fn scan_models(models: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(root) = models.canonicalize() else { return scan };
    let Ok(entries) = std::fs::read_dir(&root) else { return scan };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().and_then(plain_name) else { continue };
        match served_file(&root, &[name.as_str(), "config.json"]) {
            Ok(_) => {}
            Err(NotServed::Outside) => {
                scan.outside.push(name);
                continue;
            }
            Err(NotServed::Missing) => continue,
        }
        let mut files: Vec<ListedFile> = std::fs::read_dir(root.join(&name))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|f| {
                let file = f.file_name().to_str().and_then(plain_name)?;
                let size = served_file(&root, &[name.as_str(), file.as_str()]).ok()?.metadata().ok()?.len();
                Some(ListedFile { name: file, size })
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        scan.listed.push(ListedModel { name, files });
    }
    scan.listed.sort_by(|a, b| a.name.cmp(&b.name));
    scan.outside.sort();
    scan
}

fn plain_name(s: &str) -> Option<String> {
    let ok = !s.is_empty() && !s.starts_with('.') && !s.contains(['/', '\\', '\0']);
    ok.then(|| s.to_string())
}

struct Request {
    method: String,
    path: String,
    http11: bool,
    host: Option<String>,
    range: Option<String>,
    origin: Option<String>,
}

/// Why no request was read: the client left (nothing to answer), or a status and why.
enum HeadError {
    Gone,
    Refuse(&'static str, String),
}

fn bad(why: &str) -> HeadError {
    HeadError::Refuse("400 Bad Request", format!("{why}\n"))
}

/// The connection read against a fixed deadline, however slowly the bytes trickle in.
struct Deadline<'a> {
    stream: &'a TcpStream,
    until: Instant,
    /// Bytes read so far.
    read: usize,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream = self.stream;
        let n = stream.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

type HeadReader<'a> = BufReader<io::Take<Deadline<'a>>>;

/// The next line of the request head into `buf`, without its CRLF.
fn read_line(reader: &mut HeadReader<'_>, buf: &mut Vec<u8>, first: bool) -> Result<(), HeadError> {
    buf.clear();
    let result = reader.read_until(b'\n', buf);
    let (limit, read) = (reader.get_ref().limit(), reader.get_ref().get_ref().read);
    match result {
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            return Err(if read == 0 {
                HeadError::Gone
            } else {
                HeadError::Refuse("408 Request Timeout", format!("the request head did not arrive within {} s\n", HEAD_TIMEOUT.as_secs()))
            });
        }
        Err(_) => return Err(HeadError::Gone),
        Ok(_) => {}
    }
    if buf.last() != Some(&b'\n') {
        return Err(match (limit, first, read) {
            (0, true, _) => HeadError::Refuse("414 URI Too Long", format!("the request line is longer than {} KiB\n", MAX_HEAD / 1024)),
            (0, false, _) => HeadError::Refuse(
                "431 Request Header Fields Too Large",
                format!("the request head is larger than {} KiB\n", MAX_HEAD / 1024),
            ),
            (_, _, 0) => HeadError::Gone,
            _ => bad("the request head ended before its blank line"),
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(())
}

fn read_request(stream: &TcpStream) -> Result<Request, HeadError> {
    let deadline = Deadline { stream, until: Instant::now() + HEAD_TIMEOUT, read: 0 };
    let mut reader = BufReader::new(deadline.take(MAX_HEAD as u64));
    let mut buf = Vec::new();
    // Empty lines before the request line are ignored (RFC 9112, 2.2).
    while buf.is_empty() {
        read_line(&mut reader, &mut buf, true)?;
    }
    let line = String::from_utf8(std::mem::take(&mut buf)).map_err(|_| bad("the request line is not UTF-8 text"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected a request line like GET /path HTTP/1.1"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(HeadError::Refuse("505 HTTP Version Not Supported", "only HTTP/1.0 and 1.1\n".into())),
        _ => return Err(bad("expected a request line like GET /path HTTP/1.1")),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the request method is not a word"));
    }
    if !target.starts_with('/') {
        return Err(bad("the request target must be a path starting with /"));
    }
    let (mut host, mut hosts, mut range, mut origin) = (None, 0, None, None);
    let mut lines = 0;
    loop {
        read_line(&mut reader, &mut buf, false)?;
        if buf.is_empty() {
            break;
        }
        lines += 1;
        if lines > MAX_HEADER_LINES {
            return Err(HeadError::Refuse("431 Request Header Fields Too Large", format!("more than {MAX_HEADER_LINES} header lines\n")));
        }
        let h = String::from_utf8_lossy(&buf);
        if h.starts_with([' ', '\t']) {
            return Err(bad("folded header lines are not accepted"));
        }
        let Some((k, v)) = h.split_once(':') else { return Err(bad("a header line has no ':'")) };
        if k.is_empty() || k.contains(|c: char| c.is_ascii_whitespace()) {
            return Err(bad("a header name is empty or has spaces"));
        }
        let v = Some(v.trim().to_string());
        match k.to_ascii_lowercase().as_str() {
            "host" => (host, hosts) = (v, hosts + 1),
            "range" => range = v,
            "origin" => origin = v,
            _ => {}
        }
    }
    if hosts > 1 {
        return Err(bad("more than one Host header"));
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    Ok(Request { method: method.to_string(), path: percent_decode(path), http11, host, range, origin })
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

/// Why a path is not served.
#[derive(Debug, PartialEq, Eq)]
enum NotServed {
    /// No such file (or not a plain file, or not a plain name).
    Missing,
    /// It exists, but resolves outside its root.
    Outside,
}

/// Maps a request path to the real path of the file to serve.
fn resolve(cfg: &ServeConfig, path: &str) -> Result<PathBuf, NotServed> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| plain_name(s).is_none()) {
        return Err(NotServed::Missing);
    }
    let (root, rel): (&Path, &[&str]) = match segments.as_slice() {
        ["models", rest @ ..] if rest.len() == 2 => (cfg.models.as_deref().ok_or(NotServed::Missing)?, rest),
        [] => (&cfg.dist, &["index.html"]),
        rest => (&cfg.dist, rest),
    };
    served_file(&root.canonicalize().map_err(|_| NotServed::Missing)?, rel)
}

/// `rel` below `root` (already canonical), links resolved: its real path, if that is a
/// plain file under `root`.
fn served_file(root: &Path, rel: &[&str]) -> Result<PathBuf, NotServed> {
    let real = rel.iter().fold(root.to_path_buf(), |p, s| p.join(s)).canonicalize().map_err(|_| NotServed::Missing)?;
    if !real.starts_with(root) {
        return Err(NotServed::Outside);
    }
    if !real.is_file() {
        return Err(NotServed::Missing);
    }
    Ok(real)
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

/// The CORS headers for a request from `origin`: none unless origins were named; then
/// `Vary: Origin`, and the origin echoed back if it is one of them.
fn cors_headers(cfg: &ServeConfig, origin: Option<&str>) -> Vec<String> {
    if cfg.cors_origins.is_empty() {
        return Vec::new();
    }
    let mut h = vec!["Vary: Origin".to_string()];
    if let Some(o) = origin.filter(|o| cfg.cors_origins.iter().any(|c| c == o)) {
        h.push(format!("Access-Control-Allow-Origin: {o}"));
        h.push("Access-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges".into());
    }
    h
}

fn handle(stream: &mut TcpStream, cfg: &ServeConfig) -> io::Result<()> {
    let req = match read_request(stream) {
        Ok(req) => req,
        Err(HeadError::Gone) => return Ok(()),
        Err(HeadError::Refuse(status, why)) => return send_text(stream, status, &[], &why, false),
    };
    let head = req.method == "HEAD";
    if let Err((status, why)) = cfg.hosts.check(req.host.as_deref(), req.http11) {
        return send_text(stream, status, &[], &why, head);
    }
    let cors = cors_headers(cfg, req.origin.as_deref());
    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => return preflight(stream, cfg, req.origin.as_deref()),
        _ => {
            let allow = ["Allow: GET, HEAD, OPTIONS".to_string()];
            return send_text(stream, "405 Method Not Allowed", &allow, "only GET and HEAD (and OPTIONS for CORS)\n", head);
        }
    }
    if req.path == "/models/index.json" {
        let list = cfg.models.as_deref().map(list_models).unwrap_or_default();
        let body = serde_json::to_vec(&list).unwrap_or_default();
        write_head(stream, "200 OK", "application/json", body.len() as u64, &cors)?;
        return finish(stream, &body, head);
    }
    let path = match resolve(cfg, &req.path) {
        Ok(p) => p,
        Err(NotServed::Missing) => return send_text(stream, "404 Not Found", &cors, "not found\n", head),
        Err(NotServed::Outside) => {
            let why = "this file resolves outside the folder it is served from (a link out of --models or --dist): only files under it are served\n";
            return send_text(stream, "403 Forbidden", &cors, why, head);
        }
    };
    let opened = File::open(&path).and_then(|f| Ok((f.metadata()?.len(), f)));
    let (len, mut file) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("compact serve: cannot open {}: {e}", path.display());
            let status = match e.kind() {
                io::ErrorKind::NotFound => "404 Not Found",
                io::ErrorKind::PermissionDenied => "403 Forbidden",
                _ => "500 Internal Server Error",
            };
            return send_text(stream, status, &cors, &format!("cannot open {}: {e}\n", req.path), head);
        }
    };
    let Ok(range) = parse_range(req.range.as_deref(), len) else {
        let extra = [cors, vec![format!("Content-Range: bytes */{len}")]].concat();
        return send_text(stream, "416 Range Not Satisfiable", &extra, &format!("the file has {len} bytes\n"), head);
    };
    let (status, start, count, extra) = match range {
        Some((s, e)) => ("206 Partial Content", s, e - s + 1, [cors, vec![format!("Content-Range: bytes {s}-{e}/{len}")]].concat()),
        None => ("200 OK", 0, len, cors),
    };
    if let Err(e) = file.seek(SeekFrom::Start(start)) {
        eprintln!("compact serve: cannot read {}: {e}", path.display());
        return send_text(stream, "500 Internal Server Error", &extra, &format!("cannot read {}: {e}\n", req.path), head);
    }
    write_head(stream, status, content_type(&path), count, &extra)?;
    if !head {
        io::copy(&mut file.take(count), stream)?;
    }
    stream.flush()
}

/// Answers an `OPTIONS` request: the CORS preflight of an allowed origin, or why not.
fn preflight(stream: &mut TcpStream, cfg: &ServeConfig, origin: Option<&str>) -> io::Result<()> {
    let cors = cors_headers(cfg, origin);
    match origin {
        Some(o) if cfg.cors_origins.iter().any(|c| c == o) => {
            let extra = [
                cors,
                vec![
                    "Access-Control-Allow-Methods: GET, HEAD, OPTIONS".into(),
                    "Access-Control-Allow-Headers: Range".into(),
                    "Access-Control-Max-Age: 600".into(),
                ],
            ]
            .concat();
            send_text(stream, "200 OK", &extra, "", false)
        }
        Some(o) => {
            let shown: String = o.chars().take(100).collect();
            let why =
                format!("pages from {shown:?} may not read these files: start compact serve with --cors-origin {shown} to allow them\n");
            send_text(stream, "403 Forbidden", &cors, &why, false)
        }
        None => {
            send_text(stream, "405 Method Not Allowed", &["Allow: GET, HEAD, OPTIONS".into()], "OPTIONS is for CORS preflights\n", false)
        }
    }
}

fn write_head(stream: &mut TcpStream, status: &str, ctype: &str, len: u64, extra: &[String]) -> io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
    );
    for e in extra {
        h.push_str(e);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    stream.write_all(h.as_bytes())
}

/// Sends a plain-text response (the head only for `HEAD`).
fn send_text(stream: &mut TcpStream, status: &str, extra: &[String], text: &str, head: bool) -> io::Result<()> {
    write_head(stream, status, "text/plain; charset=utf-8", text.len() as u64, extra)?;
    finish(stream, text.as_bytes(), head)
}

fn finish(stream: &mut TcpStream, body: &[u8], head: bool) -> io::Result<()> {
    if !head {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dist: &Path, models: &Path) -> ServeConfig {
        let hosts = Hosts { bound: "127.0.0.1:8080".parse().unwrap(), allowed: Vec::new() };
        ServeConfig { dist: dist.into(), models: Some(models.into()), hosts, cors_origins: Vec::new() }
    }

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
        let cfg = config(dir.path(), dir.path());
        assert!(resolve(&cfg, "/").is_ok());
        assert!(resolve(&cfg, "/models/m/config.json").is_ok());
        assert_eq!(resolve(&cfg, "/models/../m/config.json"), Err(NotServed::Missing));
        assert_eq!(resolve(&cfg, "/models/m/.hidden"), Err(NotServed::Missing));
        assert_eq!(resolve(&cfg, "/models/m"), Err(NotServed::Missing));
        assert_eq!(resolve(&cfg, "/nope"), Err(NotServed::Missing));
        assert_eq!(percent_decode("/a%20b%2"), "/a b%2");
        let list = list_models(dir.path());
        assert_eq!(list, vec![ListedModel { name: "m".into(), files: vec![ListedFile { name: "config.json".into(), size: 2 }] }]);
    }

    #[test]
    fn links_resolve_only_inside_the_root() {
        let (root, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (r, o) = (root.path(), outside.path());
        std::fs::write(r.join("index.html"), "x").unwrap();
        std::fs::create_dir_all(r.join("blobs")).unwrap();
        std::fs::write(r.join("blobs/abc"), "weights").unwrap();
        std::fs::create_dir(r.join("m")).unwrap();
        std::fs::write(r.join("m/config.json"), "{}").unwrap();
        std::os::unix::fs::symlink("../blobs/abc", r.join("m/model.safetensors")).unwrap();
        std::fs::write(o.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(o.join("secret"), r.join("m/secret")).unwrap();
        std::fs::write(o.join("config.json"), "{}").unwrap();
        std::os::unix::fs::symlink(o, r.join("away")).unwrap();
        std::os::unix::fs::symlink("m", r.join("alias")).unwrap();
        let cfg = config(r, r);
        assert_eq!(resolve(&cfg, "/models/m/model.safetensors"), Ok(r.canonicalize().unwrap().join("blobs/abc")));
        assert!(resolve(&cfg, "/models/alias/config.json").is_ok());
        assert_eq!(resolve(&cfg, "/models/m/secret"), Err(NotServed::Outside));
        assert_eq!(resolve(&cfg, "/models/away/config.json"), Err(NotServed::Outside));
        assert_eq!(resolve(&cfg, "/away/secret"), Err(NotServed::Outside));
        let scan = scan_models(r);
        let names: Vec<_> = scan.listed.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["alias", "m"]);
        let files: Vec<_> = scan.listed[1].files.iter().map(|f| (f.name.as_str(), f.size)).collect();
        assert_eq!(files, [("config.json", 2), ("model.safetensors", 7)]);
        assert_eq!(scan.outside, ["away"]);
    }

    #[test]
    fn host_rules() {
        let mut hosts = Hosts { bound: "127.0.0.1:8080".parse().unwrap(), allowed: Vec::new() };
        for ok in ["localhost:8080", "LocalHost:8080", "127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080"] {
            assert_eq!(hosts.check(Some(ok), true), Ok(()), "{ok}");
        }
        for refused in ["evil.example:8080", "localhost:8081", "localhost", "127.0.0.1", "localhost.:8080", "0.0.0.0:8080"] {
            let (status, why) = hosts.check(Some(refused), true).unwrap_err();
            assert_eq!(status, "403 Forbidden", "{refused}");
            assert!(why.contains("DNS rebinding") && why.contains("--allow-host"), "{why}");
        }
        for bad in ["", "a b", "[::1", "host:port", "x:99999"] {
            assert_eq!(hosts.check(Some(bad), true).unwrap_err().0, "400 Bad Request", "{bad:?}");
        }
        assert_eq!(hosts.check(None, true).unwrap_err().0, "400 Bad Request");
        assert_eq!(hosts.check(None, false), Ok(()));

        hosts.bound = "0.0.0.0:80".parse().unwrap();
        hosts.allowed = vec![parse_allowed_host("Box.lan").unwrap(), parse_allowed_host("192.168.1.5:9000").unwrap()];
        for ok in ["localhost", "localhost:80", "box.lan", "box.lan:80", "192.168.1.5:9000"] {
            assert_eq!(hosts.check(Some(ok), true), Ok(()), "{ok}");
        }
        for refused in ["0.0.0.0", "box.lan:9000", "192.168.1.5", "other.lan"] {
            assert_eq!(hosts.check(Some(refused), true).unwrap_err().0, "403 Forbidden", "{refused}");
        }
        hosts.bound = "192.168.1.5:8080".parse().unwrap();
        assert_eq!(hosts.check(Some("192.168.1.5:8080"), true), Ok(()));
        assert_eq!(parse_allowed_host("::1").unwrap(), AllowedHost { name: HostName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)), port: None });
        assert!(parse_allowed_host("*").is_err());
        assert!(parse_allowed_host("a/b").is_err());
    }

    #[test]
    fn origins_are_exact() {
        assert_eq!(parse_origin("http://127.0.0.1:8000"), Ok("http://127.0.0.1:8000".into()));
        assert_eq!(parse_origin("HTTPS://Example.COM"), Ok("https://example.com".into()));
        assert_eq!(parse_origin("http://[::1]:8000"), Ok("http://[::1]:8000".into()));
        for bad in ["*", "127.0.0.1:8000", "http://127.0.0.1:8000/", "http://127.0.0.1:*", "null", "ftp://x", "http://"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), dir.path());
        assert!(cors_headers(&cfg, Some("http://a.test")).is_empty());
        cfg.cors_origins = vec!["http://a.test".into()];
        assert_eq!(cors_headers(&cfg, Some("http://b.test")), ["Vary: Origin"]);
        assert_eq!(cors_headers(&cfg, None), ["Vary: Origin"]);
        let allowed = cors_headers(&cfg, Some("http://a.test"));
        assert!(allowed.contains(&"Access-Control-Allow-Origin: http://a.test".to_string()), "{allowed:?}");
    }
}
