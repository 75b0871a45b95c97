//! Flux revision strings (`main@sha1:<hex>`, `latest@sha256:<hex>`, `sha1:<hex>`) and
//! `<algorithm>:<hex>` digests, with typed parse errors.

use std::fmt;
use std::str::FromStr;

/// A hash algorithm that can appear in a Flux digest or revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// SHA-1 (40 hex digits): Git commits.
    Sha1,
    /// SHA-256 (64 hex digits): OCI digests, artifact digests, SHA-256 Git repositories.
    Sha256,
    /// SHA-384 (96 hex digits).
    Sha384,
    /// SHA-512 (128 hex digits).
    Sha512,
}

impl Algorithm {
    /// The prefix used in strings (`sha1`, `sha256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Number of lowercase hex digits a digest of this algorithm has.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha1 => 40,
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a digest or revision string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionError {
    /// The input was empty.
    #[error("empty revision")]
    Empty,
    /// A digest had no `<algorithm>:` prefix.
    #[error("{0:?} has no algorithm prefix (want e.g. sha256:<hex>)")]
    MissingAlgorithm(String),
    /// The algorithm is not sha1, sha256, sha384 or sha512.
    #[error("unknown digest algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// The hex part has the wrong length for its algorithm.
    #[error("{algorithm} digest must have {expected} hex digits, got {actual}")]
    WrongLength {
        /// The digest algorithm.
        algorithm: Algorithm,
        /// Required number of hex digits.
        expected: usize,
        /// Number of characters found.
        actual: usize,
    },
    /// The hex part contains something other than lowercase hex digits.
    #[error("{0:?} is not lowercase hex")]
    NotHex(String),
    /// The part before `@` is empty.
    #[error("revision {0:?} has an empty name before '@'")]
    EmptyName(String),
    /// A digest was expected to use one algorithm but uses another.
    #[error("expected a {expected} digest, got {actual}")]
    UnexpectedAlgorithm {
        /// Algorithm required by the caller.
        expected: Algorithm,
        /// Algorithm found.
        actual: Algorithm,
    },
}

/// A content digest `<algorithm>:<lowercase hex>`, e.g. `sha256:3b6c…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Builds a digest, checking the hex length and alphabet.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<Self, RevisionError> {
        if hex.len() != algorithm.hex_len() {
            return Err(RevisionError::WrongLength {
                algorithm,
                expected: algorithm.hex_len(),
                actual: hex.chars().count(),
            });
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(RevisionError::NotHex(hex.to_owned()));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// A `sha256:<64 hex>` digest.
    pub fn sha256(hex: &str) -> Result<Self, RevisionError> {
        Self::new(Algorithm::Sha256, hex)
    }

    /// A `sha1:<40 hex>` digest (a Git commit).
    pub fn sha1(hex: &str) -> Result<Self, RevisionError> {
        Self::new(Algorithm::Sha1, hex)
    }

    /// Parses a digest and requires it to be `sha256:<64 hex>`.
    pub fn parse_sha256(s: &str) -> Result<Self, RevisionError> {
        let d: Self = s.parse()?;
        if d.algorithm != Algorithm::Sha256 {
            return Err(RevisionError::UnexpectedAlgorithm {
                expected: Algorithm::Sha256,
                actual: d.algorithm,
            });
        }
        Ok(d)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex value without the prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = RevisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RevisionError::Empty);
        }
        let (algo, hex) = s
            .split_once(':')
            .ok_or_else(|| RevisionError::MissingAlgorithm(s.to_owned()))?;
        let algorithm = Algorithm::from_name(algo)
            .ok_or_else(|| RevisionError::UnknownAlgorithm(algo.to_owned()))?;
        Self::new(algorithm, hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// An artifact revision as Flux writes it in `status.artifact.revision`.
///
/// Parsing rules (the string alone cannot tell a branch from a tag, nor a SHA-256 Git
/// branch from an OCI tag):
/// - `sha1:<hex>` is [`Revision::Commit`]; any other bare digest is [`Revision::Digest`];
/// - `refs/…@<digest>` is [`Revision::Ref`];
/// - `<name>@sha1:<hex>` is [`Revision::Tag`] when `name` is a semantic version
///   (`1.2.3`, `v1.2.3-rc.1`), otherwise [`Revision::Branch`];
/// - `<name>@sha256:<hex>` (and longer digests) is [`Revision::Oci`];
/// - legacy pre-v1 forms `main/<40 hex>` and bare `<40 hex>` are accepted and converted
///   like Flux's `git.TransformRevision` (they format in the new form).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Revision {
    /// A commit reached through a branch: `main@sha1:<hex>`.
    Branch {
        /// Short branch name (`refs/heads/` stripped).
        branch: String,
        /// The commit hash.
        commit: Digest,
    },
    /// A commit reached through a tag (`ref.tag` or the tag chosen by `ref.semver`):
    /// `v1.2.3@sha1:<hex>`.
    Tag {
        /// Short tag name (`refs/tags/` stripped).
        tag: String,
        /// The commit hash.
        commit: Digest,
    },
    /// A commit reached through a full reference (`ref.name`): `refs/pull/1/head@sha1:<hex>`.
    Ref {
        /// The full reference, starting with `refs/`.
        name: String,
        /// The commit hash.
        commit: Digest,
    },
    /// A bare Git commit (`ref.commit` only): `sha1:<hex>`.
    Commit(Digest),
    /// An OCI artifact pulled by tag: `latest@sha256:<hex>`.
    Oci {
        /// The OCI tag.
        tag: String,
        /// The manifest digest.
        digest: Digest,
    },
    /// A bare digest (OCI `ref.digest`, or a commit of a SHA-256 Git repository): `sha256:<hex>`.
    Digest(Digest),
}

impl Revision {
    /// `main@sha1:<hex>` from a branch name and a 40-hex commit.
    pub fn branch(branch: &str, sha1_hex: &str) -> Result<Self, RevisionError> {
        Ok(Self::Branch {
            branch: non_empty(branch)?,
            commit: Digest::sha1(sha1_hex)?,
        })
    }

