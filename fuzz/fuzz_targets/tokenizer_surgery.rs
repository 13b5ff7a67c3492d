//! libFuzzer target: see `compact::fuzzing::tokenizer_surgery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    compact::fuzzing::tokenizer_surgery(data);
});
