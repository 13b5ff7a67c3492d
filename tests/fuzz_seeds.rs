//! The fuzz targets' checked-in seeds (and every crash the fuzzers found, kept beside
//! them) replayed through `compact::fuzzing` on stable Rust in every `make test`. Each
//! seed is a valid file, so each must go all the way through its parser.

use std::path::Path;

type Target = fn(&[u8]) -> bool;

const TARGETS: [(&str, Target); 4] = [
    ("safetensors_header", compact::fuzzing::safetensors_header),
    ("gguf_header", compact::fuzzing::gguf_header),
    ("sentencepiece_model", compact::fuzzing::sentencepiece_model),
    ("tokenizer_surgery", compact::fuzzing::tokenizer_surgery),
];

#[test]
fn every_seed_goes_through_its_parser_and_every_crash_stays_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let seeds: Vec<_> = std::fs::read_dir(root.join("seeds").join(name)).unwrap().flatten().map(|e| e.path()).collect();
        assert!(!seeds.is_empty(), "{name} has no seeds");
        for seed in seeds {
            assert!(target(&std::fs::read(&seed).unwrap()), "{} does not go all the way through {name}", seed.display());
        }
        // Inputs that once crashed: they may be refused, but must not panic.
        if let Ok(found) = std::fs::read_dir(root.join("regressions").join(name)) {
            for f in found.flatten() {
                target(&std::fs::read(f.path()).unwrap());
            }
        }
    }
}
