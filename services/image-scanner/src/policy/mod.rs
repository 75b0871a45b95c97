//! ImagePolicy evaluation: filter tags, order them by semver, alphabet or number, pick the
//! latest, and optionally reflect its digest into `status.latestRef`.

use std::collections::HashMap;

use flux_api::image::{ImagePolicySpec, ImageRef, ReflectionPolicy, SortOrder};
use flux_semver::Constraint;
use regex::Regex;

use crate::registry::{ImageName, RegistryAuthSource, RegistryClient, RegistryError};

/// Why a policy cannot pick a tag.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// `spec.policy` does not set exactly one of semver, alphabetical, numerical.
    #[error("spec.policy must set exactly one of semver, alphabetical or numerical")]
    NoSinglePolicy,
    /// The semver range does not parse.
    #[error("invalid semver range {range:?}: {source}")]
    InvalidRange {
        /// The range as written.
        range: String,
        /// The parser's complaint.
        source: flux_semver::ConstraintError,
    },
    /// `filterTags.pattern` is not a valid regex.
    #[error("invalid filterTags.pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// The regex parser's complaint.
        message: String,
    },
    /// The numerical policy met a (filtered, extracted) value that is not a number.
    #[error("numerical policy: {value:?} (from tag {tag:?}) is not a number")]
    NotNumeric {
        /// The value compared.
        value: String,
        /// The tag it came from.
        tag: String,
    },
    /// No tag survives the filter and the policy.
    #[error("no tag matches the policy ({candidates} tags considered)")]
    NoMatch {
        /// Tags left after filtering.
        candidates: usize,
    },
    /// Resolving the chosen tag's digest failed.
    #[error("resolving the digest of the chosen tag: {0}")]
    Digest(#[from] RegistryError),
}

impl PolicyError {
    /// The Ready condition reason Flux's image-reflector-controller uses.
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyError::Digest(e) if e.is_auth() => "AccessDenied",
            _ => "Failure",
        }
    }
}

/// How tags are ordered.
#[derive(Debug, Clone)]
pub enum Ordering {
    /// Highest version satisfying a Masterminds constraint.
    SemVer(Constraint),
    /// Lexical order of the (extracted) value; `Asc` picks the last.
    Alphabetical(SortOrder),
    /// Numeric order (64-bit float, as Go's `ParseFloat`); `Asc` picks the highest.
    Numerical(SortOrder),
}

/// `filterTags`: a pattern tags must match and an optional `extract` template.
#[derive(Debug, Clone)]
pub struct TagFilter {
    pattern: Regex,
    extract: Option<String>,
}

impl TagFilter {
    /// Compiles `pattern`; `extract` uses Go's `Regexp.Expand` syntax (`$name`, `${name}`,
    /// `$1`, `$$`), which the `regex` crate's `Captures::expand` shares.
    pub fn new(pattern: &str, extract: Option<&str>) -> Result<Self, PolicyError> {
        let pattern = Regex::new(pattern).map_err(|e| PolicyError::InvalidPattern {
            pattern: pattern.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self {
            pattern,
            extract: extract.filter(|e| !e.is_empty()).map(str::to_owned),
        })
    }

    /// The value the policy compares for `tag`, or `None` when the tag does not match.
    pub fn apply(&self, tag: &str) -> Option<String> {
        let captures = self.pattern.captures(tag)?;
        Some(match &self.extract {
            Some(template) => {
                let mut out = String::new();
                captures.expand(template, &mut out);
                out
            }
            None => tag.to_owned(),
        })
    }
}

/// A compiled ImagePolicy: optional filter plus ordering.
#[derive(Debug, Clone)]
pub struct Policy {
    ordering: Ordering,
    filter: Option<TagFilter>,
}

impl Policy {
    /// A policy from its parts.
    pub fn new(ordering: Ordering, filter: Option<TagFilter>) -> Self {
        Self { ordering, filter }
    }

    /// Compiles an ImagePolicy spec (range and regex errors are reported here).
    pub fn from_spec(spec: &ImagePolicySpec) -> Result<Self, PolicyError> {
        let choice = &spec.policy;
        let ordering = match (&choice.semver, &choice.alphabetical, &choice.numerical) {
            (Some(semver), None, None) => {
                Ordering::SemVer(Constraint::parse(&semver.range).map_err(|source| {
                    PolicyError::InvalidRange {
                        range: semver.range.clone(),
                        source,
                    }
                })?)
            }
            (None, Some(alpha), None) => Ordering::Alphabetical(alpha.order.unwrap_or_default()),
            (None, None, Some(num)) => Ordering::Numerical(num.order.unwrap_or_default()),
            _ => return Err(PolicyError::NoSinglePolicy),
        };
        let filter = match &spec.filter_tags {
            Some(f) => Some(TagFilter::new(
                f.pattern.as_deref().unwrap_or(""),
                f.extract.as_deref(),
            )?),
            None => None,
        };
        Ok(Self { ordering, filter })
    }

