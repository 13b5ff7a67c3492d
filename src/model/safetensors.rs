//! safetensors without reading the tensors: the header parser behind [`TensorIndex`]
//! and the header builder behind the streaming writers.
//!
//! Format: an 8-byte little-endian header length `n`, `n` bytes of JSON
//! (`{"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [b, e]}}`),
//! then the tensor data; offsets are relative to the end of the header. The
//! `safetensors` crate's `read_metadata` wants the whole file in memory, so this is
//! our own, validating everything a hostile or truncated file could get wrong.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{Error, HeaderError, Result};
use crate::io::ByteSource;

/// Header length limit (the same 100 MB the reference implementation uses).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Most dimensions a tensor may have (real checkpoints use up to 5).
pub const MAX_RANK: usize = 8;

/// Longest JSON entry of one tensor (name excluded) parsed: a real one is under 200 bytes.
const MAX_ENTRY_LEN: usize = 4096;

/// Element types a safetensors file may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// Boolean, one byte.
    Bool,
    /// Unsigned 8-bit integer.
    U8,
    /// Signed 8-bit integer.
    I8,
    /// 8-bit float: 5-bit exponent, 2-bit mantissa.
    F8E5M2,
    /// 8-bit float: 4-bit exponent, 3-bit mantissa.
    F8E4M3,
    /// Signed 16-bit integer.
    I16,
    /// Unsigned 16-bit integer.
    U16,
    /// IEEE half: 5-bit exponent, 10-bit mantissa.
    F16,
    /// bfloat16: 8-bit exponent, 7-bit mantissa.
    BF16,
    /// Signed 32-bit integer.
    I32,
    /// Unsigned 32-bit integer.
    U32,
    /// IEEE single precision (32-bit float).
    F32,
    /// IEEE double precision (64-bit float).
    F64,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 64-bit integer.
    U64,
}

impl Dtype {
    const ALL: [Dtype; 15] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E5M2,
        Dtype::F8E4M3,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E5M2 | Dtype::F8E4M3 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }

    /// The name used in the header (`"BF16"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    /// Parses a header dtype name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// True for the float types the model code computes with.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tensor's entry: name, type, shape and where its bytes are in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name as in the header (e.g. `model.embed_tokens.weight`).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// Absolute byte range in the file (header included in the offset).
    pub range: Range<u64>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Everything in a safetensors header: the tensors in file order and the metadata.
#[derive(Debug, Clone)]
pub struct TensorIndex {
    /// File name, for messages.
    pub file: String,
    /// Total file size.
    pub file_len: u64,
    /// Bytes before the tensor data (8 + header length).
    pub data_start: u64,
    /// `__metadata__`, if any.
    pub metadata: BTreeMap<String, String>,
    tensors: Vec<TensorInfo>,
    by_name: BTreeMap<String, usize>,
}

impl TensorIndex {
    /// Reads and validates only the header of `src`: two small reads, whatever the
    /// file's size.
    pub async fn read(src: &impl ByteSource) -> Result<Self> {
        let file_len = src.len();
        let header_error = |kind| Error::Header { file: src.name().to_string(), kind };
        if file_len < 8 {
            return Err(header_error(HeaderError::TooShort { len: file_len }));
        }
        let prefix = src.read_at(0, 8).await?;
        let header_len = u64::from_le_bytes(prefix.try_into().expect("8 bytes"));
        check_header_len(header_len, file_len).map_err(header_error)?;
        let header = src.read_at(8, header_len as usize).await?;
        Self::parse(src.name(), file_len, &header).map_err(header_error)
    }

