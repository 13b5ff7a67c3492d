//! `compact serve` on every input, through the built binary over raw HTTP: links out of
//! the served folders, foreign Host names, CORS origins, idle, oversized and malformed
//! requests, files that cannot be served, a full worker pool, and what the app relies on
//! (ranges, HEAD, the model index).

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::symlink;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{compact, temp_dir};

/// A running `compact serve`, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Server {
    /// Starts `compact serve --port 0` on `site` with `extra` arguments; reads its address
    /// from the "serving … on http://ADDR/" line.
    fn start(site: &Site, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_compact"))
            .args(["serve", "--port", "0", "--dist"])
            .arg(site.dist.path())
            .arg("--models")
            .arg(site.models.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start compact serve");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line.split("on http://").nth(1).and_then(|a| a.trim().strip_suffix('/')).and_then(|a| a.parse().ok());
        let Some(addr) = addr else { panic!("compact serve did not say where it serves: {line:?}") };
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Server { child, addr }
    }

    /// The `Host` header value a browser would send for this server.
    fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Sends `raw` as is and reads the whole response (the server closes after it).
    fn exchange(&self, raw: &[u8]) -> Response {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.write_all(raw).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap_or_else(|e| panic!("the connection broke instead of closing after a response: {e}"));
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no response head in {buf:?}"));
        let head = String::from_utf8(buf[..split].to_vec()).unwrap();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
        Response { status, head, body: buf[split + 4..].to_vec() }
    }

    /// `method path` with a good Host header and `headers` (each ending in CRLF).
    fn request(&self, method: &str, path: &str, headers: &str) -> Response {
        self.exchange(format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n{headers}\r\n", self.host()).as_bytes())
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, "")
    }
}

/// A built app, a models root and a folder outside both:
/// - `dist/index.html`, `dist/leak.txt` → `outside/secret.txt`;
/// - `models/m/`: `config.json`, `model.safetensors` → `../blobs/abc` (8 bytes, a Hugging
///   Face cache's layout), `secret.txt` → `outside/secret.txt`;
/// - `models/alias` → `m`, `models/away` → `outside` (which has a `config.json`);
/// - `models/smol` → a snapshot of a Hugging Face cache kept in `models/hub/`, whose
///   files link into the cache's `blobs/`.
struct Site {
    dist: tempfile::TempDir,
    models: tempfile::TempDir,
    outside: tempfile::TempDir,
}

fn site() -> Site {
    let site = Site { dist: temp_dir("serve-dist"), models: temp_dir("serve-models"), outside: temp_dir("serve-outside") };
    let (d, m, o) = (site.dist.path(), site.models.path(), site.outside.path());
    std::fs::write(d.join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(o.join("secret.txt"), "SECRET").unwrap();
    std::fs::write(o.join("config.json"), "{}").unwrap();
    symlink(o.join("secret.txt"), d.join("leak.txt")).unwrap();
    std::fs::create_dir_all(m.join("blobs")).unwrap();
    std::fs::write(m.join("blobs/abc"), "weights!").unwrap();
    std::fs::create_dir(m.join("m")).unwrap();
    std::fs::write(m.join("m/config.json"), "{}").unwrap();
    symlink("../blobs/abc", m.join("m/model.safetensors")).unwrap();
    symlink(o.join("secret.txt"), m.join("m/secret.txt")).unwrap();
    symlink("m", m.join("alias")).unwrap();
    symlink(o, m.join("away")).unwrap();
    let cache = m.join("hub/models--org--smol");
    std::fs::create_dir_all(cache.join("blobs")).unwrap();
    std::fs::create_dir_all(cache.join("snapshots/rev")).unwrap();
    std::fs::write(cache.join("blobs/c0ffee"), "{\"x\":1}").unwrap();
    symlink("../../blobs/c0ffee", cache.join("snapshots/rev/config.json")).unwrap();
    symlink("hub/models--org--smol/snapshots/rev", m.join("smol")).unwrap();
    site
}

/// The model index as (name, [(file, size)]).
fn index(server: &Server) -> Vec<(String, Vec<(String, u64)>)> {
    let r = server.get("/models/index.json");
    assert_eq!(r.status, 200, "{r:?}");
    let list: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let files = |m: &serde_json::Value| -> Vec<(String, u64)> {
        m["files"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap().into(), f["size"].as_u64().unwrap())).collect()
    };
    list.as_array().unwrap().iter().map(|m| (m["name"].as_str().unwrap().to_string(), files(m))).collect()
}

