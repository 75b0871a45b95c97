//! `bench-applier`: the applier benchmark of issue 6.
//!
//! Applies one rendered bundle (about 1,000 objects) with Ferry's applier (in process,
//! `Applier::apply_all`, field manager `ferry-applier`) and with
//! `kubectl apply --server-side --validate=false --field-manager=kubectl-bench`, each against
//! its own fresh `kube-emulator` process per repetition (both start from the same empty state):
//! first apply, then a no-op re-apply. Reports median / min / max wall time, the ratio, peak RSS
//! (VmHWM of this process around Ferry's applies; `/usr/bin/time -v` for kubectl), and compares
//! every object's managed-fields entry of the two tools (fieldsV1, operation, apiVersion) after
//! the first apply and after the re-apply. Prints Markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};

use applier::apply;
use applier::apply::{Action, Applier, ApplyOptions, ChangeSet, FIELD_MANAGER, Owner};
use applier::manifests::{self, Manifest};

/// Field manager kubectl applies as.
const KUBECTL_MANAGER: &str = "kubectl-bench";

/// Applier benchmark: Ferry's server-side apply against `kubectl apply --server-side`.
#[derive(Parser, Debug)]
#[command(name = "bench-applier")]
struct Args {
    /// The rendered bundle (multi-document YAML), e.g. `kubectl kustomize OVERLAY > bundle.yaml`.
    #[arg(long)]
    bundle: PathBuf,
    /// The `kube-emulator` binary (one fresh process per tool and repetition).
    #[arg(long, default_value = "target/release/kube-emulator")]
    emulator: PathBuf,
    /// The kubectl binary.
    #[arg(long, default_value = "/usr/bin/kubectl")]
    kubectl: PathBuf,
    /// Repetitions per tool (median reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Objects applied at once within a stage (Flux's `--concurrent-ssa` default is 4).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Where to keep the files of the run (a temporary directory when unset).
    #[arg(long)]
    workdir: Option<PathBuf>,
}

/// A running emulator process with a kubeconfig pointing at it.
struct Emulator {
    child: Child,
    kubeconfig: PathBuf,
    url: String,
}

impl Emulator {
    fn start(bin: &Path, dir: &Path, tag: &str) -> Result<Self> {
        let kubeconfig = dir.join(format!("kubeconfig-{tag}"));
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("emulator stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the emulator's first line")?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("unexpected emulator output: {line:?}");
        };
        Ok(Self {
            url: url.to_owned(),
            child,
            kubeconfig,
        })
    }

    async fn client(&self) -> Result<kube::Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One repetition of one tool.
#[derive(Default)]
struct Run {
    first: Duration,
    again: Duration,
    peak_kib: u64,
    base_kib: u64,
    note: String,
}

/// Managed-fields entries of every object: object id -> entries (time dropped).
type FieldsSnapshot = BTreeMap<String, Vec<Value>>;

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets VmHWM to the current RSS (`echo 5 > /proc/self/clear_refs`); false when refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn object_id(m: &Manifest) -> String {
    m.meta.to_string()
}

