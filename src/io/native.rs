//! Native files: positioned reads on `std::fs::File`, a directory as a model folder.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{ByteSink, ByteSource, ModelFolder, OutputFolder, check_range};
use crate::error::{Error, Result};

/// A file on disk read with positioned reads (no seeking state, no mmap).
#[derive(Debug)]
pub struct FileSource {
    name: String,
    file: File,
    len: u64,
}

impl FileSource {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::io(&name, e))?;
        let len = file.metadata().map_err(|e| Error::io(&name, e))?.len();
        Ok(Self { name, file, len })
    }
}

impl ByteSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> u64 {
        self.len
    }
    async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        check_range(&self.name, self.len, offset, len)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| Error::io(&self.name, e))?;
        Ok(buf)
    }
}

/// A model folder on disk.
#[derive(Debug, Clone)]
pub struct DirFolder {
    dir: PathBuf,
}

impl DirFolder {
    /// A folder at `dir`; fails when it is not a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(Error::io(dir.display().to_string(), "not a directory (pass the model's folder)"));
        }
        Ok(Self { dir })
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl ModelFolder for DirFolder {
    type Source = FileSource;
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
    async fn open(&self, name: &str) -> Result<Option<FileSource>> {
        let path = self.dir.join(name);
        if path.is_file() { FileSource::open(&path).map(Some) } else { Ok(None) }
    }

    async fn list(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(self.describe(), e))?;
        let mut names: Vec<String> = entries
            .flatten()
            // Followed links count (a Hugging Face cache snapshot is all symlinks into
            // its blobs); the copies are real files.
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// A file written through a buffer.
pub struct FileSink {
    name: String,
    out: BufWriter<File>,
}

impl ByteSink for FileSink {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| Error::io(&self.name, e))
    }
    async fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.name, e))?;
        self.out.get_ref().sync_all().map_err(|e| Error::io(&self.name, e))
    }
}

/// The file a committed output folder holds so that a later `--force` knows compact
/// wrote it (and never replaces a folder of the user's).
pub const OUTPUT_MARKER: &str = ".compact-output";

/// The file in a staging folder that says compact made it, so a later run may remove
/// it when an interrupted run left it behind.
const STAGING_MARKER: &str = ".compact-staging";

/// The staging folders of the outputs being written now (see [`remove_staging`]).
static STAGING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn staging_list() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    STAGING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every output folder still being staged and says how many there were: the
/// CLI calls it when SIGINT or SIGTERM interrupts a run, so nothing half-written stays.
pub fn remove_staging() -> usize {
    let dirs: Vec<PathBuf> = staging_list().drain(..).collect();
    for path in &dirs {
        let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    }
    dirs.len()
}

/// Writes `bytes` into a new temporary file for [`super::Spilled`]; it is on the
/// staging list, so an interrupted run removes it too.
pub(super) fn spill_file(name: &str, bytes: &[u8]) -> Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("compact-spill-{}-{n}", std::process::id()));
    staging_list().push(path.clone());
    if let Err(e) = std::fs::write(&path, bytes) {
        unspill(&path);
        return Err(Error::io(format!("{name} (set aside in {})", path.display()), e));
    }
    Ok(path)
}

/// Removes a file [`spill_file`] wrote.
pub(super) fn unspill(path: &Path) {
    let _ = std::fs::remove_file(path);
    staging_list().retain(|p| p != path);
}

/// An output directory staged in a hidden sibling (`.NAME.partial`) and renamed into
/// place on commit, so a failed or interrupted export leaves no half-written folder
/// (a stale one from an earlier interrupted run is removed by the next).
pub struct DirOutput {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl DirOutput {
    /// Prepares to write `target`, which must not be, be inside or contain any of
    /// `inputs` (the folders read from). An existing non-empty `target` is an error
    /// unless `replace` is set and an earlier compact run wrote it (it holds
    /// [`OUTPUT_MARKER`]); then it is replaced on commit. Every check runs before
    /// anything is written.
    pub fn new(target: impl Into<PathBuf>, replace: bool, inputs: &[&Path]) -> Result<Self> {
        let target: PathBuf = target.into();
        let shown = target.display().to_string();
        refuse_overlap(&target, inputs, |out, input| out.starts_with(input) || input.starts_with(out))?;
        if target.exists() {
            let empty = std::fs::read_dir(&target).map_err(|e| Error::io(&shown, e))?.next().is_none();
            if !empty && !replace {
                return Err(Error::OutputExists { dir: shown });
            }
            if !empty && !target.join(OUTPUT_MARKER).is_file() {
                return Err(Error::OutputNotOurs { dir: shown });
            }
        }
        let name = target.file_name().ok_or_else(|| Error::io(&shown, "not a folder name"))?.to_string_lossy().into_owned();
        let staging = target.with_file_name(format!(".{name}.partial"));
        let staging_shown = staging.display().to_string();
        if staging.exists() {
            // Left by an interrupted run: removed only when that run was compact's.
            if !staging.join(STAGING_MARKER).is_file() {
                return Err(Error::OutputNotOurs { dir: staging_shown });
            }
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging_shown, e))?;
        }
        std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging_shown, e))?;
        if let Err(e) = std::fs::write(staging.join(STAGING_MARKER), "") {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(Error::io(&staging_shown, e));
        }
        staging_list().push(staging.clone());
        Ok(Self { target, staging, committed: false })
    }
}

