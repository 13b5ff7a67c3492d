//! The GGUF container (versions 2 and 3, little-endian): header, metadata key/values
//! and tensor infos, parsed from a byte slice.
//!
//! Layout: magic `GGUF`, `u32` version, `u64` tensor count, `u64` key/value count, the
//! key/values (`string` key, `u32` type, value), the tensor infos (`string` name, `u32`
//! n_dims, `u64` dims innermost first, `u32` ggml type, `u64` offset), padding to
//! `general.alignment` (default 32), then the tensor data. Strings are a `u64` length
//! and UTF-8 bytes.
//!
//! Parsing works on whatever prefix of the file the caller has: when the prefix ends
//! before the header does, [`Header::parse`] says how many bytes it needs, so a caller
//! can read more (a file, a browser Blob) without ever loading the tensor data.

use std::collections::BTreeMap;
use std::ops::Range;

use super::quant::GgmlType;

/// The default alignment of the tensor data section.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Largest header (metadata and tensor infos) read: real ones are up to ~25 MB (a
/// 256k-token vocabulary with its merges).
pub const MAX_HEADER_BYTES: u64 = 256 << 20;

/// Most elements in one metadata array (a vocabulary or merge list: real ones have up
/// to ~500k); each parsed element takes 32 bytes or more.
pub const MAX_ARRAY_LEN: u64 = 4 << 20;

/// Why a header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The prefix ends inside the header; at least this many bytes from the start of the
    /// file are needed to get further.
    NeedMore(u64),
    /// The bytes are not a valid GGUF header.
    Invalid(String),
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// GGUF type 0: unsigned 8-bit integer.
    U8(u8),
    /// Type 1: signed 8-bit integer.
    I8(i8),
    /// Type 2: unsigned 16-bit integer.
    U16(u16),
    /// Type 3: signed 16-bit integer.
    I16(i16),
    /// Type 4: unsigned 32-bit integer.
    U32(u32),
    /// Type 5: signed 32-bit integer.
    I32(i32),
    /// Type 6: 32-bit float.
    F32(f32),
    /// Type 7: bool (one byte, 0 or 1).
    Bool(bool),
    /// Type 8: UTF-8 string.
    String(String),
    /// Type 10: unsigned 64-bit integer.
    U64(u64),
    /// Type 11: signed 64-bit integer.
    I64(i64),
    /// Type 12: 64-bit float.
    F64(f64),
    /// Type 9: an array of values of one element type.
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a signed integer, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// The value as a float, if it is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of an array value.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
            Value::Array(_) => "array",
        }
    }
}

/// One tensor's entry in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufTensor {
    /// The llama.cpp tensor name (`blk.0.attn_q.weight`, …).
    pub name: String,
    /// Dimensions innermost first (`dims[0]` is the row length), as GGUF stores them.
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl GgufTensor {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The shape in Hugging Face (row-major, outermost first) order.
    pub fn hf_shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }

    /// Bytes of data, when the type's block layout is known and the row length is a
    /// whole number of blocks.
    pub fn byte_len(&self) -> Option<u64> {
        let (block, size) = self.ggml_type.block()?;
        let row = *self.dims.first().unwrap_or(&1);
        if !row.is_multiple_of(block) {
            return None;
        }
        (self.numel() / block).checked_mul(size)
    }
}

/// Everything before the tensor data.
#[derive(Debug, Clone)]
pub struct Header {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor infos in file order.
    pub tensors: Vec<GgufTensor>,
    /// Alignment of the data section and of each tensor's offset.
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_start: u64,
    index: BTreeMap<String, usize>,
}

