//! The tokenizer's files of a model folder, pruned together by one call: whatever
//! file a tool reads its vocabulary or special ids from must describe the pruned
//! embedding, or that tool gets the dense vocabulary with pruned weights.

use std::collections::{HashMap, HashSet};

use super::json::TokenizerJson;
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
    let bytes = match folder.open(FILE).await? {
        Some(src) => src.read_to_end().await?,
        None => return Err(Error::missing_tokenizer(format!("vocabulary pruning rewrites it (looked in {})", folder.describe()))),
    };
    let pruned = surgery::prune_tokenizer(&TokenizerJson::parse(&bytes)?, keep)?;
    drop(bytes);
    let mut files = Vec::new();
    if let Some(tc) = read_json(folder, "tokenizer_config.json").await? {
        files.push(("tokenizer_config.json".into(), json_bytes(&surgery::prune_tokenizer_config(&tc, &map)?)));
    }
    if let Some(gc) = read_json(folder, "generation_config.json").await? {
        let gc = surgery::remap_config_ids(&gc, &map, None, "generation_config.json")?;
        files.push(("generation_config.json".into(), json_bytes(&gc)));
    }
    files.extend(slow_tokenizer_files(folder, &pruned, keep, &map).await?);
    files.push((FILE.into(), pruned.bytes));
    Ok(files)
}

/// The files other tools read instead of tokenizer.json, pruned the same way when the
/// folder has them: the slow tokenizers' `vocab.json`, `merges.txt` and
/// `added_tokens.json`, and SentencePiece's `tokenizer.model` (checked to name the same
/// token at every kept id). Copying them unchanged would hand those tools the dense
/// vocabulary with the pruned embedding.
async fn slow_tokenizer_files<F: ModelFolder>(
    folder: &F,
    pruned: &surgery::PrunedTokenizer,
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
    if let Some(src) = folder.open("merges.txt").await? {
        let text = String::from_utf8(src.read_to_end().await?).map_err(|_| Error::format("merges.txt", "is not UTF-8 text"))?;
        let kept: HashSet<&str> = pruned.vocab.iter().map(|(_, t)| t.as_str()).collect();
        out.push(("merges.txt".into(), surgery::prune_merges_txt(&text, &kept)?.into_bytes()));
    }
    if let Some(src) = folder.open(sentencepiece::FILE).await? {
        let model = sentencepiece::prune(&src.read_to_end().await?, keep)?;
        // Ids → strings of the pruned tokenizer.json, its added tokens included (some
        // files list a special piece only there).
        let by_id: HashMap<u32, &str> = pruned.added.iter().chain(&pruned.vocab).map(|(id, t)| (*id, t.as_str())).collect();
        for (id, piece) in sentencepiece::pieces(&model)?.iter().enumerate() {
            if by_id.get(&(id as u32)) != Some(&piece.as_str()) {
                return Err(TokenizerError::Disagree {
                    a: sentencepiece::FILE.into(),
                    b: FILE.into(),
                    id: id as u32,
                    piece: piece.clone(),
                    other: by_id.get(&(id as u32)).map(|s| s.to_string()),
                }
                .into());
            }
        }
        out.push((sentencepiece::FILE.into(), model));
    }
    Ok(out)
}
