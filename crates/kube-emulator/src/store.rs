//! Object storage with a global monotonic resourceVersion and a bounded event history.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::EmulatorConfig;
use crate::faults::Faults;
use crate::resources::{Gr, Registry};
use crate::util::now_rfc3339;

/// Type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

/// One change in the store.
#[derive(Debug)]
pub struct WatchEvent {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Event type.
    pub kind: EventType,
    /// Resource.
    pub gr: Gr,
    /// Namespace ("" for cluster scoped).
    pub namespace: String,
    /// The object after the change (before it, for deletes).
    pub object: Value,
    /// The object before the change, if any.
    pub prev: Option<Value>,
}

/// Objects keyed by resource, then by (namespace, name).
pub struct Store {
    objects: HashMap<Gr, BTreeMap<(String, String), Value>>,
    rv: u64,
    history: VecDeque<Arc<WatchEvent>>,
    history_cap: usize,
    compacted: u64,
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

impl Store {
    fn new(history_cap: usize, tx: broadcast::Sender<Arc<WatchEvent>>) -> Self {
        Self {
            objects: HashMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            compacted: 1,
            tx,
        }
    }

    /// Latest resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Highest resourceVersion that can no longer be watched from.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Subscribes to future events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// Events after `rv` still in the history.
    pub fn events_since(&self, rv: u64) -> Vec<Arc<WatchEvent>> {
        self.history.iter().filter(|e| e.rv > rv).cloned().collect()
    }

    /// Drops the whole history.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Reads one object.
    pub fn get(&self, gr: &Gr, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(gr)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Objects of a resource, optionally restricted to a namespace, in key order.
    pub fn list(&self, gr: &Gr, ns: Option<&str>) -> Vec<&Value> {
        match self.objects.get(gr) {
            None => vec![],
            Some(m) => match ns {
                Some(ns) => m
                    .range((ns.to_string(), String::new())..)
                    .take_while(|((n, _), _)| n == ns)
                    .map(|(_, v)| v)
                    .collect(),
                None => m.values().collect(),
            },
        }
    }

    /// All resources that currently have objects.
    pub fn resources(&self) -> Vec<Gr> {
        self.objects
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(g, _)| g.clone())
            .collect()
    }

    fn record(&mut self, kind: EventType, gr: &Gr, ns: &str, object: Value, prev: Option<Value>) {
        let ev = Arc::new(WatchEvent {
            rv: self.rv,
            kind,
            gr: gr.clone(),
            namespace: ns.to_string(),
            object,
            prev,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Stores an object (create or update), assigning the next resourceVersion.
    pub fn put(&mut self, gr: &Gr, mut obj: Value) -> Value {
        self.rv += 1;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
        let ns = crate::util::namespace_of(&obj).to_string();
        let name = crate::util::name_of(&obj).to_string();
        let prev = self
            .objects
            .entry(gr.clone())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(kind, gr, &ns, obj.clone(), prev);
        obj
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, gr: &Gr, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .get_mut(gr)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(self.rv.to_string()));
        }
        self.record(EventType::Deleted, gr, ns, obj.clone(), None);
        Some(obj)
    }
}

/// Mutable state behind one lock: store and registry change together.
pub struct State {
    /// Objects.
    pub store: Store,
    /// Served resources.
    pub registry: Registry,
    /// Merge types for strategic merge patch and server-side apply (built-ins plus CRDs).
    pub merge_schema: Arc<k8s_merge::Schema>,
    /// Next ClusterIP host part.
    pub next_ip: u32,
    /// Next NodePort.
    pub next_node_port: u16,
}

/// Everything the server tasks share.
pub struct Shared {
    /// Configuration.
    pub config: EmulatorConfig,
    /// Locked state.
    pub state: Mutex<State>,
    /// Fault injection.
    pub faults: Faults,
}

impl Shared {
    /// New state with the namespaces a fresh cluster has.
    pub fn new(config: EmulatorConfig) -> Self {
        let (tx, _) = broadcast::channel(config.watch_history.max(64) * 2);
        let mut state = State {
            store: Store::new(config.watch_history, tx),
            registry: Registry::new(),
            merge_schema: Arc::new(k8s_merge::Schema::builtin().clone()),
            next_ip: 1,
            next_node_port: 30000,
        };
        let ns_gr = Gr {
            group: String::new(),
            plural: "namespaces".into(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "uid": uuid::Uuid::new_v4().to_string(),
                    "creationTimestamp": now_rfc3339(),
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            let mut obj = obj;
            crate::patch::seed_managed_fields(&mut obj, "kube-apiserver");
            state.store.put(&ns_gr, obj);
            crate::workloads::namespace_children(&mut state.store, ns);
        }
        let svc_gr = Gr {
            group: String::new(),
            plural: "services".into(),
        };
        let mut kubernetes = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": now_rfc3339(),
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": "10.96.0.1",
                "clusterIPs": ["10.96.0.1"],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                "sessionAffinity": "None",
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        });
        crate::patch::seed_managed_fields(&mut kubernetes, "kube-apiserver");
        state.store.put(&svc_gr, kubernetes);
        Self {
            faults: Faults::new(config.latency, config.error_rate),
            config,
            state: Mutex::new(state),
        }
    }

    /// Drops the watch history.
    pub fn compact(&self) {
        self.state.lock().store.compact();
    }
}
