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
