//! Inputs that could lose a user's files or make no sense, through the CLI on real
//! SmolLM2-135M weights: each is refused with its message and a non-zero exit, and
//! nothing is written or deleted; a Hugging Face cache snapshot (every file a link)
//! prunes into a complete folder of real files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{compact, fixture, temp_dir};

/// Every file below `dir` (links followed) with its bytes' length and first bytes: a
/// cheap fingerprint that shows nothing was deleted or replaced.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(p, (bytes.len() as u64, bytes[..bytes.len().min(4096)].to_vec()));
            }
        }
    }
    out
}

/// A copy of the fixture as links to its files (a user's model folder, cheaply).
fn linked_model(into: &Path) -> PathBuf {
    let src = fixture("smollm2-135m");
    let dir = into.join("smollm2-135m");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        if e.path().is_file() && !e.file_name().to_string_lossy().starts_with('.') {
            std::os::unix::fs::symlink(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

fn prune(model: &Path, out: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["prune", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap(), "--vocab", "8192"];
    args.extend_from_slice(extra);
    compact(&args)
}

#[test]
fn outputs_that_would_replace_the_model_or_a_users_folder_are_refused() {
    let tmp = temp_dir("safe-out");
    let model = linked_model(tmp.path());
    let precious = tmp.path().join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("thesis.tex"), "years of work").unwrap();
    let before = snapshot(tmp.path());

    // The model folder itself, a folder inside it, and its parent (which contains it).
    for (out, why) in [
        (model.clone(), "is, is inside or contains the input folder"),
        (model.join("pruned"), "is, is inside or contains the input folder"),
        (tmp.path().to_path_buf(), "is, is inside or contains the input folder"),
        (precious.clone(), "not empty and was not written by compact"),
    ] {
        let (ok, _, err) = prune(&model, &out, &["--force"]);
        assert!(!ok, "--out {} --force was accepted", out.display());
        assert!(err.contains(why), "{}: {err}", out.display());
        assert!(err.contains("hint:"), "the error says what to do: {err}");
    }
    // A report or importance file inside the model folder.
    let inside = model.join("report.json");
    let (ok, _, err) = prune(&model, &tmp.path().join("fresh"), &["--report", inside.to_str().unwrap()]);
    assert!(!ok && err.contains("inside the model folder"), "{err}");
    assert_eq!(snapshot(tmp.path()), before, "a refused run changed files");

    // A folder an earlier run wrote may be replaced with --force, and only then.
    let out = tmp.path().join("pruned");
    let (ok, _, err) = prune(&model, &out, &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = prune(&model, &out, &[]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = prune(&model, &out, &["--force"]);
    assert!(ok, "{err}");
    assert!(out.join("model.safetensors").is_file());
}

/// A Hugging Face cache snapshot: `snapshots/REV/*` are links into `blobs/`.
fn hf_cache_snapshot(into: &Path) -> PathBuf {
    let src = fixture("smollm2-135m");
    let repo = into.join("models--HuggingFaceTB--SmolLM2-135M");
    let (blobs, snap) = (repo.join("blobs"), repo.join("snapshots").join("0123abcd"));
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.path().is_file() || name.starts_with('.') {
            continue;
        }
        let blob = blobs.join(format!("blob-{name}"));
        std::os::unix::fs::symlink(e.path(), &blob).unwrap();
        std::os::unix::fs::symlink(Path::new("../../blobs").join(format!("blob-{name}")), snap.join(&name)).unwrap();
    }
    snap
}

#[test]
fn a_hugging_face_cache_snapshot_prunes_into_a_complete_folder() {
    let tmp = temp_dir("hf-cache");
    let snap = hf_cache_snapshot(tmp.path());
    let src = fixture("smollm2-135m");
    let wanted: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    for (tag, args) in
        [("vocab", vec!["--vocab", "8192"]), ("ffn", vec!["--ffn", "1024", "--samples", "1", "--seq-len", "32", "--device", "cpu"])]
    {
        let out = tmp.path().join(tag);
        let mut all = vec!["prune", "--model", snap.to_str().unwrap(), "--out", out.to_str().unwrap()];
        all.extend_from_slice(&args);
        let (ok, _, err) = compact(&all);
        assert!(ok, "{tag}: {err}");
        for name in &wanted {
            let p = out.join(name);
            let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|_| panic!("{tag}: {name} is missing from the pruned folder"));
            assert!(meta.file_type().is_file(), "{tag}: {name} is a link, not a file of its own");
        }
    }
}

#[test]
fn impossible_config_values_are_refused_when_read() {
    let tmp = temp_dir("bad-config");
    let model = tmp.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    let src = fixture("smollm2-135m");
    std::os::unix::fs::symlink(src.join("model.safetensors"), model.join("model.safetensors")).unwrap();
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    for (key, value, expect) in [
        ("rope_theta", serde_json::json!(0.0), "rope_theta is 0"),
        ("rms_norm_eps", serde_json::json!(-1e-5), "rms_norm_eps is -0.00001"),
        ("num_hidden_layers", serde_json::json!(1_000_000_000_000u64), "more than any model has"),
        ("vocab_size", serde_json::json!(1u64 << 40), "more than any model has"),
    ] {
        let mut cfg = good.clone();
        cfg[key] = value;
        std::fs::write(model.join("config.json"), cfg.to_string()).unwrap();
        let (ok, _, err) = compact(&["inspect", model.to_str().unwrap()]);
        assert!(!ok, "{key} was accepted");
        assert!(err.contains("config.json") && err.contains(expect), "{key}: {err}");
    }
}

#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    let tmp = temp_dir("sigint");
    let model = fixture("qwen2.5-0.5b");
    let out = tmp.path().join("pruned");
    let staging = tmp.path().join(".pruned.partial");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_compact"))
        .args(["prune", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap(), "--vocab", "49536"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt it while it writes (the staging folder exists from the start of the run).
    let start = std::time::Instant::now();
    while !staging.join("model.safetensors").exists() {
        assert!(start.elapsed().as_secs() < 120, "the run never started writing");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let result = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!staging.exists(), "the staging folder was left behind");
    assert!(!out.exists(), "an interrupted run created its output");
}

#[test]
fn import_gguf_never_writes_into_an_existing_folder_or_leaves_a_partial_one() {
    let tmp = temp_dir("import-out");
    // The fixture's GGUF sits in the cache beside the converted folders.
    let gguf = fixture("smollm2-135m").parent().unwrap().parent().unwrap().join("gguf").join("smollm2-135m.gguf");
    assert!(gguf.is_file(), "{} is missing: run scripts/fixtures/fetch-model.sh", gguf.display());

    let mine = tmp.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("config.json"), "{\"mine\": true}").unwrap();
    let before = snapshot(tmp.path());
    let (ok, _, err) = compact(&["import-gguf", gguf.to_str().unwrap(), "--out", mine.to_str().unwrap()]);
    assert!(!ok && err.contains("already exists and is not empty"), "{err}");
    assert_eq!(snapshot(tmp.path()), before, "a refused import changed files");

    // A truncated GGUF fails before its folder appears; nothing is staged either.
    let cut = tmp.path().join("cut.gguf");
    let bytes = std::fs::read(&gguf).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = tmp.path().join("imported");
    let (ok, _, err) = compact(&["import-gguf", cut.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!ok && err.contains("truncated"), "{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 2, "only mine/ and cut.gguf remain: {left:?}");
}

/// A folder of links to the fixture's files, with `replace` written as real files.
fn model_with(into: &Path, replace: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = linked_model(into);
    for (name, bytes) in replace {
        std::fs::remove_file(dir.join(name)).ok();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// Asserts a refused run: non-zero exit, every `expect` in the message (which stays
/// short), and no file under `tmp` added, changed or removed.
fn assert_refused(tmp: &Path, args: &[&str], expect: &[&str]) {
    let before = snapshot(tmp);
    let (ok, _, err) = compact(args);
    assert!(!ok, "{args:?} was accepted");
    for e in expect {
        assert!(err.contains(e), "{args:?}: {err}");
    }
    assert!(err.lines().count() <= 4 && err.len() < 1000, "a short message, not a dump: {err}");
    assert_eq!(snapshot(tmp), before, "{args:?} changed files");
}

#[test]
fn hostile_sizes_are_refused_before_anything_is_allocated() {
    let tmp = temp_dir("bombs");
    let out = tmp.path().join("out");
    let src = fixture("smollm2-135m");

    // A config.json of 5 MB (real ones are a few KB) is refused unread.
    let mut big = std::fs::read(src.join("config.json")).unwrap();
    big.extend(std::iter::repeat_n(b' ', 5 << 20));
    let m = model_with(&tmp.path().join("a"), &[("config.json", big)]);
    assert_refused(tmp.path(), &["inspect", m.to_str().unwrap()], &["config.json", "over the", "limit"]);

    // A safetensors header whose one tensor has a shape of two million entries.
    let ones = vec!["1"; 2_000_000].join(",");
    let header = format!(r#"{{"w":{{"dtype":"U8","shape":[{ones}],"data_offsets":[0,1]}}}}"#);
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header.as_bytes());
    st.push(0);
    let m = model_with(&tmp.path().join("b"), &[("model.safetensors", st)]);
    assert_refused(tmp.path(), &["inspect", m.to_str().unwrap()], &["model.safetensors", "bytes of JSON"]);

    // A tokenizer.json (sparse, 65 MiB) over its limit, when vocabulary pruning reads it.
    let m = model_with(&tmp.path().join("c"), &[]);
    std::fs::remove_file(m.join("tokenizer.json")).unwrap();
    std::fs::File::create(m.join("tokenizer.json")).unwrap().set_len(65 << 20).unwrap();
    assert_refused(
        tmp.path(),
        &["prune", "--model", m.to_str().unwrap(), "--out", out.to_str().unwrap(), "--vocab", "8192"],
        &["tokenizer.json", "limit"],
    );

    // A calibration file (sparse, 65 MiB) over its limit.
    let text = tmp.path().join("huge.txt");
    std::fs::File::create(&text).unwrap().set_len(65 << 20).unwrap();
    let m = linked_model(&tmp.path().join("d"));
    assert_refused(
        tmp.path(),
        &["prune", "--model", m.to_str().unwrap(), "--out", out.to_str().unwrap(), "--ffn", "1024", "--calib", text.to_str().unwrap()],
        &["calibration file", "limit", "hint:"],
    );

    // A GGUF whose one metadata array claims a billion u8 elements.
    let mut gguf = b"GGUF".to_vec();
    gguf.extend_from_slice(&3u32.to_le_bytes());
    gguf.extend_from_slice(&0u64.to_le_bytes());
    gguf.extend_from_slice(&1u64.to_le_bytes());
    gguf.extend_from_slice(&1u64.to_le_bytes());
    gguf.push(b'k');
    gguf.extend_from_slice(&9u32.to_le_bytes());
    gguf.extend_from_slice(&0u32.to_le_bytes());
    gguf.extend_from_slice(&1_000_000_000u64.to_le_bytes());
    gguf.resize(4096, 0);
    let g = tmp.path().join("bomb.gguf");
    std::fs::write(&g, gguf).unwrap();
    assert_refused(tmp.path(), &["import-gguf", g.to_str().unwrap(), "--out", out.to_str().unwrap()], &["1000000000 elements"]);
}

#[test]
fn non_finite_weights_and_unsupported_biases_stop_with_the_tensor_named() {
    let tmp = temp_dir("nan");
    let src = fixture("smollm2-135m");
    let out = tmp.path().join("out");

    // One NaN in layer 0's up_proj: calibration and generation stop and name it.
    let mut st = std::fs::read(src.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let index = compact::model::TensorIndex::parse("model.safetensors", st.len() as u64, &st[8..8 + n]).unwrap();
    let t = index.get("model.layers.0.mlp.up_proj.weight").unwrap();
    let at = t.range.start as usize + 2 * 1000;
    st[at..at + 2].copy_from_slice(&half::bf16::NAN.to_bits().to_le_bytes());
    let m = model_with(&tmp.path().join("a"), &[("model.safetensors", st)]);
    let ms = m.to_str().unwrap();
    let expect = ["model.layers.0.mlp.up_proj.weight", "element 1000", "NaN or infinite", "hint:"];
    let prune = ["prune", "--model", ms, "--out", out.to_str().unwrap(), "--ffn", "1024", "--samples", "1", "--seq-len", "16"];
    assert_refused(tmp.path(), &[&prune[..], &["--device", "cpu"]].concat(), &expect);
    assert_refused(tmp.path(), &["generate", "--model", ms, "--prompt", "Hello", "--max-tokens", "2", "--device", "cpu"], &expect);

    // FFN biases (mlp_bias) are refused when the config is read, not copied unsliced.
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(src.join("config.json")).unwrap()).unwrap();
    cfg["mlp_bias"] = serde_json::json!(true);
    let m = model_with(&tmp.path().join("b"), &[("config.json", cfg.to_string().into_bytes())]);
    assert_refused(tmp.path(), &["inspect", m.to_str().unwrap()], &["mlp_bias", "not supported"]);
}

#[test]
fn a_staging_folder_compact_did_not_make_is_left_alone() {
    let tmp = temp_dir("staging");
    let model = linked_model(tmp.path());
    let out = tmp.path().join("pruned");
    let users = tmp.path().join(".pruned.partial");
    std::fs::create_dir_all(&users).unwrap();
    std::fs::write(users.join("notes.txt"), "mine").unwrap();
    assert_refused(
        tmp.path(),
        &["prune", "--model", model.to_str().unwrap(), "--out", out.to_str().unwrap(), "--vocab", "8192"],
        &[".pruned.partial", "not written by compact"],
    );
}

/// An output folder on a disk with `free` bytes left, which must never be written.
struct FullDisk {
    free: u64,
}

impl compact::io::OutputFolder for FullDisk {
    type Sink = compact::io::FileSink;
    async fn create(&mut self, name: &str) -> compact::Result<Self::Sink> {
        panic!("{name} was written to a disk it does not fit on")
    }
    async fn free_bytes(&self) -> Option<u64> {
        Some(self.free)
    }
    async fn commit(self) -> compact::Result<()> {
        panic!("committed an output that does not fit")
    }
}

#[test]
fn an_output_that_does_not_fit_on_the_disk_is_refused_before_calibration() {
    use compact::prune::{Model, Request, Target, run};
    let model = common::block_on(Model::open("smollm2-135m", compact::io::DirFolder::new(fixture("smollm2-135m")).unwrap())).unwrap();
    let request = Request::new(Target::Sizes { vocab: Some(16384), ffn: Some(960) });
    let mut calibrated = false;
    let mut events = |e: compact::prune::Event| calibrated |= matches!(e, compact::prune::Event::Calibrating { .. });
    // V′ 16384, I′ 960: 16384·576 embedding + 30 layers × (884,736 attention + 3·576·960
    // FFN) + 35,136 norm weights = 85.78M bf16 parameters (171.6 MB), and the 2.1 MB
    // tokenizer.json: 174 MB.
    let out = FullDisk { free: 100_000_000 };
    let err = common::block_on(run(&model, &request, &compact::engine::Device::Cpu, out, &mut events, &Default::default())).unwrap_err();
    assert!(matches!(err, compact::Error::NoSpace { needed: 174, free: 100 }), "{err:?}");
    assert!(!calibrated, "refused before calibrating");
    assert!(err.hint().unwrap().contains("free some disk space"), "{:?}", err.hint());
}
