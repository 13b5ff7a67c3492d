//! Browser byte sources: a `File`/`Blob` (from a picker or drag-and-drop) read with
//! `Blob.slice().arrayBuffer()`, and a file on a web server read with HTTP Range
//! requests. Either way only the requested bytes enter wasm memory.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, File, Request, RequestInit, Response};

use super::{ByteSink, ByteSource, ModelFolder, OutputFolder, check_range};
use crate::error::{Error, Result};

fn js_err(file: &str, e: JsValue) -> Error {
    let msg = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"));
    Error::io(file, msg)
}

/// The current size of this wasm instance's linear memory (the page's, or a worker's
/// in its own instance); it only grows, so this is the peak.
pub fn wasm_memory() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as u64
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
        let part = self.blob.slice_with_f64_and_f64(offset as f64, (offset + len as u64) as f64).map_err(|e| js_err(&self.name, e))?;
        let buf = JsFuture::from(part.array_buffer()).await.map_err(|e| js_err(&self.name, e))?;
        Ok(Uint8Array::new(&buf).to_vec())
    }
}

/// Named Blobs: files the user picked or dropped, or a pruned folder made in the tab.
#[derive(Debug, Clone, Default)]
pub struct BlobFolder {
    files: Vec<(String, Blob)>,
}

impl BlobFolder {
    /// Keeps the files at the top of a picked folder (by `webkitRelativePath`), or all
    /// of them for a plain multi-file pick; the first of two same-named files wins.
    pub fn from_files(files: impl IntoIterator<Item = File>) -> Self {
        let mut out = Self::default();
        for f in files {
            let rel =
                js_sys::Reflect::get(&f, &JsValue::from_str("webkitRelativePath")).ok().and_then(|v| v.as_string()).unwrap_or_default();
            if rel.matches('/').count() > 1 {
                continue; // inside a subfolder of the picked folder
            }
            out.add(f.name(), f.into());
        }
        out
    }

    /// The files of a pruned folder written in the tab ([`BlobOutput`]), to read back.
    pub fn of_written(files: &[BlobFile]) -> Self {
        let mut out = Self::default();
        for f in files {
            out.add(f.name.clone(), f.blob.clone());
        }
        out
    }

    /// Adds `blob` as `name` unless a file of that name is there already.
    pub fn add(&mut self, name: String, blob: Blob) {
        if !self.files.iter().any(|(n, _)| *n == name) {
            self.files.push((name, blob));
        }
    }

    /// The names of the files, in pick order.
    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Each file with its Blob.
    pub fn files(&self) -> &[(String, Blob)] {
        &self.files
    }
}

impl ModelFolder for BlobFolder {
    type Source = BlobSource;
    fn describe(&self) -> String {
        if self.files.is_empty() { "the selected files (none)".into() } else { format!("the selected files: {}", self.names().join(", ")) }
    }
    async fn open(&self, name: &str) -> Result<Option<BlobSource>> {
        Ok(self.files.iter().find(|(n, _)| n == name).map(|(n, b)| BlobSource::new(n.clone(), b.clone())))
    }
    async fn list(&self) -> Result<Vec<String>> {
        Ok(self.names())
    }
    fn share(&self) -> Option<JsValue> {
        let (names, blobs) = (js_sys::Array::new(), js_sys::Array::new());
        for (n, b) in &self.files {
            names.push(&JsValue::from_str(n));
            blobs.push(b);
        }
        Some(object(&[("names", names.into()), ("blobs", blobs.into())]).into())
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
        // Everything the headers say is checked before the body is read, and a body that
        // is not what was asked for is cancelled unread (a server that ignores Range would
        // otherwise push the whole model into the tab).
        let header = |name: &str| resp.headers().get(name).ok().flatten();
        let refused = |msg: String| {
            if let Some(body) = resp.body() {
                let _ = body.cancel();
            }
            Err(Error::io(&self.url, msg))
        };
        match resp.status() {
            206 => {
                // Content-Range is only visible cross-origin when the server exposes it.
                let want = format!("bytes {offset}-{}/", offset + len as u64 - 1);
                if let Some(got) = header("Content-Range").filter(|r| !r.starts_with(&want)) {
                    return refused(format!(
                        "asked for {want}…, the server sent Content-Range {got:?}: it does not serve ranges correctly"
                    ));
                }
                if let Some(sent) = header("Content-Length").and_then(|v| v.parse::<u64>().ok()).filter(|&n| n != len as u64) {
                    return refused(format!("asked for {len} bytes at {offset}, the server is sending {sent}"));
                }
            }
            200 if whole => {}
            200 => {
                return refused(
                    "the server ignores Range requests, so reading part of a model would download all of it; serve the files with a server that supports ranges (compact serve does)".into(),
                );
            }
            s => return refused(format!("the server answered {s} {}", resp.status_text())),
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
    /// The folder's files when the server lists them (`compact serve`'s index).
    files: Option<Vec<String>>,
}

impl HttpFolder {
    /// A folder whose files are at `base` + `/` + name; a file is there if the server
    /// answers for it.
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_string(), files: None }
    }

