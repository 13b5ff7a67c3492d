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
    /// Size of the contents, in bytes (zip64 fields past 4 GiB).
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

/// Above this, a size or offset goes into a zip64 extra field (its classic field then
/// holds 0xFFFFFFFF).
const LIMIT: u64 = u32::MAX as u64;
/// Version needed to extract (2.0) and "made by" (2.0, MS-DOS attributes); 4.5 for
/// entries with zip64 fields.
const VERSION: u16 = 20;
const VERSION_ZIP64: u16 = 45;
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

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// `v` for a classic 32-bit field: itself, or 0xFFFFFFFF when it is in the zip64 extra.
fn field32(v: u64, limit: u64) -> u32 {
    if v >= limit { u32::MAX } else { v as u32 }
}

/// Fields shared by the local and central headers, from "version needed" to the
/// extra-field length.
fn common(out: &mut Vec<u8>, e: &ZipEntry, version: u16, size: u32, extra: usize) {
    put16(out, version);
    put16(out, UTF8);
    put16(out, 0); // stored
    put16(out, 0); // time
    put16(out, DOS_DATE);
    put32(out, e.crc32);
    put32(out, size);
    put32(out, size);
    put16(out, e.name.len() as u16);
    put16(out, extra as u16);
}

/// A zip64 extended-information extra field holding `values` (in the order the format
/// fixes: uncompressed size, compressed size, local header offset, for the fields
/// that hold 0xFFFFFFFF).
fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let mut x = Vec::with_capacity(4 + 8 * values.len());
    if !values.is_empty() {
        put16(&mut x, 0x0001);
        put16(&mut x, (8 * values.len()) as u16);
        values.iter().for_each(|&v| put64(&mut x, v));
    }
    x
}

/// The archive for `entries`, as header bytes interleaved with each entry's contents.
/// Files and archives past 4 GiB get zip64 fields (only where needed, so smaller
/// archives are classic zips that every reader opens).
pub fn layout(entries: &[ZipEntry]) -> Result<Vec<ZipPart>> {
    layout_with_limit(entries, LIMIT)
}

