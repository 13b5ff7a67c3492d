//! libFuzzer target: see `compact::fuzzing::safetensors_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    compact::fuzzing::safetensors_header(data);
});