    /// A folder whose files the server has listed: only those are asked for (an
    /// optional file that is absent costs no request and no 404 in the console), and
    /// [`ModelFolder::list`] returns them.
    pub fn listed(base: impl Into<String>, files: Vec<String>) -> Self {
        Self { files: Some(files), ..Self::new(base) }
    }
}

impl ModelFolder for HttpFolder {
    type Source = HttpSource;
    fn describe(&self) -> String {
        self.base.clone()
    }
    async fn open(&self, name: &str) -> Result<Option<HttpSource>> {
        if self.files.as_ref().is_some_and(|f| !f.iter().any(|n| n == name)) {
            return Ok(None);
        }
        HttpSource::open(&format!("{}/{name}", self.base)).await
    }
    async fn list(&self) -> Result<Vec<String>> {
        Ok(self.files.clone().unwrap_or_default())
    }
    fn share(&self) -> Option<JsValue> {
        // A worker resolves addresses against its own script's; the page's is the one meant.
        let base = js_sys::global()
            .dyn_ref::<web_sys::Window>()
            .and_then(|w| w.location().href().ok())
            .and_then(|page| web_sys::Url::new_with_base(&self.base, &page).ok())
            .map_or_else(|| self.base.clone(), |u| u.href());
        let files =
            self.files.as_ref().map_or(JsValue::UNDEFINED, |f| f.iter().map(|n| JsValue::from_str(n)).collect::<js_sys::Array>().into());
        Some(object(&[("base", base.into()), ("files", files)]).into())
    }
}

/// A model folder anywhere the browser can read: local Blobs or a web server.
#[derive(Debug, Clone)]
pub enum WebFolder {
    /// Picked or dropped files.
    Blobs(BlobFolder),
    /// Files on a web server.
    Http(HttpFolder),
}

/// A file of a [`WebFolder`].
#[derive(Debug, Clone)]
pub enum WebSource {
    /// A picked file.
    Blob(BlobSource),
    /// A file on a web server.
    Http(HttpSource),
}

impl ByteSource for WebSource {
    fn name(&self) -> &str {
        match self {
            Self::Blob(s) => s.name(),
            Self::Http(s) => s.name(),
        }
    }
    fn len(&self) -> u64 {
        match self {
            Self::Blob(s) => s.len(),
            Self::Http(s) => s.len(),
        }
    }
    async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        match self {
            Self::Blob(s) => s.read_at(offset, len).await,
            Self::Http(s) => s.read_at(offset, len).await,
        }
    }
}

impl ModelFolder for WebFolder {
    type Source = WebSource;
    fn describe(&self) -> String {
        match self {
            Self::Blobs(f) => f.describe(),
            Self::Http(f) => f.describe(),
        }
    }
    async fn open(&self, name: &str) -> Result<Option<WebSource>> {
        Ok(match self {
            Self::Blobs(f) => f.open(name).await?.map(WebSource::Blob),
            Self::Http(f) => f.open(name).await?.map(WebSource::Http),
        })
    }
    async fn list(&self) -> Result<Vec<String>> {
        match self {
            Self::Blobs(f) => f.list().await,
            Self::Http(f) => f.list().await,
        }
    }
    fn share(&self) -> Option<JsValue> {
        match self {
            Self::Blobs(f) => f.share(),
            Self::Http(f) => f.share(),
        }
    }
}