impl Header {
    /// Parses the header from `bytes`, a prefix of the file (or all of it).
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut c = Cursor { bytes, pos: 0 };
        let magic = c.take(4)?;
        if magic != b"GGUF" {
            return Err(ParseError::Invalid(format!("not a GGUF file (the first bytes are {:02x?}, not \"GGUF\")", magic)));
        }
        let version = c.u32()?;
        match version {
            2 | 3 => {}
            1 => {
                return Err(ParseError::Invalid("GGUF version 1 is not supported (re-convert with a current llama.cpp)".into()));
            }
            v if v.swap_bytes() <= 3 => {
                return Err(ParseError::Invalid("big-endian GGUF files are not supported".into()));
            }
            v => return Err(ParseError::Invalid(format!("unknown GGUF version {v}"))),
        }
        let n_tensors = c.u64()?;
        let n_kv = c.u64()?;
        // Every key/value needs at least 8 + 4 + 1 bytes and every tensor info 8 + 4 + 4 + 8:
        // refuse counts no file could hold before allocating anything for them.
        c.check_count(n_kv, 13)?;
        let mut metadata = Vec::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let ty = c.u32()?;
            let value = c.value(ty, &key, 0)?;
            metadata.push((key, value));
        }
        c.check_count(n_tensors, 24)?;
        let mut tensors = Vec::new();
        for _ in 0..n_tensors {
            let name = c.string()?;
            let n_dims = c.u32()?;
            if n_dims == 0 || n_dims > 4 {
                return Err(ParseError::Invalid(format!("tensor {name:?} has {n_dims} dimensions (GGUF allows 1 to 4)")));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64()?);
            }
            if dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).is_none() {
                return Err(ParseError::Invalid(format!("tensor {name:?} has dimensions {dims:?} whose product overflows")));
            }
            let ggml_type = GgmlType::from_id(c.u32()?);
            let offset = c.u64()?;
            tensors.push(GgufTensor { name, dims, ggml_type, offset });
        }

        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => return Err(ParseError::Invalid(format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        let data_start = (c.pos as u64).next_multiple_of(alignment);
        let mut index = BTreeMap::new();
        for (i, t) in tensors.iter().enumerate() {
            if index.insert(t.name.clone(), i).is_some() {
                return Err(ParseError::Invalid(format!("tensor {:?} appears twice", t.name)));
            }
            if t.offset % alignment != 0 {
                return Err(ParseError::Invalid(format!(
                    "tensor {:?} starts at offset {}, not a multiple of the alignment {alignment}",
                    t.name, t.offset
                )));
            }
        }
        Ok(Self { version, metadata, tensors, alignment, data_start, index })
    }

    /// The metadata value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&GgufTensor> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// Absolute byte range of a tensor's data, or a message saying why it has none.
    pub fn data_range(&self, t: &GgufTensor) -> Result<Range<u64>, String> {
        let len = t.byte_len().ok_or_else(|| match t.ggml_type.block() {
            None => format!("tensor {:?} has {}, which has no known block layout", t.name, t.ggml_type),
            Some((block, _)) => {
                format!("tensor {:?}: row length {} is not a multiple of the {} block size {block}", t.name, t.dims[0], t.ggml_type)
            }
        })?;
        let start = self.data_start.checked_add(t.offset).ok_or_else(|| format!("tensor {:?}: offset {} overflows", t.name, t.offset))?;
        let end = start.checked_add(len).ok_or_else(|| format!("tensor {:?}: size overflows", t.name))?;
        Ok(start..end)
    }
}

/// A read position in the prefix; every read past its end is a `NeedMore`.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Asks for the header to reach `end` bytes, unless that is more than any real header.
fn need_more(end: u64) -> ParseError {
    if end > MAX_HEADER_BYTES {
        ParseError::Invalid(format!(
            "the header would be at least {end} bytes, over the {MAX_HEADER_BYTES}-byte limit (corrupt, or not a model file)"
        ))
    } else {
        ParseError::NeedMore(end)
    }
}

