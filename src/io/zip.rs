//! A store-only (uncompressed) zip archive laid out around file contents held
//! elsewhere: the browser downloads a pruned folder as one `.zip` built from Blobs,
//! so the archive's bytes never pass through wasm memory; only its headers are made
//! here. Weights barely compress, so storing costs nothing in size.
//!
//! Times are fixed (1980-01-01 00:00) so the same folder gives the same bytes.

use crate::error::{Error, Result};

/// A file to put in the archive: its name, size and CRC-32 (computed while it was
/// written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// The file's path inside the archive.
    pub name: String,
    /// Size of the contents, in bytes (at most 4 GiB: no zip64).
    pub size: u64,
    /// CRC-32 of the contents.
    pub crc32: u32,
}

/// One piece of the archive, in order: header bytes made here, or the contents of
/// entry `n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipPart {
    /// Header bytes made here (local headers, central directory, end record).
    Bytes(Vec<u8>),
    /// The contents of entry `n` (an index into the entries), stored as is.
    Contents(usize),
}

/// The classic zip format's limits (no zip64): 4 GiB per file and archive.
const LIMIT: u64 = u32::MAX as u64;
/// Version needed to extract (2.0) and "made by" (2.0, MS-DOS attributes).
const VERSION: u16 = 20;
/// General-purpose flag: names are UTF-8.
const UTF8: u16 = 1 << 11;
/// 1980-01-01 in DOS date format; 00:00 in DOS time.
const DOS_DATE: u16 = (1 << 5) | 1;

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Fields shared by the local and central headers, from "version needed" to the
/// extra-field length.
fn common(out: &mut Vec<u8>, e: &ZipEntry) {
    put16(out, VERSION);
    put16(out, UTF8);
    put16(out, 0); // stored
    put16(out, 0); // time
    put16(out, DOS_DATE);
    put32(out, e.crc32);
    put32(out, e.size as u32);
    put32(out, e.size as u32);
    put16(out, e.name.len() as u16);
    put16(out, 0); // extra field length
}

/// The archive for `entries`, as header bytes interleaved with each entry's contents.
pub fn layout(entries: &[ZipEntry]) -> Result<Vec<ZipPart>> {
    let mut parts = Vec::with_capacity(2 * entries.len() + 1);
    let mut central = Vec::new();
    let mut offset = 0u64;
    for (n, e) in entries.iter().enumerate() {
        if e.size > LIMIT || e.name.len() > u16::MAX as usize {
            return Err(Error::ZipTooLarge { file: e.name.clone(), bytes: e.size });
        }
        let mut local = Vec::with_capacity(30 + e.name.len());
        put32(&mut local, 0x0403_4b50);
        common(&mut local, e);
        local.extend_from_slice(e.name.as_bytes());

        put32(&mut central, 0x0201_4b50);
        put16(&mut central, VERSION);
        common(&mut central, e);
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number
        put16(&mut central, 0); // internal attributes
        put32(&mut central, 0); // external attributes
        put32(&mut central, offset as u32);
        central.extend_from_slice(e.name.as_bytes());

        offset += local.len() as u64 + e.size;
        if offset > LIMIT {
            return Err(Error::ZipTooLarge { file: "the folder".into(), bytes: offset });
        }
        parts.push(ZipPart::Bytes(local));
        parts.push(ZipPart::Contents(n));
    }
    let mut end = central;
    let central_len = end.len() as u32;
    put32(&mut end, 0x0605_4b50);
    put16(&mut end, 0); // this disk
    put16(&mut end, 0); // disk with the central directory
    put16(&mut end, entries.len() as u16);
    put16(&mut end, entries.len() as u16);
    put32(&mut end, central_len);
    put32(&mut end, offset as u32);
    put16(&mut end, 0); // comment length
    parts.push(ZipPart::Bytes(end));
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let entries: Vec<ZipEntry> =
            files.iter().map(|(n, b)| ZipEntry { name: n.to_string(), size: b.len() as u64, crc32: crc32fast::hash(b) }).collect();
        let mut out = Vec::new();
        for p in layout(&entries).unwrap() {
            match p {
                ZipPart::Bytes(b) => out.extend_from_slice(&b),
                ZipPart::Contents(n) => out.extend_from_slice(files[n].1),
            }
        }
        out
    }

    /// Python's zipfile (an independent reader) lists the files and checks every CRC.
    #[test]
    fn python_reads_the_archive_back() {
        let files: [(&str, &[u8]); 3] = [("config.json", b"{\"a\": 1}\n"), ("model.safetensors", &[7u8; 1000]), ("empty.txt", b"")];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.zip");
        std::fs::write(&path, archive(&files)).unwrap();
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\nfor i in z.infolist(): print(i.filename, i.file_size, len(z.read(i)))";
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "config.json 9 9\nmodel.safetensors 1000 1000\nempty.txt 0 0\n");
        assert_eq!(archive(&files), archive(&files), "deterministic");
    }

    #[test]
    fn files_over_4_gib_are_refused() {
        let e = layout(&[ZipEntry { name: "big".into(), size: 5 << 30, crc32: 0 }]).unwrap_err();
        assert!(matches!(&e, Error::ZipTooLarge { bytes, .. } if *bytes == 5 << 30), "{e}");
        assert!(e.hint().is_some_and(|h| h.contains("save into a folder")), "{:?}", e.hint());
    }
}
