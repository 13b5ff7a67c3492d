//! Browser byte sources: a `File`/`Blob` (from a picker or drag-and-drop) read with
//! `Blob.slice().arrayBuffer()`, and a file on a web server read with HTTP Range
//! requests. Either way only the requested bytes enter wasm memory.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, File, Request, RequestInit, Response};

use super::{ByteSource, ModelFolder, check_range};
use crate::error::{Error, Result};

fn js_err(file: &str, e: JsValue) -> Error {
    let msg = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    Error::io(file, msg)
}

/// A browser `Blob` (a `File` is one).
#[derive(Debug, Clone)]
pub struct BlobSource {
    name: String,
    blob: Blob,
}

impl BlobSource {
    /// Wraps a picked or dropped file.
    pub fn from_file(file: File) -> Self {
        Self { name: file.name(), blob: file.into() }
    }

    /// Wraps any blob under `name`.
    pub fn new(name: impl Into<String>, blob: Blob) -> Self {
        Self { name: name.into(), blob }
    }
}

impl ByteSource for BlobSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.blob.size() as u64
    }
    async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_range(&self.name, self.len(), offset, len)?;
        let part = self
            .blob
            .slice_with_f64_and_f64(offset as f64, (offset + len as u64) as f64)
            .map_err(|e| js_err(&self.name, e))?;
        let buf = JsFuture::from(part.array_buffer()).await.map_err(|e| js_err(&self.name, e))?;
        Ok(Uint8Array::new(&buf).to_vec())
    }
}

/// Files the user picked or dropped, found by name.
#[derive(Debug, Clone, Default)]
pub struct FileListFolder {
    files: Vec<(String, File)>,
}

impl FileListFolder {
    /// Keeps the files at the top of the picked folder (by `webkitRelativePath`), or
    /// all of them for a plain multi-file pick; the first of two same-named files wins.
    pub fn new(files: impl IntoIterator<Item = File>) -> Self {
        let mut out: Vec<(String, File)> = Vec::new();
        for f in files {
            let rel = js_sys::Reflect::get(&f, &JsValue::from_str("webkitRelativePath"))
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            if rel.matches('/').count() > 1 {
                continue; // inside a subfolder of the picked folder
            }
            let name = f.name();
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, f));
            }
        }
        Self { files: out }
    }

    /// The names of the files, in pick order.
    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|(n, _)| n.clone()).collect()
    }
}

impl ModelFolder for FileListFolder {
    type Source = BlobSource;
    fn describe(&self) -> String {
        if self.files.is_empty() { "the selected files (none)".into() } else { format!("the selected files: {}", self.names().join(", ")) }
    }
    async fn open(&self, name: &str) -> Result<Option<BlobSource>> {
        Ok(self.files.iter().find(|(n, _)| n == name).map(|(_, f)| BlobSource::from_file(f.clone())))
    }
}

/// A file on a web server that answers Range requests.
#[derive(Debug, Clone)]
pub struct HttpSource {
    url: String,
    len: u64,
}

async fn fetch(url: &str, method: &str, range: Option<String>) -> Result<Response> {
    let init = RequestInit::new();
    init.set_method(method);
    let req = Request::new_with_str_and_init(url, &init).map_err(|e| js_err(url, e))?;
    if let Some(r) = range {
        req.headers().set("Range", &r).map_err(|e| js_err(url, e))?;
    }
    let global = js_sys::global();
    let promise = if let Some(w) = global.dyn_ref::<web_sys::Window>() {
        w.fetch_with_request(&req)
    } else {
        global.unchecked_ref::<web_sys::WorkerGlobalScope>().fetch_with_request(&req)
    };
    let resp = JsFuture::from(promise).await.map_err(|e| js_err(url, e))?;
    Ok(resp.unchecked_into())
}

impl HttpSource {
    /// Asks the server for `url`'s size (a HEAD request); `Ok(None)` on 404.
    pub async fn open(url: &str) -> Result<Option<Self>> {
        let resp = fetch(url, "HEAD", None).await?;
        match resp.status() {
            404 | 410 => return Ok(None),
            s if !(200..300).contains(&s) => return Err(Error::io(url, format!("the server answered {s} {}", resp.status_text()))),
            _ => {}
        }
        let len = resp
            .headers()
            .get("Content-Length")
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::io(url, "the server did not say how large the file is (no Content-Length)"))?;
        Ok(Some(Self { url: url.to_string(), len }))
    }
}

impl ByteSource for HttpSource {
    fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }
    fn len(&self) -> u64 {
        self.len
    }
    async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_range(&self.url, self.len, offset, len)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let whole = offset == 0 && len as u64 == self.len;
        let range = (!whole).then(|| format!("bytes={offset}-{}", offset + len as u64 - 1));
        let resp = fetch(&self.url, "GET", range).await?;
        match resp.status() {
            206 => {}
            200 if whole => {}
            200 => {
                return Err(Error::io(
                    &self.url,
                    "the server ignores Range requests, so reading part of a model would download all of it; serve the files with a server that supports ranges",
                ));
            }
            s => return Err(Error::io(&self.url, format!("the server answered {s} {}", resp.status_text()))),
        }
        let buf = JsFuture::from(resp.array_buffer().map_err(|e| js_err(&self.url, e))?).await.map_err(|e| js_err(&self.url, e))?;
        let bytes = Uint8Array::new(&buf).to_vec();
        if bytes.len() != len {
            return Err(Error::io(&self.url, format!("asked for {len} bytes at {offset}, the server sent {}", bytes.len())));
        }
        Ok(bytes)
    }
}

/// A model folder on a web server: `{base}/{file}`.
#[derive(Debug, Clone)]
pub struct HttpFolder {
    base: String,
}

impl HttpFolder {
    /// A folder whose files are at `base` + `/` + name.
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_string() }
    }
}

impl ModelFolder for HttpFolder {
    type Source = HttpSource;
    fn describe(&self) -> String {
        self.base.clone()
    }
    async fn open(&self, name: &str) -> Result<Option<HttpSource>> {
        HttpSource::open(&format!("{}/{name}", self.base)).await
    }
}
