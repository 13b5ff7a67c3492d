//! Native files: positioned reads on `std::fs::File`, a directory as a model folder.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{ByteSource, ModelFolder, check_range};
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
}
