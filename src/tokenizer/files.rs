//! The tokenizer's files of a model folder, pruned together by one call: whatever
//! file a tool reads its vocabulary or special ids from must describe the pruned
//! embedding, or that tool gets the dense vocabulary with pruned weights.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{FILE, sentencepiece, surgery};
use crate::error::{Error, Result, TokenizerError};
use crate::io::{ByteSource, ModelFolder, json_bytes, read_json};

/// The pruned tokenizer files for the kept ids `keep` (ascending), in the order they
/// are written: tokenizer_config.json and generation_config.json (special ids), the
/// slow tokenizers' files and SentencePiece's tokenizer.model when the folder has them,
/// and tokenizer.json last. Fails before anything is written when a file cannot be
/// pruned or two files disagree.
pub async fn prune_files<F: ModelFolder>(folder: &F, keep: &[u32]) -> Result<Vec<(String, Vec<u8>)>> {
    let map = surgery::remap(keep);
    let tok = read_json(folder, FILE)
        .await?
        .ok_or_else(|| Error::missing_tokenizer(format!("vocabulary pruning rewrites it (looked in {})", folder.describe())))?;
    let pruned = surgery::prune_tokenizer(tok, keep)?;
    let mut files = Vec::new();
    if let Some(tc) = read_json(folder, "tokenizer_config.json").await? {
        files.push(("tokenizer_config.json".into(), json_bytes(&surgery::prune_tokenizer_config(&tc, &map)?)));
    }
    if let Some(gc) = read_json(folder, "generation_config.json").await? {
        let gc = surgery::remap_config_ids(&gc, &map, None, "generation_config.json")?;
        files.push(("generation_config.json".into(), json_bytes(&gc)));
    }
    files.extend(slow_tokenizer_files(folder, &pruned, keep, &map).await?);
    files.push((FILE.into(), json_bytes(&pruned)));
    Ok(files)
}

/// The files other tools read instead of tokenizer.json, pruned the same way when the
/// folder has them: the slow tokenizers' `vocab.json`, `merges.txt` and
/// `added_tokens.json`, and SentencePiece's `tokenizer.model` (checked to name the same
/// token at every kept id). Copying them unchanged would hand those tools the dense
/// vocabulary with the pruned embedding.
async fn slow_tokenizer_files<F: ModelFolder>(
    folder: &F,
    pruned: &Value,
    keep: &[u32],
    map: &HashMap<u32, u32>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(v) = read_json(folder, "vocab.json").await? {
        out.push(("vocab.json".into(), json_bytes(&surgery::prune_token_map(&v, map, "vocab.json", false)?)));
    }
    if let Some(v) = read_json(folder, "added_tokens.json").await? {
        out.push(("added_tokens.json".into(), json_bytes(&surgery::prune_token_map(&v, map, "added_tokens.json", true)?)));
    }
    let vocab = pruned["model"]["vocab"].as_object().expect("prune_tokenizer wrote model.vocab");
    if let Some(src) = folder.open("merges.txt").await? {
        let text = String::from_utf8(src.read_to_end().await?).map_err(|_| Error::format("merges.txt", "is not UTF-8 text"))?;
        let kept: HashSet<&str> = vocab.keys().map(String::as_str).collect();
        out.push(("merges.txt".into(), surgery::prune_merges_txt(&text, &kept)?.into_bytes()));
    }
    if let Some(src) = folder.open(sentencepiece::FILE).await? {
        let model = sentencepiece::prune(&src.read_to_end().await?, keep)?;
        // Ids → strings of the pruned tokenizer.json, its added tokens included (some
        // files list a special piece only there).
        let added =
            pruned["added_tokens"].as_array().into_iter().flatten().filter_map(|t| Some((t["id"].as_u64()?, t["content"].as_str()?)));
        let by_id: HashMap<u64, &str> = added.chain(vocab.iter().filter_map(|(s, id)| Some((id.as_u64()?, s.as_str())))).collect();
        for (id, piece) in sentencepiece::pieces(&model)?.iter().enumerate() {
            if by_id.get(&(id as u64)) != Some(&piece.as_str()) {
                return Err(TokenizerError::Disagree {
                    a: sentencepiece::FILE.into(),
                    b: FILE.into(),
                    id: id as u32,
                    piece: piece.clone(),
                    other: by_id.get(&(id as u64)).map(|s| s.to_string()),
                }
                .into());
            }
        }
        out.push((sentencepiece::FILE.into(), model));
    }
    Ok(out)
}
