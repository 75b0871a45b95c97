//! Setters: rewrite the YAML scalars marked `# {"$imagepolicy": "ns:name[:tag|:name|:digest]"}`
//! with ImagePolicy results, working on the text line by line so comments, key order, quoting
//! and layout stay byte for byte as they were everywhere else.

mod line;
mod walk;

use std::collections::BTreeMap;
use std::fmt;

use flux_api::image::ImageRef;

pub use line::{MarkedValue, find_marked_value};
pub use walk::{DEFAULT_MAX_FILE_SIZE, SkippedFile, UpdateOptions, update_dir};

/// The marker key in a setter comment.
pub const MARKER_KEY: &str = "$imagepolicy";

/// A setter edit failure. Nothing is written when one occurs.
#[derive(Debug, thiserror::Error)]
pub enum SetterError {
    /// `update.path` is absolute or leaves the repository.
    #[error("update.path {0:?} must be a relative path inside the repository")]
    InvalidPath(String),
    /// `update.path` does not exist in the checkout.
    #[error("update.path {0:?} does not exist in the repository")]
    PathNotFound(String),
    /// A file with markers is not valid YAML.
    #[error("{file}: invalid YAML in document {document}: {message}")]
    Yaml {
        /// Repository-relative path.
        file: String,
        /// 1-based document index.
        document: usize,
        /// The parser's message.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} {file}: {source}")]
    Io {
        /// `reading`, `writing`, `listing`.
        action: &'static str,
        /// Repository-relative path.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Which part of the policy's latest image a marker sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetterField {
    /// `ns:name`: the full reference `name:tag` (`name:tag@digest` with a digest).
    Image,
    /// `ns:name:tag`: the tag (`tag@digest` with a digest).
    Tag,
    /// `ns:name:name`: the repository name.
    Name,
    /// `ns:name:digest`: the digest.
    Digest,
}

/// A parsed marker value, e.g. `flux-system:podinfo:tag`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker {
    /// Namespace of the ImagePolicy.
    pub namespace: String,
    /// Name of the ImagePolicy.
    pub name: String,
    /// The part of the image the marked field holds.
    pub field: SetterField,
}

impl Marker {
    /// Parses `ns:name` or `ns:name:field`; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split(':');
        let namespace = parts.next().filter(|s| !s.is_empty())?;
        let name = parts.next().filter(|s| !s.is_empty())?;
        let field = match parts.next() {
            None => SetterField::Image,
            Some("tag") => SetterField::Tag,
            Some("name") => SetterField::Name,
            Some("digest") => SetterField::Digest,
            Some(_) => return None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            field,
        })
    }

    /// The policy key `(namespace, name)`.
    pub fn policy(&self) -> PolicyKey {
        PolicyKey {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The value this marker's field takes for `image`, or `None` (a digest marker on a policy
    /// without a digest).
    pub fn value_for(&self, image: &ImageRef) -> Option<String> {
        let tag = match &image.digest {
            Some(digest) => format!("{}@{digest}", image.tag),
            None => image.tag.clone(),
        };
        match self.field {
            SetterField::Image => Some(format!("{}:{tag}", image.name)),
            SetterField::Tag => Some(tag),
            SetterField::Name => Some(image.name.clone()),
            SetterField::Digest => image.digest.clone(),
        }
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)?;
        match self.field {
            SetterField::Image => Ok(()),
            SetterField::Tag => f.write_str(":tag"),
            SetterField::Name => f.write_str(":name"),
            SetterField::Digest => f.write_str(":digest"),
        }
    }
}

/// An ImagePolicy's namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// The latest image of each ImagePolicy the automation selected.
pub type Policies = BTreeMap<PolicyKey, ImageRef>;

/// The Kubernetes object a changed line belongs to (Flux's `ObjectIdentifier`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One replaced value (Flux's `Change`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The value before.
    pub old_value: String,
    /// The value written.
    pub new_value: String,
    /// The marker value, e.g. `flux-system:app:tag`.
    pub setter: String,
}