impl WebFolder {
    /// The folder a [`ModelFolder::share`] value describes (in a worker: the page's
    /// picked files, which a message carries without copying them, or its server folder).
    pub fn from_shared(value: &JsValue) -> Option<Self> {
        let get = |k: &str| Some(field(value, k)).filter(|v| !v.is_undefined());
        if let Some(base) = get("base").and_then(|b| b.as_string()) {
            let files = get("files").map(|f| js_sys::Array::from(&f).iter().filter_map(|n| n.as_string()).collect());
            return Some(WebFolder::Http(HttpFolder { files, ..HttpFolder::new(base) }));
        }
        let (names, blobs) = (js_sys::Array::from(&get("names")?), js_sys::Array::from(&get("blobs")?));
        let mut folder = BlobFolder::default();
        for (n, b) in names.iter().zip(blobs.iter()) {
            folder.add(n.as_string()?, b.dyn_into().ok()?);
        }
        Some(WebFolder::Blobs(folder))
    }
}

/// A plain object of `fields` (a [`ModelFolder::share`] value, a Web Worker message).
pub(crate) fn object(fields: &[(&str, JsValue)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in fields {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

/// The field `key` of a JS object (`undefined` when it has none).
pub(crate) fn field(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A Blob holding a copy of `bytes` (outside the page's wasm memory).
pub(super) fn blob_of(name: &str, bytes: &[u8]) -> Result<Blob> {
    let parts = js_sys::Array::of1(&Uint8Array::from(bytes));
    Blob::new_with_u8_array_sequence(&parts).map_err(|e| js_err(name, e))
}

/// A file written into a [`BlobOutput`], with the CRC-32 the zip download needs.
#[derive(Debug, Clone)]
pub struct BlobFile {
    /// The file's name in the folder.
    pub name: String,
    /// Its bytes, held by the browser.
    pub blob: Blob,
    /// CRC-32 of the bytes.
    pub crc32: u32,
}

/// Where the browser writes a pruned folder, outside wasm memory: by default files in
/// the origin-private file system (OPFS, on disk, [`BlobOutput::on_disk`]), whose
/// `File`s download at any size; where the browser has no OPFS, Blobs it holds itself
/// ([`BlobOutput::new`]; Chromium cancels Blob downloads of about 800 MB and more).
/// After [`OutputFolder::commit`] the files are in the handle the constructor returned.
pub struct BlobOutput {
    staged: Rc<RefCell<Vec<BlobFile>>>,
    published: Published,
    /// The OPFS folder of this output (`None`: Blobs in memory).
    disk: Option<JsValue>,
}

/// The published files of a [`BlobOutput`], once committed.
pub type Published = Rc<RefCell<Option<Vec<BlobFile>>>>;

impl BlobOutput {
    /// An empty output held as Blobs, and the handle its files appear in once committed.
    pub fn new() -> (Self, Published) {
        let published = Rc::new(RefCell::new(None));
        (Self { staged: Rc::default(), published: published.clone(), disk: None }, published)
    }

    /// An empty output on disk in a new OPFS folder of `kind` (`"run"`, `"gguf"`);
    /// committing it removes this page's earlier outputs of the same kind, and folders
    /// of pages that are gone. Falls back to [`BlobOutput::new`] without OPFS.
    pub async fn on_disk(kind: &str) -> (Self, Published) {
        let (mut out, published) = Self::new();
        match JsFuture::from(opfs::open(kind)).await {
            Ok(dir) if !dir.is_null() => out.disk = Some(dir),
            _ => web_sys::console::warn_1(&"compact: no origin-private file system; outputs are held as Blobs".into()),
        }
        (out, published)
    }
}

/// An output dropped before its commit (a failed or cancelled run) leaves nothing on
/// disk.
impl Drop for BlobOutput {
    fn drop(&mut self) {
        if let Some(dir) = self.disk.take() {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(opfs::remove(&dir)).await;
            });
        }
    }
}

/// Where a [`BlobSink`]'s bytes go.
enum Backend {
    /// Blob parts, joined into one Blob at the end.
    Memory(js_sys::Array),
    /// An OPFS file being written.
    Disk { dir: JsValue, writable: JsValue },
}

/// One file of a [`BlobOutput`] being written: bytes gather in a small buffer and go
/// to the browser in 4 MiB parts.
pub struct BlobSink {
    name: String,
    backend: Backend,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    staged: Rc<RefCell<Vec<BlobFile>>>,
}

const BLOB_PART: usize = 4 << 20;

impl BlobSink {
    async fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let part = Uint8Array::from(self.buf.as_slice());
        self.buf.clear();
        match &self.backend {
            Backend::Memory(parts) => {
                parts.push(&part);
            }
            Backend::Disk { writable, .. } => {
                JsFuture::from(opfs::write(writable, &part)).await.map_err(|e| js_err(&self.name, e))?;
            }
        }
        Ok(())
    }
}

impl ByteSink for BlobSink {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.crc.update(bytes);
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BLOB_PART {
            self.flush().await?;
        }
        Ok(())
    }
    async fn finish(mut self) -> Result<()> {
        self.flush().await?;
        let blob = match &self.backend {
            Backend::Memory(parts) => Blob::new_with_u8_array_sequence(parts).map_err(|e| js_err(&self.name, e))?,
            Backend::Disk { dir, writable } => {
                JsFuture::from(opfs::finish(writable, dir, &self.name)).await.map_err(|e| js_err(&self.name, e))?.unchecked_into()
            }
        };
        self.staged.borrow_mut().push(BlobFile { name: self.name, blob, crc32: self.crc.finalize() });
        Ok(())
    }
}

impl OutputFolder for BlobOutput {
    type Sink = BlobSink;
    async fn create(&mut self, name: &str) -> Result<BlobSink> {
        let backend = match &self.disk {
            None => Backend::Memory(js_sys::Array::new()),
            Some(dir) => {
                let writable = JsFuture::from(opfs::create(dir, name)).await.map_err(|e| js_err(name, e))?;
                Backend::Disk { dir: dir.clone(), writable }
            }
        };
        Ok(BlobSink {
            name: name.into(),
            backend,
            buf: Vec::with_capacity(BLOB_PART),
            crc: crc32fast::Hasher::new(),
            staged: self.staged.clone(),
        })
    }
    async fn free_bytes(&self) -> Option<u64> {
        if self.disk.is_some() { storage_free().await } else { None }
    }
    async fn commit(mut self) -> Result<()> {
        if let Some(dir) = self.disk.take() {
            // Only a finished output replaces the earlier ones.
            let _ = JsFuture::from(opfs::keep_only(&dir)).await;
        }
        *self.published.borrow_mut() = Some(self.staged.take());
        Ok(())
    }
}

/// The origin-private file system, through the few calls the outputs need. Each page
/// holds a Web Lock named after its session while it lives, so a page removes only
/// folders of sessions whose lock nobody holds (its own earlier outputs of a kind, and
/// those of closed pages), never another open tab's.
mod opfs {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(inline_js = r#"
const SESSION = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
let counter = 0;
let locked = null;
function lock() {
  if (!locked && navigator.locks) {
    locked = new Promise(ok => navigator.locks.request(`compact-session-${SESSION}`, () => { ok(); return new Promise(() => {}); }));
  }
  return locked ?? Promise.resolve();
}
async function root() {
  const top = await navigator.storage.getDirectory();
  return top.getDirectoryHandle('compact-outputs', { create: true });
}
async function liveSessions() {
  if (!navigator.locks) return null;
  const { held } = await navigator.locks.query();
  return new Set(held.map(l => l.name).filter(n => n.startsWith('compact-session-')).map(n => n.slice(16)));
}
export async function opfs_open(kind) {
  try {
    if (!navigator.storage || !navigator.storage.getDirectory) return null;
    await lock();
    const dir = await (await root()).getDirectoryHandle(`${SESSION}.${kind}.${counter++}`, { create: true });
    return dir;
  } catch (e) {
    return null;
  }
}
export async function opfs_create(dir, name) {
  const handle = await dir.getFileHandle(name, { create: true });
  return handle.createWritable();
}
export async function opfs_write(writable, bytes) {
  await writable.write(bytes);
}
export async function opfs_finish(writable, dir, name) {
  await writable.close();
  return (await dir.getFileHandle(name)).getFile();
}
export async function opfs_remove(dir) {
  await (await root()).removeEntry(dir.name, { recursive: true });
}
// Bytes the origin may still store (quota minus usage), or -1 where the browser
// does not say.
export async function storage_free_bytes() {
  try {
    const e = await navigator.storage.estimate();
    return e.quota - e.usage;
  } catch {
    return -1;
  }
}
export async function opfs_keep_only(keep) {
  const [session, kind] = keep.name.split('.');
  const live = await liveSessions();
  const parent = await root();
  for await (const [name] of parent.entries()) {
    const [s, k] = name.split('.');
    const mine = s === session;
    const stale = mine ? (k === kind && name !== keep.name) : (live !== null && !live.has(s));
    if (stale) await parent.removeEntry(name, { recursive: true }).catch(() => {});
  }
}
"#)]
    extern "C" {
        /// A new folder for an output of `kind`, or null without OPFS.
        #[wasm_bindgen(js_name = opfs_open)]
        pub fn open(kind: &str) -> js_sys::Promise;
        /// A writable stream for a new file `name` in `dir`.
        #[wasm_bindgen(js_name = opfs_create)]
        pub fn create(dir: &JsValue, name: &str) -> js_sys::Promise;
        /// Appends `bytes`.
        #[wasm_bindgen(js_name = opfs_write)]
        pub fn write(writable: &JsValue, bytes: &js_sys::Uint8Array) -> js_sys::Promise;
        /// Closes the stream; resolves to the written `File` (disk-backed).
        #[wasm_bindgen(js_name = opfs_finish)]
        pub fn finish(writable: &JsValue, dir: &JsValue, name: &str) -> js_sys::Promise;
        /// Removes the output folder `dir`.
        #[wasm_bindgen(js_name = opfs_remove)]
        pub fn remove(dir: &JsValue) -> js_sys::Promise;
        /// Removes this page's other outputs of `keep`'s kind and closed pages' outputs.
        #[wasm_bindgen(js_name = opfs_keep_only)]
        pub fn keep_only(keep: &JsValue) -> js_sys::Promise;
        /// Bytes the origin may still store, or -1.
        pub fn storage_free_bytes() -> js_sys::Promise;
    }
}

/// Bytes this origin may still write to disk (the browser's estimate), if it says.
pub async fn storage_free() -> Option<u64> {
    JsFuture::from(opfs::storage_free_bytes()).await.ok()?.as_f64().filter(|b| *b >= 0.0).map(|b| b as u64)
}

/// A zip archive (stored, see [`super::zip`]) of `files`, assembled by the browser from
/// their Blobs.
pub fn zip_blob(files: &[BlobFile]) -> Result<Blob> {
    let entries: Vec<super::zip::ZipEntry> =
        files.iter().map(|f| super::zip::ZipEntry { name: f.name.clone(), size: f.blob.size() as u64, crc32: f.crc32 }).collect();
    let parts = js_sys::Array::new();
    for p in super::zip::layout(&entries)? {
        match p {
            super::zip::ZipPart::Bytes(b) => parts.push(&Uint8Array::from(b.as_slice())),
            super::zip::ZipPart::Contents(n) => parts.push(&files[n].blob),
        };
    }
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/zip");
    Blob::new_with_blob_sequence_and_options(&parts, &opts).map_err(|e| js_err("the zip archive", e))
}
