//! Bytes set aside until an export needs them, outside the program's memory where the
//! platform allows: the repaired down_proj of every layer is computed a layer at a time
//! during calibration but written only by the export, and holding them all would hold
//! a third of the pruned FFN (2.4 GB for an 8B model).

use crate::error::Result;

/// Bytes set aside: a temporary file natively (removed when dropped, and by
/// [`super::remove_staging`] when the CLI is interrupted), a Blob the browser holds
/// outside the page's wasm memory.
pub struct Spilled {
    name: String,
    len: u64,
    #[cfg(not(target_arch = "wasm32"))]
    path: std::path::PathBuf,
    #[cfg(target_arch = "wasm32")]
    blob: web_sys::Blob,
}

impl Spilled {
    /// Sets `bytes` aside under `name` (for messages).
    pub async fn new(name: &str, bytes: Vec<u8>) -> Result<Self> {
        let len = bytes.len() as u64;
        #[cfg(not(target_arch = "wasm32"))]
        {
            let path = super::native::spill_file(name, &bytes)?;
            Ok(Self { name: name.to_string(), len, path })
        }
        #[cfg(target_arch = "wasm32")]
        {
            let blob = super::web::blob_of(name, &bytes)?;
            Ok(Self { name: name.to_string(), len, blob })
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes back.
    pub async fn read(&self) -> Result<Vec<u8>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            std::fs::read(&self.path).map_err(|e| crate::Error::io(&self.name, e))
        }
        #[cfg(target_arch = "wasm32")]
        {
            use super::ByteSource;
            super::web::BlobSource::new(self.name.clone(), self.blob.clone()).read_at(0, self.len as usize).await
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Spilled {
    fn drop(&mut self) {
        super::native::unspill(&self.path);
    }
}

impl std::fmt::Debug for Spilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spilled({:?}, {} bytes)", self.name, self.len)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::Spilled;

    #[test]
    fn spilled_bytes_come_back_and_the_file_goes_when_dropped() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let s = pollster::block_on(Spilled::new("layer 3 down_proj", bytes.clone())).unwrap();
        assert_eq!(s.len(), 100_000);
        assert!(s.path.is_file());
        assert_eq!(pollster::block_on(s.read()).unwrap(), bytes);
        let path = s.path.clone();
        drop(s);
        assert!(!path.exists(), "{} left behind", path.display());
    }
}