/// [`layout`] with zip64 used from `limit` on (tests force it on small archives).
fn layout_with_limit(entries: &[ZipEntry], limit: u64) -> Result<Vec<ZipPart>> {
    let mut parts = Vec::with_capacity(2 * entries.len() + 1);
    let mut central = Vec::new();
    let mut offset = 0u64;
    let mut any_zip64 = false;
    for (n, e) in entries.iter().enumerate() {
        if e.name.len() > u16::MAX as usize {
            return Err(Error::ZipNameTooLong { name: e.name.chars().take(40).collect(), bytes: e.name.len() });
        }
        let big = e.size >= limit;
        let local_extra = if big { zip64_extra(&[e.size, e.size]) } else { Vec::new() };
        let version = if big { VERSION_ZIP64 } else { VERSION };
        let mut local = Vec::with_capacity(30 + e.name.len() + local_extra.len());
        put32(&mut local, 0x0403_4b50);
        common(&mut local, e, version, field32(e.size, limit), local_extra.len());
        local.extend_from_slice(e.name.as_bytes());
        local.extend_from_slice(&local_extra);

        let far = offset >= limit;
        let mut values = Vec::new();
        if big {
            values.extend([e.size, e.size]);
        }
        if far {
            values.push(offset);
        }
        let central_extra = zip64_extra(&values);
        let version = if big || far { VERSION_ZIP64 } else { VERSION };
        any_zip64 |= big || far;
        put32(&mut central, 0x0201_4b50);
        put16(&mut central, version);
        common(&mut central, e, version, field32(e.size, limit), central_extra.len());
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number
        put16(&mut central, 0); // internal attributes
        put32(&mut central, 0); // external attributes
        put32(&mut central, field32(offset, limit));
        central.extend_from_slice(e.name.as_bytes());
        central.extend_from_slice(&central_extra);

        offset += local.len() as u64 + e.size;
        parts.push(ZipPart::Bytes(local));
        parts.push(ZipPart::Contents(n));
    }
    let (central_start, central_len, count) = (offset, central.len() as u64, entries.len() as u64);
    let mut end = central;
    if any_zip64 || central_start >= limit || count >= u16::MAX as u64 {
        // The zip64 end of central directory record, then its locator.
        put32(&mut end, 0x0606_4b50);
        put64(&mut end, 44); // size of the rest of this record
        put16(&mut end, VERSION_ZIP64);
        put16(&mut end, VERSION_ZIP64);
        put32(&mut end, 0); // this disk
        put32(&mut end, 0); // disk with the central directory
        put64(&mut end, count);
        put64(&mut end, count);
        put64(&mut end, central_len);
        put64(&mut end, central_start);
        put32(&mut end, 0x0706_4b50);
        put32(&mut end, 0); // disk with the zip64 end record
        put64(&mut end, central_start + central_len);
        put32(&mut end, 1); // disks in all
    }
    let count16 = if count >= u16::MAX as u64 { u16::MAX } else { count as u16 };
    put32(&mut end, 0x0605_4b50);
    put16(&mut end, 0); // this disk
    put16(&mut end, 0); // disk with the central directory
    put16(&mut end, count16);
    put16(&mut end, count16);
    put32(&mut end, field32(central_len, limit));
    put32(&mut end, field32(central_start, limit));
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

    fn python_lists(path: &std::path::Path, check_crc: bool) -> String {
        let script = format!(
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n{}for i in z.infolist(): print(i.filename, i.file_size, i.header_offset)",
            if check_crc { "assert z.testzip() is None\n" } else { "" }
        );
        let out = std::process::Command::new("python3").arg("-c").arg(script).arg(path).output().expect("python3 runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every field in zip64 form (forced on a small archive): Python reads it all back.
    #[test]
    fn zip64_fields_read_back() {
        let files: [(&str, &[u8]); 2] = [("config.json", b"{\"a\": 1}\n"), ("model.safetensors", &[7u8; 1000])];
        let entries: Vec<ZipEntry> =
            files.iter().map(|(n, b)| ZipEntry { name: n.to_string(), size: b.len() as u64, crc32: crc32fast::hash(b) }).collect();
        let mut bytes = Vec::new();
        for p in layout_with_limit(&entries, 0).unwrap() {
            match p {
                ZipPart::Bytes(b) => bytes.extend_from_slice(&b),
                ZipPart::Contents(n) => bytes.extend_from_slice(files[n].1),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.zip"), &bytes).unwrap();
        let listed = python_lists(&dir.path().join("t.zip"), true);
        assert!(listed.starts_with("config.json 9 0\nmodel.safetensors 1000 "), "{listed}");
    }

    /// A 5 GiB file then a small one, as a sparse file: the sizes and the second
    /// file's offset (past 4 GiB) are read back through the zip64 fields.
    #[test]
    fn files_and_archives_past_4_gib_use_zip64() {
        use std::io::{Seek, SeekFrom, Write};
        let big = 5u64 << 30;
        let entries = [
            ZipEntry { name: "model.safetensors".into(), size: big, crc32: 0 },
            ZipEntry { name: "config.json".into(), size: 2, crc32: crc32fast::hash(b"{}") },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.zip");
        let mut f = std::fs::File::create(&path).unwrap();
        for p in layout(&entries).unwrap() {
            match p {
                ZipPart::Bytes(b) => f.write_all(&b).unwrap(),
                ZipPart::Contents(0) => {
                    f.seek(SeekFrom::Current(big as i64)).unwrap();
                }
                ZipPart::Contents(_) => f.write_all(b"{}").unwrap(),
            }
        }
        drop(f);
        let second = 30 + 17 + 20 + big;
        assert_eq!(python_lists(&path, false), format!("model.safetensors {big} 0\nconfig.json 2 {second}\n"));
    }

    #[test]
    fn names_too_long_for_the_format_are_refused() {
        let e = layout(&[ZipEntry { name: "x".repeat(70_000), size: 1, crc32: 0 }]).unwrap_err();
        assert!(matches!(&e, Error::ZipNameTooLong { bytes: 70_000, .. }), "{e}");
        assert!(e.hint().is_some_and(|h| h.contains("save into a folder")), "{:?}", e.hint());
    }
}