impl DirOutput {
    /// Where `name` is written until the commit, for native writers that write their
    /// files themselves (the GGUF importer).
    pub fn staged(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }
}

impl OutputFolder for DirOutput {
    type Sink = FileSink;
    async fn free_bytes(&self) -> Option<u64> {
        fs4::available_space(&self.staging).ok()
    }
    async fn create(&mut self, name: &str) -> Result<FileSink> {
        let path = self.staging.join(name);
        let file = File::create(&path).map_err(|e| Error::io(path.display().to_string(), e))?;
        Ok(FileSink { name: name.to_string(), out: BufWriter::with_capacity(1 << 20, file) })
    }
    async fn commit(mut self) -> Result<()> {
        let shown = self.target.display().to_string();
        let _ = std::fs::remove_file(self.staging.join(STAGING_MARKER));
        let marker = self.staging.join(OUTPUT_MARKER);
        std::fs::write(&marker, "written by compact; `compact prune --force` may replace this folder\n")
            .map_err(|e| Error::io(marker.display().to_string(), e))?;
        if self.target.exists() {
            let old = self.target.with_file_name(format!(".{}.old", self.target.file_name().unwrap_or_default().to_string_lossy()));
            std::fs::rename(&self.target, &old).map_err(|e| Error::io(&shown, e))?;
            std::fs::rename(&self.staging, &self.target).map_err(|e| Error::io(&shown, e))?;
            std::fs::remove_dir_all(&old).map_err(|e| Error::io(old.display().to_string(), e))?;
        } else {
            std::fs::rename(&self.staging, &self.target).map_err(|e| Error::io(&shown, e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for DirOutput {
    fn drop(&mut self) {
        staging_list().retain(|d| d != &self.staging);
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// One output file staged as a hidden sibling (`.NAME.partial`) and renamed into place
/// on commit: a failed or interrupted write leaves nothing under the target's name.
pub struct FileOutput {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl FileOutput {
    /// Prepares to write `target`, which must not be a file of any of `inputs` (the
    /// folders read from) and must not exist unless `replace` is set.
    pub fn new(target: impl Into<PathBuf>, replace: bool, inputs: &[&Path]) -> Result<Self> {
        let target: PathBuf = target.into();
        let shown = target.display().to_string();
        refuse_overlap(&target, inputs, |out, input| out == input || (out.starts_with(input) && out.exists()))?;
        if target.is_dir() || (target.exists() && !replace) {
            return Err(Error::OutputExists { dir: shown });
        }
        let name = target.file_name().ok_or_else(|| Error::io(&shown, "not a file name"))?.to_string_lossy().into_owned();
        let staging = target.with_file_name(format!(".{name}.partial"));
        staging_list().push(staging.clone());
        Ok(Self { target, staging, committed: false })
    }

    /// The sink that writes the staged file.
    pub fn sink(&self) -> Result<FileSink> {
        let file = File::create(&self.staging).map_err(|e| Error::io(self.staging.display().to_string(), e))?;
        Ok(FileSink { name: self.target.display().to_string(), out: BufWriter::with_capacity(1 << 20, file) })
    }

    /// Renames the finished file into place.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.staging, &self.target).map_err(|e| Error::io(self.target.display().to_string(), e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for FileOutput {
    fn drop(&mut self) {
        staging_list().retain(|d| d != &self.staging);
        if !self.committed {
            let _ = std::fs::remove_file(&self.staging);
        }
    }
}

/// Fails with [`Error::OutputOverlapsInput`] when `overlaps(target, input)` holds for
/// any of `inputs`, both resolved (absolute, links followed).
fn refuse_overlap(target: &Path, inputs: &[&Path], overlaps: impl Fn(&Path, &Path) -> bool) -> Result<()> {
    let resolved = resolve(target);
    for input in inputs {
        let input = resolve(input);
        if overlaps(&resolved, &input) {
            return Err(Error::OutputOverlapsInput { out: target.display().to_string(), input: input.display().to_string() });
        }
    }
    Ok(())
}

/// `path` made absolute with its links resolved; for a path that does not exist yet,
/// its nearest existing ancestor is resolved and the rest appended.
fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
    let mut rest = Vec::new();
    let mut base = absolute.as_path();
    loop {
        if let Ok(real) = base.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return absolute,
        }
    }
}
