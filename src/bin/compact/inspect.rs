//! `compact inspect` (a model's architecture and where its parameters live, from the
//! headers alone) and `compact gpu` (the adapter and the limits calibration needs).

use std::path::Path;

use anyhow::Result;
use compact::engine::gpu;
use compact::io::DirFolder;
use compact::model::ModelInfo;

/// Runs `compact inspect`.
pub fn run(dir: &Path, json: bool) -> Result<()> {
    let folder = DirFolder::new(dir)?;
    let info = pollster::block_on(ModelInfo::load(&folder))?;
    let summary = info.summary();
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}\n", dir.display());
        print!("{summary}");
    }
    Ok(())
}

/// Runs `compact gpu`.
pub fn gpu(json: bool) -> Result<()> {
    let report = pollster::block_on(gpu::probe())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.one_line());
        for s in report.shortfalls() {
            println!("warning: {s}");
        }
    }
    Ok(())
}
