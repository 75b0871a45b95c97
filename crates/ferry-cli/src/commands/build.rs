//! `ferry build DIR`: the same stream as `kustomize build DIR`.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use ferry_kustomize::{DiskFs, LoadRestrictor, Options, build_yaml};

/// Arguments of `ferry build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// File access restriction, as kustomize's flag.
    #[arg(long = "load-restrictor", default_value = "LoadRestrictionsRootOnly")]
    pub load_restrictor: String,
    /// Directory nothing may be read outside of (default: the file system root).
    #[arg(long = "root")]
    pub root: Option<PathBuf>,
    /// The kustomization directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Runs the build and prints the YAML stream.
pub fn run(args: &BuildArgs) -> Result<(), String> {
    let restrictor: LoadRestrictor = args.load_restrictor.parse().map_err(|e| format!("{e}"))?;
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let fs = DiskFs::new(&root).map_err(|e| e.to_string())?;
    let dir = fs.relative(&args.dir).map_err(|e| e.to_string())?;
    let opts = Options {
        load_restrictor: restrictor,
        ..Options::default()
    };
    let out = build_yaml(&fs, &dir, &opts).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| format!("writing output: {e}"))
}
