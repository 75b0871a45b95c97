//! One watch on the Kustomizations of `ferry-system`, recording the moment the benchmark saw
//! each become Ready at a revision, so waiting for a revision never polls.

use anyhow::{Context as _, Result, bail};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// What the watch last saw of one Kustomization.
#[derive(Debug, Clone)]
struct Seen {
    ready: bool,
    applied: String,
    message: String,
    at: Instant,
}

/// The Kustomizations of one namespace as the watch sees them; the watch stops on drop.
pub struct KustomizationWatch {
    state: watch::Receiver<(bool, HashMap<String, Seen>)>,
    task: JoinHandle<()>,
}

impl KustomizationWatch {
    /// Starts watching the Kustomizations in `namespace` and waits for the initial list.
    pub async fn start(client: kube::Client, namespace: &str) -> Result<Self> {
        let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
        let api: Api<DynamicObject> =
            Api::namespaced_with(client, namespace, &ApiResource::from_gvk(&gvk));
        let (tx, mut state) = watch::channel((false, HashMap::new()));
        let task = tokio::spawn(follow(api, tx));
        timeout(
            Duration::from_secs(30),
            state.wait_for(|(listed, _)| *listed),
        )
        .await
        .context("the Kustomization watch did not list within 30 s")?
        .context("the Kustomization watch stopped")?;
        Ok(Self { state, task })
    }

    /// Waits until every Kustomization in `names` is Ready=True with `lastAppliedRevision ==
    /// revision`; returns when the watch saw the last of them get there.
    pub async fn wait_ready(
        &self,
        names: &[String],
        revision: &str,
        limit: Duration,
    ) -> Result<Instant> {
        let mut state = self.state.clone();
        let done = |seen: &HashMap<String, Seen>| {
            names.iter().all(|n| {
                seen.get(n)
                    .is_some_and(|s| s.ready && s.applied == revision)
            })
        };
        match timeout(limit, state.wait_for(|(_, seen)| done(seen))).await {
            Ok(Ok(guard)) => Ok(names
                .iter()
                .filter_map(|n| guard.1.get(n).map(|s| s.at))
                .max()
                .unwrap_or_else(Instant::now)),
            Ok(Err(_)) => bail!("the Kustomization watch stopped"),
            Err(_) => bail!(
                "not all {} Kustomizations were Ready at {revision} within {limit:?}; {}",
                names.len(),
                self.lagging(names, revision)
            ),
        }
    }

    /// The first few Kustomizations not yet at `revision`, with their Ready message.
    fn lagging(&self, names: &[String], revision: &str) -> String {
        let state = self.state.borrow();
        let behind: Vec<String> = names
            .iter()
            .filter_map(|n| match state.1.get(n) {
                None => Some(format!("{n}: not seen")),
                Some(s) if !(s.ready && s.applied == revision) => Some(format!(
                    "{n}: ready={} lastAppliedRevision={:?} message={:?}",
                    s.ready, s.applied, s.message
                )),
                Some(_) => None,
            })
            .collect();
        let shown: Vec<&str> = behind.iter().take(5).map(String::as_str).collect();
        format!("{} behind, e.g. {}", behind.len(), shown.join("; "))
    }
}

impl Drop for KustomizationWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(api: Api<DynamicObject>, tx: watch::Sender<(bool, HashMap<String, Seen>)>) {
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()));
    while let Some(event) = events.next().await {
        let at = Instant::now();
        match event {
            Ok(watcher::Event::Apply(obj) | watcher::Event::InitApply(obj)) => {
                if let Some(name) = obj.metadata.name.clone() {
                    let mut seen = seen(&obj.data, at);
                    tx.send_modify(|(_, map)| {
                        // A later status write that changes neither readiness nor revision
                        // must not move the moment the state was first seen.
                        if let Some(old) = map.get(&name)
                            && old.ready == seen.ready
                            && old.applied == seen.applied
                        {
                            seen.at = old.at;
                        }
                        map.insert(name, seen);
                    });
                }
            }
            Ok(watcher::Event::Delete(obj)) => {
                if let Some(name) = obj.metadata.name {
                    tx.send_modify(|(_, map)| {
                        map.remove(&name);
                    });
                }
            }
            Ok(watcher::Event::InitDone) => tx.send_modify(|(listed, _)| *listed = true),
            Ok(watcher::Event::Init) => {}
            // The watcher re-lists by itself; a short pause keeps a failing API from spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn seen(data: &Value, at: Instant) -> Seen {
    let ready = data["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    Seen {
        ready: ready.is_some_and(|c| c["status"] == "True"),
        applied: data["status"]["lastAppliedRevision"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        message: ready
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default()
            .to_string(),
        at,
    }
}
