//! The GGUF container written front to back: the header (metadata and tensor infos,
//! every offset known in advance from the types and shapes), then each tensor's data
//! in header order, padded to the alignment. Nothing but the header is held in memory;
//! the caller streams the tensors (see [`super::export`]).
//!
//! The layout is the one [`super::reader`] parses (GGUF version 3, little-endian,
//! alignment 32).

use super::quant::GgmlType;
use super::reader::{DEFAULT_ALIGNMENT, Value};
use crate::error::{Error, Result};

/// One tensor's entry: name, dimensions innermost first (`dims[0]` is the row length,
/// as GGUF stores them) and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// llama.cpp's tensor name (`blk.0.attn_q.weight`, …).
    pub name: String,
    /// Dimensions, innermost first.
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
}

impl TensorEntry {
    /// Bytes of data, or why the type cannot hold these dimensions.
    pub fn byte_len(&self) -> Result<u64> {
        let (block, size) = self.ty.block().ok_or_else(|| Error::Internal(format!("{} has no block layout", self.ty)))?;
        let row = self.dims.first().copied().unwrap_or(1);
        if !row.is_multiple_of(block) {
            return Err(Error::Internal(format!("{}: rows of {row} are not whole {} blocks of {block}", self.name, self.ty)));
        }
        Ok(self.dims.iter().product::<u64>() / block * size)
    }
}

/// A GGUF file's header, ready to write, and where each tensor's data goes.
#[derive(Debug, Clone)]
pub struct GgufLayout {
    /// Everything before the first tensor's data, padded to the alignment.
    pub header: Vec<u8>,
    /// Each tensor's data length, in header order (each padded to the alignment after).
    pub lengths: Vec<u64>,
}

impl GgufLayout {
    /// Lays out `metadata` and `tensors` (written in this order).
    pub fn new(metadata: &[(String, Value)], tensors: &[TensorEntry]) -> Result<Self> {
        let mut h = b"GGUF".to_vec();
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        for (key, value) in metadata {
            string(&mut h, key);
            h.extend_from_slice(&type_id(value).to_le_bytes());
            write_value(&mut h, value)?;
        }
        let mut offset = 0u64;
        let mut lengths = Vec::with_capacity(tensors.len());
        for t in tensors {
            string(&mut h, &t.name);
            h.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            t.dims.iter().for_each(|d| h.extend_from_slice(&d.to_le_bytes()));
            h.extend_from_slice(&t.ty.id().to_le_bytes());
            h.extend_from_slice(&offset.to_le_bytes());
            let len = t.byte_len()?;
            lengths.push(len);
            offset = (offset + len).next_multiple_of(DEFAULT_ALIGNMENT);
        }
        h.resize(h.len().next_multiple_of(DEFAULT_ALIGNMENT as usize), 0);
        Ok(Self { header: h, lengths })
    }

    /// The whole file's size.
    pub fn file_len(&self) -> u64 {
        let data: u64 = self.lengths.iter().map(|l| l.next_multiple_of(DEFAULT_ALIGNMENT)).sum();
        self.header.len() as u64 + data - self.lengths.last().map_or(0, |l| l.next_multiple_of(DEFAULT_ALIGNMENT) - l)
    }
}

/// Zero bytes that follow a tensor of `len` bytes (none after the last).
pub fn padding(len: u64) -> usize {
    (len.next_multiple_of(DEFAULT_ALIGNMENT) - len) as usize
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn write_value(out: &mut Vec<u8>, v: &Value) -> Result<()> {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => string(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(items) => {
            let elem = items.first().map_or(8, type_id);
            if items.iter().any(|i| type_id(i) != elem || matches!(i, Value::Array(_))) {
                return Err(Error::Internal("a GGUF array must hold values of one scalar type".into()));
            }
            out.extend_from_slice(&elem.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                write_value(out, i)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::reader::Header;
    use super::*;

    #[test]
    fn the_reader_parses_what_the_writer_lays_out() {
        let metadata = vec![
            ("general.architecture".to_string(), Value::String("llama".into())),
            ("llama.block_count".to_string(), Value::U32(2)),
            ("llama.rope.freq_base".to_string(), Value::F32(1e4)),
            ("tokenizer.ggml.add_bos_token".to_string(), Value::Bool(true)),
            ("tokenizer.ggml.tokens".to_string(), Value::Array(vec![Value::String("a".into()), Value::String("b".into())])),
            ("tokenizer.ggml.token_type".to_string(), Value::Array(vec![Value::I32(1), Value::I32(3)])),
        ];
        let tensors = vec![
            TensorEntry { name: "a".into(), dims: vec![64, 3], ty: GgmlType::Q8_0 },
            TensorEntry { name: "b".into(), dims: vec![5], ty: GgmlType::F32 },
            TensorEntry { name: "c".into(), dims: vec![3, 2], ty: GgmlType::F16 },
        ];
        let layout = GgufLayout::new(&metadata, &tensors).unwrap();
        assert_eq!(layout.lengths, [3 * 2 * 34, 20, 12]);
        let mut file = layout.header.clone();
        for (i, len) in layout.lengths.iter().enumerate() {
            file.extend(std::iter::repeat_n(i as u8 + 1, *len as usize));
            if i + 1 < layout.lengths.len() {
                file.extend(std::iter::repeat_n(0, padding(*len)));
            }
        }
        assert_eq!(file.len() as u64, layout.file_len());
        let h = Header::parse(&file).unwrap();
        assert_eq!(h.metadata, metadata);
        assert_eq!(h.data_start, layout.header.len() as u64);
        for (i, t) in tensors.iter().enumerate() {
            let got = h.tensor(&t.name).unwrap();
            assert_eq!((&got.dims, got.ggml_type), (&t.dims, t.ty));
            let r = h.data_range(got).unwrap();
            assert!(file[r.start as usize..r.end as usize].iter().all(|&b| b == i as u8 + 1), "{} lands where the header says", t.name);
        }
        assert!(GgufLayout::new(&[], &[TensorEntry { name: "x".into(), dims: vec![33], ty: GgmlType::Q8_0 }]).is_err());
    }
}
