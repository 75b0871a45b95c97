//! One path of a source tree, as it goes into an artifact.

/// A file or symbolic link at a relative, `/`-separated path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path inside the artifact, `/`-separated, no leading `/` or `./`.
    pub path: String,
    /// What is at that path.
    pub kind: EntryKind,
}

/// The content of an entry. Git knows only these three modes, so an artifact does too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file; `executable` is Git's 100755 mode.
    File {
        /// The file's bytes.
        data: Vec<u8>,
        /// Whether Git records the file as executable.
        executable: bool,
    },
    /// A symbolic link, kept as a link and never followed.
    Symlink {
        /// The link target exactly as Git stores it.
        target: String,
    },
}

impl Entry {
    /// A regular, non-executable file.
    pub fn file(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Entry {
            path: path.into(),
            kind: EntryKind::File {
                data: data.into(),
                executable: false,
            },
        }
    }

    /// A symbolic link.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        Entry {
            path: path.into(),
            kind: EntryKind::Symlink {
                target: target.into(),
            },
        }
    }
}
