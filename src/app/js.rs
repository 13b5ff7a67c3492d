//! Browser APIs web-sys does not cover (or only behind unstable flags): the File
//! System Access directory picker, folders dropped onto the page, and saving a Blob.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function has_directory_picker() {
  return typeof window.showDirectoryPicker === 'function';
}

// Asks for a folder and writes the output into a new subfolder `base` of it, each Blob
// straight from the browser under its name; returns "FOLDER/base". A model folder
// (config.json with weights) is refused, as is one that already has `base`; a failed
// write removes the subfolder, so nothing half-written is left. Messages are sentences
// the page shows as they are.
export async function save_to_directory(base, names, blobs) {
  const parent = await window.showDirectoryPicker({ mode: 'readwrite' });
  const has = async (name, kind) => {
    try { await (kind === 'dir' ? parent.getDirectoryHandle(name) : parent.getFileHandle(name)); return true; } catch { return false; }
  };
  if (await has('config.json') && (await has('model.safetensors') || await has('model.safetensors.index.json'))) {
    throw new Error(`${parent.name} is a model folder. Pick the folder to save beside it: the output goes into a new folder ${base} inside the one you pick.`);
  }
  if (await has(base, 'dir') || await has(base)) {
    throw new Error(`${parent.name} already has ${base}. Pick another folder, or move that one away first.`);
  }
  const dir = await parent.getDirectoryHandle(base, { create: true });
  try {
    for (let i = 0; i < names.length; i++) {
      const handle = await dir.getFileHandle(names[i], { create: true });
      const out = await handle.createWritable();
      await out.write(blobs[i]);
      await out.close();
    }
  } catch (e) {
    await parent.removeEntry(base, { recursive: true }).catch(() => {});
    throw new Error(`Could not save into ${parent.name}: ${e.message}. Nothing was left there; try the zip download.`);
  }
  return `${parent.name}/${base}`;
}

// The files of a drop: plain files as they are, and the top-level files of a dropped
// folder. Entries must be taken during the drop event, so this runs synchronously up
// to the first await.
export function dropped_files(dataTransfer) {
  const entries = [...(dataTransfer.items ?? [])].map(i => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  const plain = [...(dataTransfer.files ?? [])];
  return (async () => {
    if (!entries.some(e => e.isDirectory)) return plain;
    const out = [];
    const file = e => new Promise((ok, fail) => e.file(ok, fail));
    for (const e of entries) {
      if (e.isFile) { out.push(await file(e)); continue; }
      const reader = e.createReader();
      for (;;) {
        const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
        if (batch.length === 0) break;
        for (const c of batch) if (c.isFile) out.push(await file(c));
      }
    }
    return out;
  })();
}

export function download_blob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

"#)]
extern "C" {
    /// Whether the browser has `showDirectoryPicker` (Chrome, Edge; not Firefox/Safari).
    pub fn has_directory_picker() -> bool;
    /// Writes `blobs` as `names` into a new subfolder `base` of a folder the user picks
    /// (never into a model folder, never over an existing `base`).
    #[wasm_bindgen(catch)]
    pub async fn save_to_directory(base: &str, names: js_sys::Array, blobs: js_sys::Array) -> Result<JsValue, JsValue>;
    /// The files of a drop event (the top level of a dropped folder).
    pub fn dropped_files(data: &web_sys::DataTransfer) -> js_sys::Promise;
    /// Saves `blob` as a download named `name`.
    pub fn download_blob(blob: &web_sys::Blob, name: &str);
}

/// A readable message from a JS exception.
pub fn message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string()).unwrap_or_else(|| format!("{e:?}"))
}