#[test]
fn links_out_of_the_served_folders_are_not_served() {
    let site = site();
    let server = Server::start(&site, &[]);
    // Links that stay inside the models root are followed (a Hugging Face cache's blobs).
    let r = server.get("/models/m/model.safetensors");
    assert_eq!((r.status, r.text().as_str()), (200, "weights!"), "{r:?}");
    let r = server.get("/models/alias/config.json");
    assert_eq!((r.status, r.text().as_str()), (200, "{}"), "{r:?}");
    let r = server.get("/models/smol/config.json");
    assert_eq!((r.status, r.text().as_str()), (200, "{\"x\":1}"), "{r:?}");
    // Links out of it are not, nor links out of dist.
    for path in ["/models/m/secret.txt", "/models/away/config.json", "/leak.txt"] {
        let r = server.get(path);
        assert_eq!(r.status, 403, "{path}: {r:?}");
        assert!(!r.text().contains("SECRET") && r.text().contains("outside"), "{path}: {}", r.text());
    }
    let m = vec![("config.json".to_string(), 2), ("model.safetensors".to_string(), 8)];
    let smol = vec![("config.json".to_string(), 7)];
    assert_eq!(index(&server), vec![("alias".to_string(), m.clone()), ("m".to_string(), m), ("smol".to_string(), smol)]);
}

#[test]
fn foreign_host_names_are_refused() {
    let site = site();
    let server = Server::start(&site, &["--allow-host", "box.lan"]);
    let port = server.addr.port();
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}"), format!("box.lan:{port}")] {
        let r = server.exchange(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!((r.status, r.text().as_str()), (200, "<!doctype html>"), "{host}: {r:?}");
    }
    for host in [format!("evil.example:{port}"), format!("localhost:{}", port.wrapping_add(1)), "localhost".into()] {
        let r = server.exchange(format!("GET /models/m/config.json HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(r.status, 403, "{host}: {r:?}");
        assert!(r.text().contains("DNS rebinding") && r.text().contains("--allow-host"), "{host}: {}", r.text());
    }
    let r = server.exchange(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400, "no Host on HTTP/1.1: {r:?}");
    assert!(r.text().contains("Host"), "{}", r.text());
    let r = server.exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "no Host on HTTP/1.0: {r:?}");
    let r = server.exchange(format!("GET / HTTP/1.1\r\nHost: {}\r\nHost: evil.example\r\n\r\n", server.host()).as_bytes());
    assert_eq!(r.status, 400, "two Host headers: {r:?}");
}

