//! libFuzzer target: see `compact::fuzzing::sentencepiece_model`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    compact::fuzzing::sentencepiece_model(data);
});
