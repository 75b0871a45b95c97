//! Which paths stay out of an artifact: Flux's default exclusions, `spec.ignore`, and
//! `.sourceignore` files (gitignore syntax, scoped to their directory).

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// Version-control files that never go into an artifact.
const VCS_PATTERNS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Flux's default exclusions, used when `spec.ignore` is not set.
const DEFAULT_PATTERNS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// The file name Flux reads ignore patterns from, in any directory of the source.
pub const SOURCEIGNORE_FILE: &str = ".sourceignore";

/// A pattern that does not parse as gitignore syntax.
#[derive(Debug, thiserror::Error)]
#[error("invalid ignore pattern {pattern:?} in {origin}")]
pub struct IgnoreError {
    /// Where the pattern came from: `spec.ignore` or a `.sourceignore` path.
    pub origin: String,
    /// The offending line.
    pub pattern: String,
    /// The parser's complaint.
    #[source]
    pub source: ignore::Error,
}

/// Layers of gitignore rules; a later layer overrides an earlier one, as Flux applies them.
pub struct IgnoreRules {
    layers: Vec<Gitignore>,
    spec: Option<Gitignore>,
}

impl IgnoreRules {
    /// Rules for a source whose `spec.ignore` is `spec_ignore`: when set it replaces Flux's
    /// default exclusions (version-control files are excluded either way).
    pub fn new(spec_ignore: Option<&str>) -> Result<Self, IgnoreError> {
        let mut base = VCS_PATTERNS.to_vec();
        if spec_ignore.is_none() {
            base.extend_from_slice(DEFAULT_PATTERNS);
        }
        let defaults = build("/", base.iter().copied(), "Flux's default exclusions")?;
        let spec = spec_ignore
            .map(|text| build("/", text.lines(), "spec.ignore"))
            .transpose()?;
        Ok(IgnoreRules {
            layers: vec![defaults],
            spec,
        })
    }

    /// Adds the patterns of a `.sourceignore` found in directory `dir` (relative, `""` for the
    /// root); they apply to paths under that directory only.
    pub fn add_sourceignore(&mut self, dir: &str, content: &str) -> Result<(), IgnoreError> {
        let root = if dir.is_empty() {
            "/".to_string()
        } else {
            format!("/{}/", dir.trim_matches('/'))
        };
        let origin = format!("{}{SOURCEIGNORE_FILE}", root.trim_start_matches('/'));
        self.layers.push(build(&root, content.lines(), &origin)?);
        Ok(())
    }

    /// Whether the relative path is excluded. A path is excluded when it, or any directory
    /// above it, matches; `spec.ignore` has the last word, then the deepest `.sourceignore`.
    pub fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        let abs = format!("/{}", path.trim_start_matches('/'));
        let mut ignored = false;
        for layer in self.layers.iter().chain(self.spec.iter()) {
            if !abs.starts_with(&*layer.path().to_string_lossy()) {
                continue;
            }
            match layer.matched_path_or_any_parents(&abs, is_dir) {
                Match::Ignore(_) => ignored = true,
                Match::Whitelist(_) => ignored = false,
                Match::None => {}
            }
        }
        ignored
    }
}

fn build<'a>(
    root: &str,
    lines: impl Iterator<Item = &'a str>,
    origin: &str,
) -> Result<Gitignore, IgnoreError> {
    let mut builder = GitignoreBuilder::new(root);
    for line in lines {
        builder.add_line(None, line).map_err(|source| IgnoreError {
            origin: origin.to_string(),
            pattern: line.to_string(),
            source,
        })?;
    }
    builder.build().map_err(|source| IgnoreError {
        origin: origin.to_string(),
        pattern: String::new(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exclusions_drop_ci_files_images_and_vcs_files() {
        let rules = IgnoreRules::new(None).expect("rules");
        assert!(rules.is_ignored(".github/workflows/ci.yaml", false));
        assert!(rules.is_ignored("docs/logo.png", false));
        assert!(rules.is_ignored(".gitignore", false));
        assert!(rules.is_ignored("apps/.sops.yaml", false));
        assert!(!rules.is_ignored("apps/deploy.yaml", false));
    }

    #[test]
    fn spec_ignore_replaces_the_defaults_but_not_vcs_files() {
        let rules = IgnoreRules::new(Some("/*\n!/deploy/\n")).expect("rules");
        assert!(!rules.is_ignored("deploy/logo.png", false));
        assert!(rules.is_ignored("src/main.go", false));
        assert!(rules.is_ignored(".gitmodules", false));
    }

    #[test]
    fn sourceignore_applies_only_under_its_directory() {
        let mut rules = IgnoreRules::new(None).expect("rules");
        rules
            .add_sourceignore("apps", "*.txt\n")
            .expect("sourceignore");
        assert!(rules.is_ignored("apps/notes.txt", false));
        assert!(rules.is_ignored("apps/sub/notes.txt", false));
        assert!(!rules.is_ignored("notes.txt", false));
    }

    #[test]
    fn sourceignore_negation_brings_back_a_default_exclusion() {
        let mut rules = IgnoreRules::new(None).expect("rules");
        rules
            .add_sourceignore("", "!keep.png\n")
            .expect("sourceignore");
        assert!(!rules.is_ignored("keep.png", false));
        assert!(rules.is_ignored("other.png", false));
    }
}