    /// `v1.2.3@sha1:<hex>` from a tag name and a 40-hex commit.
    pub fn tag(tag: &str, sha1_hex: &str) -> Result<Self, RevisionError> {
        Ok(Self::Tag {
            tag: non_empty(tag)?,
            commit: Digest::sha1(sha1_hex)?,
        })
    }

    /// `refs/…@sha1:<hex>` from a full reference and a 40-hex commit.
    pub fn reference(name: &str, sha1_hex: &str) -> Result<Self, RevisionError> {
        Ok(Self::Ref {
            name: non_empty(name)?,
            commit: Digest::sha1(sha1_hex)?,
        })
    }

    /// `sha1:<hex>` from a 40-hex commit.
    pub fn commit(sha1_hex: &str) -> Result<Self, RevisionError> {
        Ok(Self::Commit(Digest::sha1(sha1_hex)?))
    }

    /// `<tag>@sha256:<hex>` from an OCI tag and a 64-hex manifest digest.
    pub fn oci(tag: &str, sha256_hex: &str) -> Result<Self, RevisionError> {
        Ok(Self::Oci {
            tag: non_empty(tag)?,
            digest: Digest::sha256(sha256_hex)?,
        })
    }

    /// The digest part (commit hash or manifest digest).
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Branch { commit, .. } | Self::Tag { commit, .. } | Self::Ref { commit, .. } => {
                commit
            }
            Self::Commit(d) | Self::Digest(d) => d,
            Self::Oci { digest, .. } => digest,
        }
    }

    /// The named pointer before `@`, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Branch { branch: n, .. }
            | Self::Tag { tag: n, .. }
            | Self::Ref { name: n, .. }
            | Self::Oci { tag: n, .. } => Some(n),
            Self::Commit(_) | Self::Digest(_) => None,
        }
    }
}

fn non_empty(name: &str) -> Result<String, RevisionError> {
    if name.is_empty() {
        return Err(RevisionError::EmptyName(name.to_owned()));
    }
    Ok(name.to_owned())
}

fn is_semver(name: &str) -> bool {
    let core = name.strip_prefix('v').unwrap_or(name);
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_legacy_hash(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn legacy_digest(hex: &str) -> Result<Digest, RevisionError> {
    let algorithm = if hex.len() == 64 {
        Algorithm::Sha256
    } else {
        Algorithm::Sha1
    };
    Digest::new(algorithm, &hex.to_ascii_lowercase())
}

fn git_named(name: &str, commit: Digest) -> Revision {
    if name.starts_with("refs/") {
        Revision::Ref {
            name: name.to_owned(),
            commit,
        }
    } else if is_semver(name) {
        Revision::Tag {
            tag: name.to_owned(),
            commit,
        }
    } else {
        Revision::Branch {
            branch: name.to_owned(),
            commit,
        }
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(RevisionError::Empty);
        }
        if let Some((name, digest)) = s.rsplit_once('@') {
            if name.is_empty() {
                return Err(RevisionError::EmptyName(s.to_owned()));
            }
            let digest: Digest = digest.parse()?;
            return Ok(match digest.algorithm() {
                Algorithm::Sha1 => git_named(name, digest),
                _ if name.starts_with("refs/") => Self::Ref {
                    name: name.to_owned(),
                    commit: digest,
                },
                _ => Self::Oci {
                    tag: name.to_owned(),
                    digest,
                },
            });
        }
        if !s.contains(':') {
            // Legacy (pre-v1) forms: `<sha>` or `<pointer>/<sha>`.
            if is_legacy_hash(s) {
                return Ok(Self::Commit(legacy_digest(s)?));
            }
            if let Some((name, hash)) = s.rsplit_once('/')
                && is_legacy_hash(hash)
            {
                if name.is_empty() {
                    return Err(RevisionError::EmptyName(s.to_owned()));
                }
                return Ok(git_named(name, legacy_digest(hash)?));
            }
        }
        let digest: Digest = s.parse()?;
        Ok(match digest.algorithm() {
            Algorithm::Sha1 => Self::Commit(digest),
            _ => Self::Digest(digest),
        })
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}@{}", self.digest()),
            None => write!(f, "{}", self.digest()),
        }
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(Digest);
string_serde!(Revision);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_serialise_as_their_string_form() {
        let sha = "5394cb7f48332b2de7c17dd8b8384bbc84b7e738";
        let rev = Revision::branch("main", sha).expect("valid");
        let json = serde_json::to_string(&rev).expect("serialise");
        assert_eq!(json, format!("\"main@sha1:{sha}\""));
        let back: Revision = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, rev);
        assert!(serde_json::from_str::<Digest>("\"sha256:xyz\"").is_err());
    }
}