#[test]
fn cors_headers_only_for_the_named_origin() {
    let site = site();
    let origin = "http://127.0.0.1:9";
    let server = Server::start(&site, &["--cors-origin", origin]);
    let r = server.request("GET", "/models/m/config.json", &format!("Origin: {origin}\r\n"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin), "{r:?}");
    assert_eq!(r.header("Vary"), Some("Origin"), "{r:?}");
    assert!(r.header("Access-Control-Expose-Headers").is_some_and(|h| h.contains("Content-Range")), "{r:?}");
    let preflight = format!("Origin: {origin}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n");
    let r = server.request("OPTIONS", "/models/m/model.safetensors", &preflight);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin), "{r:?}");
    assert!(r.header("Access-Control-Allow-Headers").is_some_and(|h| h.eq_ignore_ascii_case("range")), "{r:?}");

    for other in ["http://evil.example", "http://127.0.0.1:10", "http://127.0.0.1:9.evil.example"] {
        let r = server.request("GET", "/models/m/config.json", &format!("Origin: {other}\r\n"));
        assert_eq!(r.status, 200, "{other}: {r:?}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{other}: {r:?}");
        assert_eq!(r.header("Vary"), Some("Origin"), "{other}: {r:?}");
        let r = server.request("OPTIONS", "/models/m/config.json", &format!("Origin: {other}\r\nAccess-Control-Request-Method: GET\r\n"));
        assert_eq!(r.status, 403, "{other}: {r:?}");
        assert!(r.text().contains("--cors-origin"), "{}", r.text());
    }

    let plain = Server::start(&site, &[]);
    let r = plain.request("GET", "/models/m/config.json", &format!("Origin: {origin}\r\n"));
    assert_eq!((r.status, r.header("Access-Control-Allow-Origin")), (200, None), "{r:?}");

    // The old any-origin switch is gone, and origins are checked when the server starts.
    let (dist, models) = (site.dist.path().to_str().unwrap(), site.models.path().to_str().unwrap());
    let (ok, _, err) = compact(&["serve", "--port", "0", "--dist", dist, "--models", models, "--cors"]);
    assert!(!ok && err.contains("--cors"), "{err}");
    for bad in ["*", "http://127.0.0.1:*", "http://127.0.0.1:9/"] {
        let (ok, _, err) = compact(&["serve", "--port", "0", "--dist", dist, "--models", models, "--cors-origin", bad]);
        assert!(!ok && err.contains("expected an origin"), "{bad}: {err}");
    }
}

