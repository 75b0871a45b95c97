//! Generates `src/generated/builtin_openapi.json.gz` from the Kubernetes OpenAPI v2 document.
//!
//! Usage: `gen-builtin-openapi <swagger.json> <out-file>`.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        anyhow::bail!("usage: gen-builtin-openapi <swagger.json> <out-file>");
    };
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {input}"))?;
    let swagger: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {input}"))?;
    let table = kube_emulator::openapi_gen::generate_table(&swagger)?;
    let bytes = kube_emulator::openapi_gen::compress(&table)?;
    std::fs::write(output, &bytes).with_context(|| format!("writing {output}"))?;
    let n = table["definitions"].as_object().map_or(0, |m| m.len());
    println!("{output}: {n} definitions, {} bytes", bytes.len());
    Ok(())
}