/// Nesting limit for arrays of arrays.
const MAX_DEPTH: u32 = 4;

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], ParseError> {
        let end = (self.pos as u64).checked_add(n).ok_or_else(|| ParseError::Invalid("a length overflows".into()))?;
        if end > self.bytes.len() as u64 {
            return Err(need_more(end));
        }
        let s = &self.bytes[self.pos..end as usize];
        self.pos = end as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        Ok(self.take(N as u64)?.try_into().expect("took N bytes"))
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, ParseError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Says how far the header must reach if `count` items of at least `min_size` bytes follow.
    fn check_count(&self, count: u64, min_size: u64) -> Result<(), ParseError> {
        let need = count
            .checked_mul(min_size)
            .and_then(|n| n.checked_add(self.pos as u64))
            .ok_or_else(|| ParseError::Invalid(format!("item count {count} is impossibly large")))?;
        if need > self.bytes.len() as u64 {
            return Err(need_more(need));
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let len = self.u64()?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec())
            .map_err(|e| ParseError::Invalid(format!("a string at byte {} is not UTF-8: {e}", self.pos as u64 - len)))
    }

    fn value(&mut self, ty: u32, key: &str, depth: u32) -> Result<Value, ParseError> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(self.array::<1>()?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => match self.array::<1>()?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(ParseError::Invalid(format!("metadata {key:?}: bool byte {b} is neither 0 nor 1"))),
            },
            8 => Value::String(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(ParseError::Invalid(format!("metadata {key:?}: arrays nested too deeply")));
                }
                let elem = self.u32()?;
                let n = self.u64()?;
                let min = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8..=12 => 8,
                    _ => {
                        return Err(ParseError::Invalid(format!("metadata {key:?}: unknown array element type {elem}")));
                    }
                };
                if n > MAX_ARRAY_LEN {
                    return Err(ParseError::Invalid(format!(
                        "metadata {key:?}: an array of {n} elements, over the limit of {MAX_ARRAY_LEN}"
                    )));
                }
                self.check_count(n, min)?;
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            t => return Err(ParseError::Invalid(format!("metadata {key:?}: unknown value type {t}"))),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds small GGUF files for tests.
    #[derive(Default)]
    pub(crate) struct Builder {
        kv: Vec<u8>,
        n_kv: u64,
        infos: Vec<u8>,
        n_tensors: u64,
        data: Vec<u8>,
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    impl Builder {
        pub(crate) fn kv_u32(mut self, key: &str, v: u32) -> Self {
            string(&mut self.kv, key);
            self.kv.extend_from_slice(&4u32.to_le_bytes());
            self.kv.extend_from_slice(&v.to_le_bytes());
            self.n_kv += 1;
            self
        }

        pub(crate) fn kv_f32(mut self, key: &str, v: f32) -> Self {
            string(&mut self.kv, key);
            self.kv.extend_from_slice(&6u32.to_le_bytes());
            self.kv.extend_from_slice(&v.to_le_bytes());
            self.n_kv += 1;
            self
        }

        pub(crate) fn kv_str(mut self, key: &str, v: &str) -> Self {
            string(&mut self.kv, key);
            self.kv.extend_from_slice(&8u32.to_le_bytes());
            string(&mut self.kv, v);
            self.n_kv += 1;
            self
        }

        pub(crate) fn kv_strs(mut self, key: &str, v: &[&str]) -> Self {
            string(&mut self.kv, key);
            self.kv.extend_from_slice(&9u32.to_le_bytes());
            self.kv.extend_from_slice(&8u32.to_le_bytes());
            self.kv.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for s in v {
                string(&mut self.kv, s);
            }
            self.n_kv += 1;
            self
        }

        pub(crate) fn kv_i32s(mut self, key: &str, v: &[i32]) -> Self {
            string(&mut self.kv, key);
            self.kv.extend_from_slice(&9u32.to_le_bytes());
            self.kv.extend_from_slice(&5u32.to_le_bytes());
            self.kv.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for x in v {
                self.kv.extend_from_slice(&x.to_le_bytes());
            }
            self.n_kv += 1;
            self
        }

        /// Adds a tensor with raw `data` of ggml type id `ty` and dims innermost first.
        pub(crate) fn tensor(mut self, name: &str, dims: &[u64], ty: u32, data: &[u8]) -> Self {
            string(&mut self.infos, name);
            self.infos.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                self.infos.extend_from_slice(&d.to_le_bytes());
            }
            self.infos.extend_from_slice(&ty.to_le_bytes());
            self.data.resize(self.data.len().next_multiple_of(32), 0);
            self.infos.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
            self.data.extend_from_slice(data);
            self.n_tensors += 1;
            self
        }

        pub(crate) fn build(self) -> Vec<u8> {
            let mut out = b"GGUF".to_vec();
            out.extend_from_slice(&3u32.to_le_bytes());
            out.extend_from_slice(&self.n_tensors.to_le_bytes());
            out.extend_from_slice(&self.n_kv.to_le_bytes());
            out.extend_from_slice(&self.kv);
            out.extend_from_slice(&self.infos);
            out.resize(out.len().next_multiple_of(32), 0);
            out.extend_from_slice(&self.data);
            out
        }
    }

    fn sample() -> Vec<u8> {
        Builder::default()
            .kv_str("general.architecture", "llama")
            .kv_u32("llama.block_count", 2)
            .kv_f32("llama.rope.freq_base", 10000.0)
            .kv_strs("tokenizer.ggml.tokens", &["a", "b"])
            .kv_i32s("tokenizer.ggml.token_type", &[1, 3])
            .tensor("w", &[4, 2], 0, &[0u8; 32])
            .tensor("v", &[3], 0, &[0u8; 12])
            .build()
    }

    #[test]
    fn parses_metadata_and_tensors() {
        let bytes = sample();
        let h = Header::parse(&bytes).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.get("general.architecture").and_then(Value::as_str), Some("llama"));
        assert_eq!(h.get("llama.block_count").and_then(Value::as_u64), Some(2));
        assert_eq!(h.get("llama.rope.freq_base").and_then(Value::as_f64), Some(10000.0));
        let toks = h.get("tokenizer.ggml.tokens").and_then(Value::as_array).unwrap();
        assert_eq!(toks, [Value::String("a".into()), Value::String("b".into())]);
        let w = h.tensor("w").unwrap();
        assert_eq!((w.hf_shape(), w.ggml_type), (vec![2, 4], GgmlType::F32));
        assert_eq!(h.data_start % 32, 0);
        let v = h.tensor("v").unwrap();
        assert_eq!(h.data_range(v).unwrap(), h.data_start + 32..h.data_start + 44);
        assert_eq!(h.data_range(v).unwrap().end, bytes.len() as u64);
    }

    #[test]
    fn every_prefix_asks_for_more_and_never_panics() {
        let bytes = sample();
        let full = Header::parse(&bytes).unwrap();
        for cut in 0..full.data_start as usize - 1 {
            match Header::parse(&bytes[..cut]) {
                Err(ParseError::NeedMore(n)) => assert!(n > cut as u64, "cut {cut}: asked for {n}"),
                Ok(h) => assert!(cut as u64 >= h.data_start - 31, "cut {cut} parsed early"),
                Err(e) => panic!("cut {cut}: {e:?}"),
            }
        }
    }

    #[test]
    fn rejects_bad_magic_versions_and_hostile_counts() {
        assert!(matches!(Header::parse(b"GGML\x03\0\0\0"), Err(ParseError::Invalid(m)) if m.contains("not a GGUF")));
        assert!(matches!(Header::parse(b"GGUF\x01\0\0\0"), Err(ParseError::Invalid(m)) if m.contains("version 1")));
        assert!(matches!(Header::parse(b"GGUF\0\0\0\x03"), Err(ParseError::Invalid(m)) if m.contains("big-endian")));
        let mut huge = b"GGUF\x03\0\0\0".to_vec();
        huge.extend_from_slice(&0u64.to_le_bytes());
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(Header::parse(&huge), Err(ParseError::Invalid(m)) if m.contains("impossibly")));
        let mut many = b"GGUF\x03\0\0\0".to_vec();
        many.extend_from_slice(&0u64.to_le_bytes());
        many.extend_from_slice(&1_000_000u64.to_le_bytes());
        assert!(matches!(Header::parse(&many), Err(ParseError::NeedMore(n)) if n > 13_000_000));
        let mut too_many = many[..16].to_vec();
        too_many.extend_from_slice(&100_000_000u64.to_le_bytes());
        assert!(matches!(Header::parse(&too_many), Err(ParseError::Invalid(m)) if m.contains("limit")));
        // A billion-element u8 array: refused before anything is reserved for it.
        let mut bomb = b"GGUF\x03\0\0\0".to_vec();
        bomb.extend_from_slice(&0u64.to_le_bytes());
        bomb.extend_from_slice(&1u64.to_le_bytes());
        string(&mut bomb, "k");
        bomb.extend_from_slice(&9u32.to_le_bytes());
        bomb.extend_from_slice(&0u32.to_le_bytes());
        bomb.extend_from_slice(&1_000_000_000u64.to_le_bytes());
        bomb.resize(bomb.len() + 64, 0);
        assert!(matches!(Header::parse(&bomb), Err(ParseError::Invalid(m)) if m.contains("1000000000 elements")));
    }

    #[test]
    fn unknown_value_type_is_invalid() {
        let mut b = b"GGUF\x03\0\0\0".to_vec();
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
        string(&mut b, "k");
        b.extend_from_slice(&99u32.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        assert!(matches!(Header::parse(&b), Err(ParseError::Invalid(m)) if m.contains("unknown value type 99")));
    }
}
