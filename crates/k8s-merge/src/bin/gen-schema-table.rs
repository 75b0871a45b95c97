//! Generates `src/generated/schema_table.json` from a directory holding Kubernetes OpenAPI v3 documents.
//!
//! Usage: `gen-schema-table <spec-dir> <out-file>` where `<spec-dir>` holds `openapi-v3/*.json`
//! (or the `*.json` documents themselves).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn run(dir: &Path, out: &Path) -> Result<(), String> {
    let v3 = dir.join("openapi-v3");
    let src = if v3.is_dir() { v3 } else { dir.to_path_buf() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .map_err(|e| format!("reading {}: {e}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", f.display()))?;
        if doc.pointer("/components/schemas").is_none() {
            continue;
        }
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        docs.push((name, doc));
    }
    let table = k8s_merge::generator::generate_table(&docs).map_err(|e| e.to_string())?;
    std::fs::write(out, k8s_merge::generator::render_table(&table))
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: gen-schema-table <spec-dir> <out-file>");
        return ExitCode::from(2);
    }
    match run(Path::new(&args[1]), Path::new(&args[2])) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-schema-table: {e}");
            ExitCode::FAILURE
        }
    }
}
