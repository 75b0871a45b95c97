//! The live objects of one apply stage, listed once per kind and namespace by the owner labels,
//! so re-applying N unchanged objects costs N applies and a few lists instead of N more GETs.

use std::collections::HashMap;

use futures::StreamExt;
use kube::api::{DynamicObject, ListParams};

use crate::apply::{Applier, ApplyOptions, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, Resolved};
use crate::manifests::Manifest;

/// A kind as the API addresses it: group, version, plural.
type ResourceKey = (String, String, String);

/// Owned live objects by kind, namespace and name. An object absent from the index may still
/// exist without our labels (kubectl-created, about to be taken over): callers GET those.
#[derive(Default)]
pub struct LiveIndex {
    objects: HashMap<(ResourceKey, String, String), DynamicObject>,
}

/// Kinds and namespaces with fewer objects than this are not listed: a GET costs the same.
const MIN_OBJECTS_TO_LIST: usize = 2;

fn resource_key(resolved: &Resolved) -> ResourceKey {
    let r = &resolved.resource;
    (r.group.clone(), r.version.clone(), r.plural.clone())
}

impl LiveIndex {
    /// Lists, per kind and namespace holding at least two of `manifests`, the objects that carry
    /// this Kustomization's owner labels. Kinds that cannot be resolved and lists that fail are
    /// left out (the apply reports them or falls back to a GET).
    pub async fn load(applier: &Applier, manifests: &[Manifest], opts: &ApplyOptions) -> Self {
        let mut groups: HashMap<(ResourceKey, String), (Resolved, usize)> = HashMap::new();
        for m in manifests {
            let Ok(resolved) = applier.resolve(&m.meta).await else {
                continue;
            };
            let ns = effective_namespace(&resolved, &m.meta.namespace, opts);
            groups
                .entry((resource_key(&resolved), ns))
                .or_insert((resolved, 0))
                .1 += 1;
        }
        let selector = format!(
            "{OWNER_NAME_LABEL}={},{OWNER_NAMESPACE_LABEL}={}",
            opts.owner.name, opts.owner.namespace
        );
        let lists = futures::stream::iter(
            groups
                .into_iter()
                .filter(|(_, (_, count))| *count >= MIN_OBJECTS_TO_LIST),
        )
        .map(|((key, ns), (resolved, _))| {
            let api = applier.api_for(&resolved, &ns);
            let params = ListParams::default().labels(&selector);
            async move { (key, ns, api.list(&params).await) }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut index = Self::default();
        for (key, ns, result) in lists {
            let Ok(list) = result else { continue };
            for obj in list.items {
                let name = obj.metadata.name.clone().unwrap_or_default();
                index.objects.insert((key.clone(), ns.clone(), name), obj);
            }
        }
        index
    }

    /// `Some(live)` when the kind and namespace were listed and the object carries our labels;
    /// `None` when the caller must ask the API server.
    pub fn lookup(
        &self,
        resolved: &Resolved,
        namespace: &str,
        name: &str,
    ) -> Option<DynamicObject> {
        let key = resource_key(resolved);
        let ns = if resolved.namespaced { namespace } else { "" };
        self.objects
            .get(&(key, ns.to_owned(), name.to_owned()))
            .cloned()
    }
}

/// The namespace `Applier::prepare` will give the object.
fn effective_namespace(resolved: &Resolved, namespace: &str, opts: &ApplyOptions) -> String {
    if !resolved.namespaced {
        return String::new();
    }
    opts.target_namespace
        .clone()
        .unwrap_or_else(|| namespace.to_owned())
}
