//! Step 3: `spec.include`: copy other GitRepositories' artifacts (from `fromPath`) into this
//! one at `toPath`. A missing or not-yet-ready include is `IncludeUnavailable`.

use super::{Context, ReconcileError};
use ferry_artifact::{Entry, UnpackLimits, read_entries};
use flux_api::meta::Artifact;
use flux_api::source::GitRepository;
use kube::{Api, ResourceExt};

/// The files an include contributes, already placed at their `toPath`.
#[derive(Debug, Clone)]
pub struct Included {
    /// The included source's artifact (Flux lists these in `status.includedArtifacts`).
    pub artifact: Artifact,
    /// Entries moved under `toPath`.
    pub entries: Vec<Entry>,
}

/// Resolves every include, in order.
pub async fn reconcile_include(
    obj: &GitRepository,
    ctx: &Context,
) -> Result<Vec<Included>, ReconcileError> {
    let includes = obj.spec.include.clone().unwrap_or_default();
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<GitRepository> = Api::namespaced(ctx.kube.clone(), &namespace);
    let mut out = Vec::with_capacity(includes.len());
    for (i, include) in includes.iter().enumerate() {
        let name = &include.repository.name;
        let unavailable =
            |why: String| ReconcileError::IncludeUnavailable(format!("spec.include[{i}]: {why}"));
        let source = api
            .get_opt(name)
            .await
            .map_err(|e| unavailable(format!("could not get GitRepository '{name}': {e}")))?
            .ok_or_else(|| unavailable(format!("GitRepository '{namespace}/{name}' not found")))?;
        let artifact = source
            .status
            .as_ref()
            .and_then(|s| s.artifact.clone())
            .ok_or_else(|| {
                unavailable(format!(
                    "GitRepository '{namespace}/{name}' has no artifact yet"
                ))
            })?;
        let digest = artifact
            .digest
            .parse()
            .map_err(|e| unavailable(format!("artifact digest of '{name}': {e}")))?;
        let bytes = ctx
            .objects
            .get(&digest)
            .await
            .map_err(|e| unavailable(format!("artifact of '{name}' is not in storage: {e}")))?;
        let files = read_entries(&bytes, UnpackLimits::default())
            .map_err(|e| unavailable(format!("artifact of '{name}' is unreadable: {e}")))?;
        let from = include.from_path.as_deref().unwrap_or("");
        let to = include.to_path.as_deref().unwrap_or(name);
        out.push(Included {
            artifact,
            entries: relocate(files, from, to),
        });
    }
    Ok(out)
}

/// Keeps the entries under `from` and moves them under `to`.
fn relocate(entries: Vec<Entry>, from: &str, to: &str) -> Vec<Entry> {
    let from = from.trim_matches('/');
    let to = to.trim_matches('/');
    entries
        .into_iter()
        .filter_map(|mut entry| {
            let rest = if from.is_empty() || from == "." {
                entry.path.clone()
            } else {
                entry.path.strip_prefix(&format!("{from}/"))?.to_string()
            };
            entry.path = if to.is_empty() || to == "." {
                rest
            } else {
                format!("{to}/{rest}")
            };
            Some(entry)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocate_moves_from_path_contents_under_to_path() {
        let entries = vec![
            Entry::file("deploy/a.yaml", "a"),
            Entry::file("src/main.go", "x"),
        ];
        let moved = relocate(entries, "deploy", "vendor/app");
        assert_eq!(moved, vec![Entry::file("vendor/app/a.yaml", "a")]);
    }

    #[test]
    fn relocate_without_from_path_takes_everything() {
        let moved = relocate(vec![Entry::file("a", "1")], "", "lib");
        assert_eq!(moved, vec![Entry::file("lib/a", "1")]);
    }
}