#[test]
fn idle_connections_do_not_block_others() {
    let site = site();
    let server = Server::start(&site, &[]);
    // Ten connections that say nothing, ten that stop in the middle of a request.
    let mut idle: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    for s in &mut idle[10..] {
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n", server.host()).as_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let r = server.get("/models/m/config.json");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "answered after {:?}", t.elapsed());
    drop(idle);
}

#[test]
fn a_full_pool_answers_busy() {
    let site = site();
    let server = Server::start(&site, &[]);
    // More idle connections than the workers and the queue hold: the rest get 503.
    let idle: Vec<TcpStream> = (0..150).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    let t = Instant::now();
    let mut busy = 0;
    while busy == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        busy = 0;
        for mut s in &idle {
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            let mut buf = [0; 64];
            if let Ok(n) = s.read(&mut buf)
                && buf[..n].starts_with(b"HTTP/1.1 503")
            {
                busy += 1;
            }
        }
    }
    assert!(busy > 0, "no connection was told the server is busy");
    drop(idle);
    // Once they are gone, requests are served again.
    let t = Instant::now();
    loop {
        let r = server.get("/");
        if r.status == 200 {
            break;
        }
        assert!(r.status == 503 && t.elapsed() < Duration::from_secs(5), "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn oversized_and_malformed_requests_get_a_status() {
    let site = site();
    let server = Server::start(&site, &[]);
    let host = server.host();
    let long = "x".repeat(20 * 1024);
    let many: String = (0..150).map(|i| format!("X-{i}: y\r\n")).collect();
    let cases = [
        (format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: {long}\r\n\r\n"), 431),
        (format!("GET / HTTP/1.1\r\nHost: {host}\r\n{many}\r\n"), 431),
        (format!("GET /{long} HTTP/1.1\r\nHost: {host}\r\n\r\n"), 414),
        ("garbage\r\n\r\n".to_string(), 400),
        (format!("GET / HTTP/1.1\r\nHost: {host}\r\nno colon\r\n\r\n"), 400),
        (format!("GET / HTTP/1.1\r\nHost: {host}\r\n folded\r\n\r\n"), 400),
        (format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n"), 400),
        (format!("GET / HTTP/2.0\r\nHost: {host}\r\n\r\n"), 505),
        (format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello"), 405),
        (format!("DELETE /models/m/config.json HTTP/1.1\r\nHost: {host}\r\n\r\n"), 405),
    ];
    for (raw, status) in cases {
        let r = server.exchange(raw.as_bytes());
        let shown: String = raw.chars().take(60).collect();
        assert_eq!(r.status, status, "{shown:?}: {r:?}");
        assert!(!r.body.is_empty(), "{shown:?}: a refusal says why");
    }
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn files_that_cannot_be_served_get_a_status() {
    let site = site();
    let m = site.models.path().join("m");
    std::fs::create_dir(m.join("weights.bin")).unwrap();
    symlink(m.join("nothing-here"), m.join("gone.bin")).unwrap();
    let fifo = Command::new("mkfifo").arg(m.join("pipe.bin")).status().expect("run mkfifo");
    assert!(fifo.success());
    let locked = m.join("locked.bin");
    std::fs::write(&locked, "locked").unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let server = Server::start(&site, &[]);
    // A directory named like a file, a dangling link and a FIFO (which would block an open) are not files.
    for path in ["/models/m/weights.bin", "/models/m/gone.bin", "/models/m/pipe.bin"] {
        let t = Instant::now();
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(t.elapsed() < Duration::from_secs(3), "{path}: answered after {:?}", t.elapsed());
    }
    // A file without permissions: 403 where the open fails; root opens it anyway.
    let r = server.get("/models/m/locked.bin");
    if std::fs::File::open(&locked).is_ok() {
        assert_eq!((r.status, r.text().as_str()), (200, "locked"), "{r:?}");
    } else {
        assert_eq!(r.status, 403, "{r:?}");
        assert!(r.text().contains("cannot open"), "{}", r.text());
    }
    let names: Vec<_> = index(&server).into_iter().find(|(n, _)| n == "m").unwrap().1.into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| ["weights.bin", "gone.bin", "pipe.bin", "secret.txt"].contains(&n.as_str())), "{names:?}");
}

#[test]
fn ranges_head_and_the_index_still_work() {
    let site = site();
    let server = Server::start(&site, &[]);
    let r = server.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "<!doctype html>"), "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let file = "/models/m/model.safetensors";
    for (range, status, body, content_range) in [
        ("bytes=0-3", 206, "weig", Some("bytes 0-3/8")),
        ("bytes=-2", 206, "s!", Some("bytes 6-7/8")),
        ("bytes=5-", 206, "ts!", Some("bytes 5-7/8")),
        ("bytes=6-100", 206, "s!", Some("bytes 6-7/8")),
        ("bytes=0-1,4-5", 200, "weights!", None),
        ("bytes=8-", 416, "the file has 8 bytes\n", Some("bytes */8")),
        ("bytes=x-1", 416, "the file has 8 bytes\n", Some("bytes */8")),
    ] {
        let r = server.request("GET", file, &format!("Range: {range}\r\n"));
        assert_eq!((r.status, r.text().as_str(), r.header("Content-Range")), (status, body, content_range), "{range}: {r:?}");
    }
    let r = server.request("HEAD", file, "");
    assert_eq!((r.status, r.header("Content-Length"), r.body.len()), (200, Some("8"), 0), "{r:?}");
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let r = server.request("HEAD", "/nope", "");
    assert_eq!((r.status, r.body.len()), (404, 0), "{r:?}");
    for path in
        ["/models/../m/config.json", "/models/%2e%2e/m/config.json", "/models/m/%2Fetc%2Fpasswd", "/../index.html", "/.hidden", "/models/m"]
    {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
    assert_eq!(server.get("/index.html?x=1#y").status, 200);
    let listed = index(&server);
    assert_eq!(listed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["alias", "m", "smol"]);
}
