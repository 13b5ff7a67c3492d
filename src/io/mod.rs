//! Byte I/O behind traits, so the same parsing and pruning code runs on native files,
//! browser `File`/`Blob`s and HTTP (Range requests).
//!
//! Nothing here reads a whole model: [`ByteSource::read_at`] reads one range, and
//! [`ByteSource::read_to_end`] is only for the small JSON and tokenizer files (it refuses
//! anything over the [`size_limit`] of the file's name).

#[cfg(not(target_arch = "wasm32"))]
mod native;
mod spill;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod zip;

pub use spill::Spilled;

#[cfg(not(target_arch = "wasm32"))]
pub use native::{DirFolder, DirOutput, FileOutput, FileSink, FileSource, remove_staging};

use crate::error::{Error, Result};

/// The largest file named `name` that [`ByteSource::read_to_end`] reads whole. Parsed
/// JSON takes several times its file size in memory, so each kind of file gets a cap
/// that real files fit with a wide margin (the largest known: Gemma-3's tokenizer.json,
/// 33 MB; Qwen2.5's vocab.json, 2.8 MB; tokenizer.model, 4.7 MB; config.json, tens of KB).
pub fn size_limit(name: &str) -> u64 {
    const MIB: u64 = 1 << 20;
    match name.rsplit(['/', '\\']).next().unwrap_or(name) {
        "tokenizer.json" => 64 * MIB,
        "vocab.json" | "merges.txt" | "tokenizer.model" => 32 * MIB,
        "tokenizer_config.json" | "model.safetensors.index.json" => 16 * MIB,
        _ => 4 * MIB,
    }
}

/// A file that can be read by byte range, asynchronously (the browser cannot block).
#[allow(async_fn_in_trait)]
pub trait ByteSource: crate::parallel::MaybeSync {
    /// The file's name, for messages.
    fn name(&self) -> &str;
    /// Its size in bytes.
    fn len(&self) -> u64;
    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads exactly `len` bytes at `offset`; a range past the end is an error.
    async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>>;

    /// Reads a small file (a JSON config or tokenizer) whole; one over its
    /// [`size_limit`] is an [`Error::FileTooLarge`].
    async fn read_to_end(&self) -> Result<Vec<u8>> {
        let limit = size_limit(self.name());
        if self.len() > limit {
            return Err(Error::FileTooLarge { file: self.name().to_string(), bytes: self.len(), limit });
        }
        self.read_at(0, self.len() as usize).await
    }
}

/// A model folder: named files, wherever they live (a directory, a browser file
/// selection, a web server).
#[allow(async_fn_in_trait)]
pub trait ModelFolder {
    /// The kind of file this folder hands out.
    type Source: ByteSource;
    /// A short description for messages (a path, "selected files", a URL).
    fn describe(&self) -> String;
    /// Opens `name`, or `Ok(None)` when the folder has no such file.
    async fn open(&self, name: &str) -> Result<Option<Self::Source>>;

    /// The names of the folder's files, where the folder can list them (a web server
    /// cannot: then empty).
    async fn list(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// A description of this folder a browser Web Worker can open again
    /// ([`web::WebFolder::from_shared`]), so a worker reads the same files itself; `None`
    /// for folders that live only in this instance's memory.
    #[cfg(target_arch = "wasm32")]
    fn share(&self) -> Option<wasm_bindgen::JsValue> {
        None
    }

    /// Opens `name` or fails with [`Error::MissingFile`] explaining what it is for.
    async fn require(&self, name: &str, needed_for: &str) -> Result<Self::Source> {
        self.open(name).await?.ok_or_else(|| Error::missing(name, format!("{needed_for} (looked in {})", self.describe())))
    }
}

/// A file being written, front to back.
#[allow(async_fn_in_trait)]
pub trait ByteSink {
    /// Appends `bytes`.
    async fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Flushes and closes the file.
    async fn finish(self) -> Result<()>;
}

/// Where a pruned model folder is written. Files appear under their final names only
/// when [`OutputFolder::commit`] succeeds; dropping the folder without committing
/// leaves nothing behind.
#[allow(async_fn_in_trait)]
pub trait OutputFolder {
    /// The kind of file this folder writes.
    type Sink: ByteSink;
    /// Starts writing the file `name`.
    async fn create(&mut self, name: &str) -> Result<Self::Sink>;
    /// Bytes that can still be written here, when the platform says: checked before a
    /// job spends time calibrating for an output that would not fit.
    async fn free_bytes(&self) -> Option<u64> {
        None
    }
    /// Publishes every finished file.
    async fn commit(self) -> Result<()>;
}

/// The folder URL of model `repo` on a Hugging Face–style server,
/// `{base}/{repo}/resolve/main`, or `base` itself when `repo` is empty.
pub fn hub_folder_url(base: &str, repo: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    match repo.trim().trim_matches('/') {
        "" => base.to_string(),
        repo => format!("{base}/{repo}/resolve/main"),
    }
}

/// Checks that `offset..offset+len` lies inside a file of `size` bytes.
pub(crate) fn check_range(name: &str, size: u64, offset: u64, len: usize) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => {
            Err(Error::format(name, format!("read of {len} bytes at offset {offset} is past the end of the {size}-byte file (truncated?)")))
        }
    }
}

/// An in-memory source, for tests and for data already in memory.
#[derive(Debug, Clone)]
pub struct MemSource {
    name: String,
    data: Vec<u8>,
}

impl MemSource {
    /// Wraps `data` under `name`.
    pub fn new(name: impl Into<String>, data: Vec<u8>) -> Self {
        Self { name: name.into(), data }
    }
}

impl ByteSource for MemSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_range(&self.name, self.len(), offset, len)?;
        Ok(self.data[offset as usize..offset as usize + len].to_vec())
    }
}

/// A JSON file of `folder`, parsed; `None` when the folder has no such file.
pub async fn read_json<F: ModelFolder>(folder: &F, name: &str) -> Result<Option<serde_json::Value>> {
    let Some(src) = folder.open(name).await? else { return Ok(None) };
    let bytes = src.read_to_end().await?;
    serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::format(name, format!("not valid JSON: {e}")))
}

/// A JSON value as the files compact writes hold it: pretty-printed, ending in a newline.
pub fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    let mut s = serde_json::to_vec_pretty(v).expect("a JSON value serialises");
    s.push(b'\n');
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn size_limits_fit_real_files_by_name_not_path() {
        assert_eq!(super::size_limit("/models/gemma/tokenizer.json"), 64 << 20);
        assert!(super::size_limit("config.json") < super::size_limit("tokenizer.model"));
        assert_eq!(super::size_limit("weird.json"), 4 << 20);
    }

    #[test]
    fn hub_urls() {
        assert_eq!(
            super::hub_folder_url("https://huggingface.co/", "HuggingFaceTB/SmolLM2-135M"),
            "https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main"
        );
        assert_eq!(super::hub_folder_url(" http://mirror/models/smol ", ""), "http://mirror/models/smol");
    }
}