    /// Validates and parses header JSON `header` of a file of `file_len` bytes.
    pub fn parse(file: &str, file_len: u64, header: &[u8]) -> Result<Self, HeaderError> {
        let header_len = header.len() as u64;
        check_header_len(header_len, file_len)?;
        let data_start = 8 + header_len;
        let data_len = file_len - data_start;
        // Entries stay unparsed slices of the header until each is checked to be small,
        // so a hostile header (one shape of millions of entries) never becomes a tree.
        let map: BTreeMap<String, &RawValue> = serde_json::from_slice(header).map_err(|e| HeaderError::Json { msg: e.to_string() })?;

        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::with_capacity(map.len());
        for (name, raw) in map {
            if name == "__metadata__" {
                metadata = parse_metadata(raw)?;
                continue;
            }
            if raw.get().len() > MAX_ENTRY_LEN {
                let msg = format!("its entry is {} bytes of JSON; a tensor's is a few hundred", raw.get().len());
                return Err(HeaderError::Entry { tensor: name, msg });
            }
            let entry: Value = serde_json::from_str(raw.get()).map_err(|e| HeaderError::Json { msg: e.to_string() })?;
            tensors.push(parse_entry(name, &entry, data_start, data_len)?);
        }

        tensors.sort_by(|a, b| (a.range.start, a.range.end, &a.name).cmp(&(b.range.start, b.range.end, &b.name)));
        let mut last: Option<&TensorInfo> = None;
        for t in tensors.iter().filter(|t| !t.range.is_empty()) {
            if let Some(prev) = last
                && t.range.start < prev.range.end
            {
                return Err(HeaderError::Overlap { a: prev.name.clone(), b: t.name.clone() });
            }
            last = Some(t);
        }
        let by_name = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(Self { file: file.to_string(), file_len, data_start, metadata, tensors, by_name })
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor called `name`, or a format error naming the file.
    pub fn require(&self, name: &str) -> Result<&TensorInfo> {
        self.get(name).ok_or_else(|| Error::format(&self.file, format!("tensor {name:?} is missing")))
    }

    /// All tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// True when the file holds no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }
}

fn check_header_len(header_len: u64, file_len: u64) -> Result<(), HeaderError> {
    if header_len > MAX_HEADER_LEN {
        return Err(HeaderError::LengthTooLarge { header_len, limit: MAX_HEADER_LEN });
    }
    let available = file_len.saturating_sub(8);
    if header_len > available {
        return Err(HeaderError::LengthPastEnd { header_len, available });
    }
    Ok(())
}

fn parse_metadata(raw: &RawValue) -> Result<BTreeMap<String, String>, HeaderError> {
    serde_json::from_str(raw.get())
        .map_err(|_| HeaderError::Entry { tensor: "__metadata__".into(), msg: "must be an object of strings".into() })
}

fn parse_entry(name: String, v: &Value, data_start: u64, data_len: u64) -> Result<TensorInfo, HeaderError> {
    let bad = |msg: String| HeaderError::Entry { tensor: name.clone(), msg };
    let Value::Object(e) = v else { return Err(bad("entry is not an object".into())) };
    let dtype_name = e.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("no \"dtype\" string".into()))?;
    let dtype =
        Dtype::parse(dtype_name).ok_or_else(|| HeaderError::UnknownDtype { tensor: name.clone(), dtype: dtype_name.to_string() })?;
    let shape = e
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"shape\" array".into()))?
        .iter()
        .map(|d| d.as_u64().ok_or_else(|| bad(format!("shape entry {d} is not a non-negative integer"))))
        .collect::<Result<Vec<u64>, _>>()?;
    if shape.len() > MAX_RANK {
        return Err(bad(format!("its shape has {} dimensions, more than {MAX_RANK}", shape.len())));
    }
    let offsets = e
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 2)
        .ok_or_else(|| bad("no \"data_offsets\" [begin, end] pair".into()))?;
    let (Some(begin), Some(end)) = (offsets[0].as_u64(), offsets[1].as_u64()) else {
        return Err(bad("data_offsets are not non-negative integers".into()));
    };
    if end < begin {
        return Err(bad(format!("data_offsets [{begin}, {end}] end before they begin")));
    }
    let expected = shape.iter().try_fold(dtype.size() as u128, |acc, &d| acc.checked_mul(d as u128));
    let actual = end - begin;
    if expected != Some(actual as u128) {
        return Err(HeaderError::SizeMismatch {
            tensor: name,
            shape,
            dtype_size: dtype.size(),
            expected: expected.unwrap_or(u128::MAX),
            actual,
        });
    }
    if end > data_len {
        return Err(HeaderError::OffsetPastEnd { tensor: name, end, data_len });
    }
    Ok(TensorInfo { name, dtype, shape, range: data_start + begin..data_start + end })
}