    /// The latest of `tags` under this policy: the original tag, not the extracted value.
    /// When several tags extract to the same value, the last one in `tags` wins (as in Flux).
    pub fn latest<'a>(
        &self,
        tags: impl IntoIterator<Item = &'a str>,
    ) -> Result<&'a str, PolicyError> {
        let mut candidates: Vec<(String, &'a str)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for tag in tags {
            let value = match &self.filter {
                Some(filter) => match filter.apply(tag) {
                    Some(value) => value,
                    None => continue,
                },
                None => tag.to_owned(),
            };
            match index.get(&value) {
                Some(&at) => candidates[at].1 = tag,
                None => {
                    index.insert(value.clone(), candidates.len());
                    candidates.push((value, tag));
                }
            }
        }
        let count = candidates.len();
        let no_match = || PolicyError::NoMatch { candidates: count };
        let chosen = match &self.ordering {
            Ordering::SemVer(constraint) => {
                let best = flux_semver::latest_matching(
                    constraint,
                    candidates.iter().map(|(value, _)| value.as_str()),
                )
                .ok_or_else(no_match)?;
                index.get(best).map(|&at| candidates[at].1)
            }
            Ordering::Alphabetical(order) => {
                let iter = candidates.iter();
                let pick = match order {
                    SortOrder::Asc => iter.max_by(|a, b| a.0.cmp(&b.0)),
                    SortOrder::Desc => iter.min_by(|a, b| a.0.cmp(&b.0)),
                };
                pick.map(|(_, tag)| *tag)
            }
            Ordering::Numerical(order) => {
                let mut numbers = Vec::with_capacity(count);
                for (value, tag) in &candidates {
                    let number = parse_go_float(value).ok_or_else(|| PolicyError::NotNumeric {
                        value: value.clone(),
                        tag: (*tag).to_owned(),
                    })?;
                    numbers.push((number, *tag));
                }
                let iter = numbers.into_iter();
                let pick = match order {
                    SortOrder::Asc => iter.max_by(|a, b| a.0.total_cmp(&b.0)),
                    SortOrder::Desc => iter.min_by(|a, b| a.0.total_cmp(&b.0)),
                };
                pick.map(|(_, tag)| tag)
            }
        };
        chosen.ok_or_else(no_match)
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms tags use: decimal numbers with optional sign,
/// fraction and exponent, and `_`-free. Rust's parser also accepts `inf`/`nan`, Go too.
fn parse_go_float(value: &str) -> Option<f64> {
    if value.is_empty() || value.contains('_') {
        return None;
    }
    value.parse::<f64>().ok()
}

/// Whether to look the digest up for `tag`, or reuse the one in `previous`.
pub fn needs_digest(policy: ReflectionPolicy, tag: &str, previous: Option<&ImageRef>) -> bool {
    match policy {
        ReflectionPolicy::Never => false,
        ReflectionPolicy::Always => true,
        ReflectionPolicy::IfNotPresent => {
            !previous.is_some_and(|prev| prev.tag == tag && prev.digest.is_some())
        }
    }
}

/// Evaluates `spec` over `tags` of `image` and builds `status.latestRef`: `name` is the
/// repository as written in the ImageRepository's `spec.image`, `tag` the chosen tag, and
/// `digest` per `digestReflectionPolicy` (looked up with `client` when needed, else carried
/// over from `previous`).
pub async fn latest_ref(
    spec: &ImagePolicySpec,
    image_spec: &str,
    tags: &[String],
    previous: Option<&ImageRef>,
    client: &RegistryClient,
    auth: &RegistryAuthSource,
) -> Result<ImageRef, PolicyError> {
    let policy = Policy::from_spec(spec)?;
    let tag = policy.latest(tags.iter().map(String::as_str))?.to_owned();
    let reflection = spec.digest_reflection_policy();
    let digest = if needs_digest(reflection, &tag, previous) {
        let image = ImageName::parse(image_spec)?;
        let credentials = auth.resolve(&image).await?;
        Some(client.manifest_digest(&image, &tag, &credentials).await?)
    } else if reflection == ReflectionPolicy::Never {
        None
    } else {
        previous.and_then(|prev| prev.digest.clone())
    };
    Ok(ImageRef {
        name: image_spec.to_owned(),
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests;
