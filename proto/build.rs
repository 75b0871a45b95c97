//! Compiles `proto/ferry/**.proto` with protox (pure Rust), so the build needs no `protoc`.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "ferry/events/v1/events.proto",
    "ferry/source/v1/source.proto",
    "ferry/render/v1/render.proto",
    "ferry/apply/v1/apply.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    let descriptors = protox::compile(PROTOS, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
