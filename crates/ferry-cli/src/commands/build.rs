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
    /// Build this many times in-process and report builds per second on stderr (benchmarks).
    #[arg(long = "repeat", hide = true, default_value_t = 1)]
    pub repeat: u32,
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
    let started = std::time::Instant::now();
    let mut out = build_yaml(&fs, &dir, &opts).map_err(|e| e.to_string())?;
    if args.repeat > 1 {
        for _ in 1..args.repeat {
            out = build_yaml(&fs, &dir, &opts).map_err(|e| e.to_string())?;
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{} builds in {:.3} s: {:.1} builds/s ({:.2} ms per build)",
            args.repeat,
            secs,
            f64::from(args.repeat) / secs,
            secs * 1000.0 / f64::from(args.repeat)
        );
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(|e| format!("writing output: {e}"))
}
