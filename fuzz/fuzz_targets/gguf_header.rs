//! libFuzzer target: see `compact::fuzzing::gguf_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    compact::fuzzing::gguf_header(data);
});