/// A marker that was left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedMarker {
    /// Repository-relative path.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The marker value as written.
    pub setter: String,
    /// Why it was not applied.
    pub reason: String,
}

/// The edit of one file's text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextUpdate {
    /// The new text (equal to the input when nothing changed).
    pub text: String,
    /// Changes in file order, with the object each belongs to.
    pub changes: Vec<(ObjectId, Change)>,
    /// Markers that could not be applied: (line, setter, reason).
    pub unresolved: Vec<(usize, String, String)>,
}

/// Everything a setters run changed (Flux's `Result` for the commit message template).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateResult {
    /// Changed files (repository-relative, `/`-separated) → objects → changes, in file order.
    pub files: BTreeMap<String, Vec<(ObjectId, Vec<Change>)>>,
    /// Markers that were not applied (unknown policy, digest missing, malformed marker).
    pub unresolved: Vec<UnresolvedMarker>,
    /// Files not read (too large, not UTF-8).
    pub skipped: Vec<SkippedFile>,
}

impl UpdateResult {
    /// True when no file changed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every change, file by file (Flux's `.Changed.Changes`).
    pub fn changes(&self) -> Vec<&Change> {
        self.files
            .values()
            .flat_map(|objects| objects.iter().flat_map(|(_, changes)| changes.iter()))
            .collect()
    }

    /// Changes per object across files (Flux's `.Changed.Objects`), first-seen order.
    pub fn objects(&self) -> Vec<(&ObjectId, Vec<&Change>)> {
        let mut out: Vec<(&ObjectId, Vec<&Change>)> = Vec::new();
        for objects in self.files.values() {
            for (id, changes) in objects {
                match out.iter_mut().find(|(seen, _)| *seen == id) {
                    Some((_, all)) => all.extend(changes.iter()),
                    None => out.push((id, changes.iter().collect())),
                }
            }
        }
        out
    }
}

/// Applies `policies` to the markers in one YAML text. `file` names it in errors.
pub fn apply_setters(
    file: &str,
    text: &str,
    policies: &Policies,
) -> Result<TextUpdate, SetterError> {
    let documents = line::documents(file, text)?;
    let mut out = String::with_capacity(text.len());
    let mut update = TextUpdate::default();
    for (index, raw_line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let Some(marked) = find_marked_value(raw_line) else {
            out.push_str(raw_line);
            continue;
        };
        let Some(marker) = Marker::parse(&marked.marker) else {
            update.unresolved.push((
                line_no,
                marked.marker.clone(),
                "malformed marker: expected <namespace>:<name>[:tag|:name|:digest]".to_owned(),
            ));
            out.push_str(raw_line);
            continue;
        };
        let Some(image) = policies.get(&marker.policy()) else {
            update.unresolved.push((
                line_no,
                marked.marker.clone(),
                format!(
                    "ImagePolicy {}/{} is not selected or has no latest image",
                    marker.namespace, marker.name
                ),
            ));
            out.push_str(raw_line);
            continue;
        };
        let Some(new_value) = marker.value_for(image) else {
            update.unresolved.push((
                line_no,
                marked.marker.clone(),
                format!(
                    "ImagePolicy {}/{} has no digest (set digestReflectionPolicy)",
                    marker.namespace, marker.name
                ),
            ));
            out.push_str(raw_line);
            continue;
        };
        if marked.value == new_value {
            out.push_str(raw_line);
            continue;
        }
        out.push_str(&marked.replace(raw_line, &new_value));
        let object = documents.object_at(line_no);
        update.changes.push((
            object,
            Change {
                old_value: marked.value.clone(),
                new_value,
                setter: marked.marker.clone(),
            },
        ));
    }
    update.text = out;
    Ok(update)
}

#[cfg(test)]
mod tests;