/// A tensor to be written: the header needs only name, type and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Tensor name to write in the header.
    pub name: String,
    /// Element type of the data that will follow.
    pub dtype: Dtype,
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// Size of the tensor's data in bytes.
    pub fn byte_len(&self) -> u64 {
        self.shape.iter().product::<u64>() * self.dtype.size()
    }
}

/// The header of a file about to be written and the order its tensors must follow,
/// so tensors can be streamed one by one after the header.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The 8-byte length prefix and the space-padded JSON header.
    pub header: Vec<u8>,
    /// Tensors in write order, each with its absolute byte range in the output.
    pub tensors: Vec<(TensorSpec, Range<u64>)>,
}

impl Layout {
    /// Orders tensors as the reference writer does (larger dtypes first, then by
    /// name) and builds the header; the header is padded with spaces to 8 bytes so
    /// every tensor stays aligned.
    pub fn new(mut specs: Vec<TensorSpec>, metadata: &BTreeMap<String, String>) -> Result<Self> {
        specs.sort_by(|a, b| b.dtype.size().cmp(&a.dtype.size()).then_with(|| a.name.cmp(&b.name)));
        if let Some(w) = specs.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(Error::Internal(format!("tensor {:?} would be written twice", w[0].name)));
        }
        let mut json = Map::new();
        if !metadata.is_empty() {
            let m = metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            json.insert("__metadata__".into(), Value::Object(m));
        }
        let mut offset = 0u64;
        let mut rel = Vec::with_capacity(specs.len());
        for s in &specs {
            let end = offset + s.byte_len();
            json.insert(s.name.clone(), serde_json::json!({ "dtype": s.dtype.as_str(), "shape": s.shape, "data_offsets": [offset, end] }));
            rel.push(offset..end);
            offset = end;
        }
        let mut text = serde_json::to_vec(&Value::Object(json)).expect("JSON of strings and numbers");
        text.resize(text.len().next_multiple_of(8), b' ');
        let data_start = 8 + text.len() as u64;
        let mut header = (text.len() as u64).to_le_bytes().to_vec();
        header.extend_from_slice(&text);
        let tensors = specs.into_iter().zip(rel).map(|(s, r)| (s, data_start + r.start..data_start + r.end)).collect();
        Ok(Self { header, tensors })
    }

    /// Total size of the file this layout describes.
    pub fn file_len(&self) -> u64 {
        self.tensors.last().map_or(self.header.len() as u64, |(_, r)| r.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(header: &str, data_len: usize) -> (u64, Vec<u8>) {
        (8 + header.len() as u64 + data_len as u64, header.as_bytes().to_vec())
    }

    fn parse(header: &str, data_len: usize) -> Result<TensorIndex, HeaderError> {
        let (len, h) = file_with(header, data_len);
        TensorIndex::parse("t.safetensors", len, &h)
    }

    #[test]
    fn parses_a_valid_header() {
        let h = r#"{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
        let idx = parse(h, 12).unwrap();
        assert_eq!(idx.metadata["format"], "pt");
        let names: Vec<_> = idx.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"], "file order");
        let b = idx.get("b").unwrap();
        assert_eq!(b.range, 8 + h.len() as u64 + 4..8 + h.len() as u64 + 12);
        assert_eq!(b.numel(), 2);
    }

    #[test]
    fn each_violation_has_its_own_error() {
        let e = |h: &str, n| parse(h, n).unwrap_err();
        assert!(matches!(e("[1,2]", 0), HeaderError::Json { .. }));
        assert!(matches!(e("{\"a\":", 0), HeaderError::Json { .. }));
        assert!(matches!(
            e(r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, 1),
            HeaderError::UnknownDtype { dtype, .. } if dtype == "Q4"
        ));
        assert!(matches!(
            e(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8),
            HeaderError::SizeMismatch { expected: 12, actual: 8, .. }
        ));
        assert!(matches!(
            e(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4),
            HeaderError::OffsetPastEnd { end: 8, data_len: 4, .. }
        ));
        assert!(matches!(
            e(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12),
            HeaderError::Overlap { .. }
        ));
        assert!(matches!(e(r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4), HeaderError::Entry { .. }));
        assert!(matches!(e(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 4), HeaderError::Entry { .. }));
        assert!(matches!(e(r#"{"__metadata__":{"x":1}}"#, 0), HeaderError::Entry { .. }));
        assert!(matches!(e(r#"{"a":{"dtype":"F32","shape":[1]}}"#, 4), HeaderError::Entry { .. }));
    }

    #[test]
    fn shape_overflow_is_a_size_mismatch_not_a_panic() {
        let h = r#"{"a":{"dtype":"F64","shape":[18446744073709551615,18446744073709551615,4],"data_offsets":[0,8]}}"#;
        assert!(matches!(parse(h, 8).unwrap_err(), HeaderError::SizeMismatch { .. }));
    }

    #[test]
    fn hostile_shapes_are_refused_before_they_become_trees() {
        let nine = r#"{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}"#;
        assert!(matches!(parse(nine, 1).unwrap_err(), HeaderError::Entry { msg, .. } if msg.contains("9 dimensions")));
        let ones = vec!["1"; 2_000_000].join(",");
        let huge = format!(r#"{{"a":{{"dtype":"U8","shape":[{ones}],"data_offsets":[0,1]}}}}"#);
        let err = parse(&huge, 1).unwrap_err();
        assert!(matches!(&err, HeaderError::Entry { msg, .. } if msg.contains("bytes of JSON")), "{err}");
        assert!(err.to_string().len() < 200, "the message stays short");
    }

    #[test]
    fn length_prefix_is_checked_before_reading() {
        assert!(matches!(check_header_len(u64::MAX, 100), Err(HeaderError::LengthTooLarge { .. })));
        assert!(matches!(check_header_len(93, 100), Err(HeaderError::LengthPastEnd { header_len: 93, available: 92 })));
        assert!(check_header_len(92, 100).is_ok());
    }

    #[test]
    fn read_rejects_truncated_and_hostile_files() {
        use crate::io::MemSource;
        let run = |bytes: Vec<u8>| pollster_lite(TensorIndex::read(&MemSource::new("m", bytes)));
        assert!(matches!(run(vec![1, 2, 3]), Err(Error::Header { kind: HeaderError::TooShort { len: 3 }, .. })));
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(matches!(run(huge), Err(Error::Header { kind: HeaderError::LengthTooLarge { .. }, .. })));
        let mut cut = 1000u64.to_le_bytes().to_vec();
        cut.extend_from_slice(b"{}");
        assert!(matches!(run(cut), Err(Error::Header { kind: HeaderError::LengthPastEnd { .. }, .. })));
    }

    #[test]
    fn layout_round_trips_through_the_parser() {
        let specs = vec![
            TensorSpec { name: "w".into(), dtype: Dtype::BF16, shape: vec![3, 5] },
            TensorSpec { name: "n".into(), dtype: Dtype::F32, shape: vec![5] },
            TensorSpec { name: "a".into(), dtype: Dtype::BF16, shape: vec![7] },
        ];
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let layout = Layout::new(specs.clone(), &meta).unwrap();
        assert_eq!(layout.header.len() % 8, 0);
        let order: Vec<_> = layout.tensors.iter().map(|(s, _)| s.name.as_str()).collect();
        assert_eq!(order, ["n", "a", "w"], "F32 first, then by name");
        let idx = TensorIndex::parse("o", layout.file_len(), &layout.header[8..]).unwrap();
        for (spec, range) in &layout.tensors {
            let t = idx.get(&spec.name).unwrap();
            assert_eq!((&t.shape, t.dtype, &t.range), (&spec.shape, spec.dtype, range));
        }
        assert_eq!(idx.metadata, meta);
        let dup = Layout::new(vec![specs[0].clone(), specs[0].clone()], &meta);
        assert!(matches!(dup, Err(Error::Internal(_))));
    }

    /// Polls a future that never waits (in-memory I/O) to completion.
    fn pollster_lite<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("in-memory read should not wait"),
        }
    }
}