/// Namespaces for the namespaces the bundle uses and does not create, in front, then the
/// objects with Flux's owner labels (so kubectl applies exactly what Ferry applies).
fn prepare_bundle(yaml: &str, owner: &Owner) -> Result<Vec<Manifest>> {
    let parsed = manifests::parse(yaml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let declared: BTreeSet<String> = parsed
        .iter()
        .filter(|m| m.meta.kind == "Namespace" && m.meta.group.is_empty())
        .map(|m| m.meta.name.clone())
        .collect();
    let used: BTreeSet<String> = parsed
        .iter()
        .map(|m| m.meta.namespace.clone())
        .filter(|ns| !ns.is_empty() && !declared.contains(ns))
        .collect();
    let mut out = Vec::new();
    for ns in used {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        out.push(Manifest::from_value(0, obj).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    out.extend(parsed);
    for (i, m) in out.iter_mut().enumerate() {
        m.index = i;
        m.set_label(apply::OWNER_NAME_LABEL, &owner.name);
        m.set_label(apply::OWNER_NAMESPACE_LABEL, &owner.namespace);
    }
    Ok(out)
}

/// Reads every object's managed fields from the cluster.
async fn snapshot(applier: &Applier, objects: &[Manifest]) -> Result<FieldsSnapshot> {
    let results: Vec<Result<(String, Vec<Value>)>> = futures::stream::iter(objects)
        .map(|m| async move {
            let resolved = applier
                .resolve(&m.meta)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let ns = if resolved.namespaced {
                m.meta.namespace.as_str()
            } else {
                ""
            };
            let api = applier.api_for(&resolved, ns);
            let obj = api
                .get_opt(&m.meta.name)
                .await?
                .with_context(|| format!("{} not found", m.meta))?;
            let value = serde_json::to_value(&obj)?;
            let entries = value
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut e| {
                    if let Some(map) = e.as_object_mut() {
                        map.remove("time");
                    }
                    e
                })
                .collect();
            Ok((object_id(m), entries))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

fn counts(cs: &ChangeSet) -> String {
    [
        Action::Created,
        Action::Configured,
        Action::Unchanged,
        Action::Skipped,
    ]
    .iter()
    .filter(|a| cs.count(**a) > 0)
    .map(|a| format!("{} {}", cs.count(*a), a.as_str()))
    .collect::<Vec<_>>()
    .join(", ")
}

async fn run_ferry(
    args: &Args,
    dir: &Path,
    objects: &[Manifest],
    owner: &Owner,
    rep: usize,
) -> Result<(Run, FieldsSnapshot, FieldsSnapshot)> {
    let emu = Emulator::start(&args.emulator, dir, &format!("ferry-{rep}"))?;
    let client = emu.client().await?;
    let applier = Applier::new(client);
    let opts = |deadline| ApplyOptions {
        owner: owner.clone(),
        force: false,
        target_namespace: None,
        concurrency: args.concurrency,
        deadline,
    };
    let mut run = Run::default();
    let bundle = objects.to_vec();
    let reset = reset_peak_rss();
    run.base_kib = proc_status_kib("VmRSS:").unwrap_or(0);
    let start = Instant::now();
    let cs = applier
        .apply_all(
            bundle,
            &opts(tokio::time::Instant::now() + Duration::from_secs(120)),
        )
        .await
        .map_err(|e| anyhow::anyhow!("ferry first apply: {e}"))?;
    run.first = start.elapsed();
    let first_counts = counts(&cs);
    drop(cs);
    run.peak_kib = proc_status_kib("VmHWM:").unwrap_or(0);
    let after_first = snapshot(&applier, objects).await?;
    let bundle = objects.to_vec();
    reset_peak_rss();
    let start = Instant::now();
    let cs = applier
        .apply_all(
            bundle,
            &opts(tokio::time::Instant::now() + Duration::from_secs(120)),
        )
        .await
        .map_err(|e| anyhow::anyhow!("ferry re-apply: {e}"))?;
    run.again = start.elapsed();
    run.peak_kib = run.peak_kib.max(proc_status_kib("VmHWM:").unwrap_or(0));
    run.note = format!(
        "first: {first_counts}; re-apply: {}{}",
        counts(&cs),
        if reset {
            ""
        } else {
            " (VmHWM not reset: cumulative)"
        }
    );
    let after_again = snapshot(&applier, objects).await?;
    drop(emu);
    Ok((run, after_first, after_again))
}

/// Runs kubectl under `/usr/bin/time -v` (when present); wall time and max RSS in KiB.
fn kubectl_apply(
    args: &Args,
    emu: &Emulator,
    file: &Path,
    cache: &Path,
    log: &Path,
) -> Result<(Duration, u64)> {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-v").arg("-o").arg(log).arg(&args.kubectl);
        c
    } else {
        Command::new(&args.kubectl)
    };
    cmd.arg("apply")
        .arg("--server-side")
        .arg("--validate=false")
        .arg(format!("--field-manager={KUBECTL_MANAGER}"))
        .arg("--kubeconfig")
        .arg(&emu.kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .arg("-f")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().context("running kubectl")?;
    let wall = start.elapsed();
    if !out.status.success() {
        bail!(
            "kubectl apply failed against {}: {}",
            emu.url,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rss = std::fs::read_to_string(log)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    Ok((wall, rss))
}

async fn run_kubectl(
    args: &Args,
    dir: &Path,
    file: &Path,
    objects: &[Manifest],
    rep: usize,
) -> Result<(Run, FieldsSnapshot, FieldsSnapshot)> {
    let emu = Emulator::start(&args.emulator, dir, &format!("kubectl-{rep}"))?;
    let cache = dir.join(format!("kubectl-cache-{rep}"));
    let log = dir.join("time.log");
    let applier = Applier::new(emu.client().await?);
    let mut run = Run::default();
    let (first, rss1) = kubectl_apply(args, &emu, file, &cache, &log)?;
    let after_first = snapshot(&applier, objects).await?;
    let (again, rss2) = kubectl_apply(args, &emu, file, &cache, &log)?;
    let after_again = snapshot(&applier, objects).await?;
    run.first = first;
    run.again = again;
    run.peak_kib = rss1.max(rss2);
    drop(emu);
    Ok((run, after_first, after_again))
}

/// Leaf paths of a fieldsV1 set (`f:spec/f:template/...`).
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, child) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}/{k}")
                };
                if k == "." {
                    out.insert(p);
                } else {
                    paths(child, &p, out);
                }
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

fn entry_of<'a>(entries: &'a [Value], manager: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str) == Some(manager))
        .collect()
}

fn others(entries: &[Value], manager: &str) -> Vec<String> {
    let mut v: Vec<String> = entries
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str) != Some(manager))
        .map(|e| {
            format!(
                "{}/{}{}",
                e.get("manager").and_then(Value::as_str).unwrap_or("?"),
                e.get("operation").and_then(Value::as_str).unwrap_or("?"),
                e.get("subresource")
                    .and_then(Value::as_str)
                    .map(|s| format!("/{s}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    v.sort();
    v
}

/// Compares Ferry's entry with kubectl's, per object; one line per mismatch.
fn compare(
    ferry: &FieldsSnapshot,
    kubectl: &FieldsSnapshot,
    other: &mut BTreeMap<String, usize>,
) -> (usize, Vec<String>) {
    let mut same = 0;
    let mut diffs = Vec::new();
    for (id, f_entries) in ferry {
        let Some(k_entries) = kubectl.get(id) else {
            diffs.push(format!("{id}: missing after kubectl"));
            continue;
        };
        let f = entry_of(f_entries, FIELD_MANAGER);
        let k = entry_of(k_entries, KUBECTL_MANAGER);
        let mut why = Vec::new();
        if f.len() != 1 || k.len() != 1 {
            why.push(format!(
                "{} entries of {FIELD_MANAGER}, {} of {KUBECTL_MANAGER}",
                f.len(),
                k.len()
            ));
        }
        if let (Some(f), Some(k)) = (f.first(), k.first()) {
            for key in ["operation", "apiVersion", "fieldsType", "subresource"] {
                if f.get(key) != k.get(key) {
                    why.push(format!(
                        "{key}: ferry {:?} kubectl {:?}",
                        f.get(key),
                        k.get(key)
                    ));
                }
            }
            if f.get("fieldsV1") != k.get("fieldsV1") {
                let mut fp = BTreeSet::new();
                let mut kp = BTreeSet::new();
                paths(f.get("fieldsV1").unwrap_or(&Value::Null), "", &mut fp);
                paths(k.get("fieldsV1").unwrap_or(&Value::Null), "", &mut kp);
                let only_f: Vec<_> = fp.difference(&kp).cloned().collect();
                let only_k: Vec<_> = kp.difference(&fp).cloned().collect();
                why.push(format!(
                    "fieldsV1 differs: only ferry {only_f:?}; only kubectl {only_k:?}"
                ));
            }
        }
        let (fo, ko) = (
            others(f_entries, FIELD_MANAGER),
            others(k_entries, KUBECTL_MANAGER),
        );
        if fo != ko {
            // Not the tool's entry: the emulator's workload controller writes Deployment status
            // ~300 ms after creation, so whether its entry exists yet depends on timing.
            *other
                .entry(format!("ferry {fo:?} kubectl {ko:?}"))
                .or_default() += 1;
        }
        if why.is_empty() {
            same += 1;
        } else {
            diffs.push(format!("{id}: {}", why.join("; ")));
        }
    }
    (same, diffs)
}

fn stats(v: &[Duration]) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (median, s[0], s[n - 1])
}

fn cell(v: &[Duration]) -> String {
    let (med, min, max) = stats(v);
    format!("{med:.3} s ({min:.3}–{max:.3})")
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let tmp;
    let dir = match &args.workdir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_owned()
        }
    };
    let owner = Owner {
        name: "bench".into(),
        namespace: "flux-system".into(),
    };
    let yaml = std::fs::read_to_string(&args.bundle)
        .with_context(|| format!("reading {}", args.bundle.display()))?;
    let objects = prepare_bundle(&yaml, &owner)?;
    drop(yaml);
    // kubectl gets exactly the objects Ferry applies (owner labels included), JSON documents.
    let file = dir.join("bundle.yaml");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
        for m in &objects {
            writeln!(f, "---")?;
            serde_json::to_writer(&mut f, &m.object)?;
            writeln!(f)?;
        }
        f.flush()?;
    }
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for m in &objects {
        *kinds.entry(m.meta.kind.clone()).or_default() += 1;
    }

    let mut ferry_runs = Vec::new();
    let mut kubectl_runs = Vec::new();
    let mut mismatch_first: BTreeMap<String, usize> = BTreeMap::new();
    let mut mismatch_again: BTreeMap<String, usize> = BTreeMap::new();
    let mut same_first = Vec::new();
    let mut other_managers: BTreeMap<String, usize> = BTreeMap::new();
    let mut same_again = Vec::new();
    for rep in 1..=args.runs {
        let (f, f1, f2) = run_ferry(&args, &dir, &objects, &owner, rep).await?;
        let (k, k1, k2) = run_kubectl(&args, &dir, &file, &objects, rep).await?;
        let (s1, d1) = compare(&f1, &k1, &mut other_managers);
        let (s2, d2) = compare(&f2, &k2, &mut other_managers);
        eprintln!(
            "run {rep}: ferry {:.3}s / {:.3}s ({}), kubectl {:.3}s / {:.3}s; managed fields identical {s1}/{} then {s2}/{}",
            f.first.as_secs_f64(),
            f.again.as_secs_f64(),
            f.note,
            k.first.as_secs_f64(),
            k.again.as_secs_f64(),
            f1.len(),
            f2.len()
        );
        for d in d1 {
            *mismatch_first.entry(d).or_default() += 1;
        }
        for d in d2 {
            *mismatch_again.entry(d).or_default() += 1;
        }
        same_first.push(s1);
        same_again.push(s2);
        ferry_runs.push(f);
        kubectl_runs.push(k);
    }

    let n = objects.len();
    let f_first: Vec<_> = ferry_runs.iter().map(|r| r.first).collect();
    let f_again: Vec<_> = ferry_runs.iter().map(|r| r.again).collect();
    let k_first: Vec<_> = kubectl_runs.iter().map(|r| r.first).collect();
    let k_again: Vec<_> = kubectl_runs.iter().map(|r| r.again).collect();
    let ratio = |k: &[Duration], f: &[Duration]| stats(k).0 / stats(f).0;
    let f_rss = ferry_runs.iter().map(|r| r.peak_kib).max().unwrap_or(0);
    let k_rss = kubectl_runs.iter().map(|r| r.peak_kib).max().unwrap_or(0);
    let mib = |k: u64| k as f64 / 1024.0;

    println!(
        "bundle: {n} objects ({}), owner labels of Kustomization {}/{} on every object",
        kinds
            .iter()
            .map(|(k, c)| format!("{c} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        owner.namespace,
        owner.name
    );
    println!(
        "runs per tool: {} (fresh kube-emulator process per tool and run); Ferry concurrency {}; median wall (min–max)",
        args.runs, args.concurrency
    );
    println!("ferry change sets: {}", ferry_runs[0].note);
    println!();
    println!("| step | Ferry applier (in-process) | kubectl apply --server-side | speed-up |");
    println!("|---|---|---|---|");
    println!(
        "| first apply ({n} objects) | {} | {} | {:.1}× |",
        cell(&f_first),
        cell(&k_first),
        ratio(&k_first, &f_first)
    );
    println!(
        "| no-op re-apply | {} | {} | {:.1}× |",
        cell(&f_again),
        cell(&k_again),
        ratio(&k_again, &f_again)
    );
    let f_rss1 = ferry_runs[0].peak_kib;
    println!(
        "| peak RSS | {:.1} MiB in run 1, {:.1} MiB max over runs (VmHWM of the whole bench process, {:.1} MiB before the apply in run 1) | {:.1} MiB max over runs (/usr/bin/time -v) | {:.1}× less (max against max) |",
        mib(f_rss1),
        mib(f_rss),
        mib(ferry_runs[0].base_kib),
        mib(k_rss),
        k_rss as f64 / f_rss.max(1) as f64
    );
    println!();
    let min = |v: &[usize]| v.iter().copied().min().unwrap_or(0);
    println!(
        "managed fields (the {FIELD_MANAGER} entry vs the {KUBECTL_MANAGER} entry: one entry each, same operation, apiVersion, fieldsType, subresource and fieldsV1), per object: identical for {}/{n} after the first apply and {}/{n} after the re-apply (worst run)",
        min(&same_first),
        min(&same_again)
    );
    if !other_managers.is_empty() {
        println!();
        println!(
            "entries of other managers that differ (timing of the emulator's status writer, not the tools), objects x snapshots over all runs:"
        );
        for (d, c) in &other_managers {
            println!("- {d}: {c}");
        }
    }
    for (title, list) in [
        ("after the first apply", &mismatch_first),
        ("after the re-apply", &mismatch_again),
    ] {
        if list.is_empty() {
            continue;
        }
        println!();
        println!("mismatches {title} ({} distinct; first 20):", list.len());
        for (d, c) in list.iter().take(20) {
            println!("- {d} (in {c} of {} runs)", args.runs);
        }
    }
    Ok(())
}
