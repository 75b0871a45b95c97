//! Unpacks an artifact into a directory without ever writing outside it.

use crate::entry::{Entry, EntryKind};
use crate::pack::is_clean_relative;
use flate2::read::MultiGzDecoder;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Bounds on what an artifact may unpack to, so a hostile tarball cannot fill a disk.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Most entries (files, links, directories).
    pub max_entries: usize,
    /// Most bytes of file content in total.
    pub max_total_bytes: u64,
    /// Most bytes in one file.
    pub max_file_bytes: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_entries: 100_000,
            max_total_bytes: 1 << 30,
            max_file_bytes: 64 << 20,
        }
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackSummary {
    /// Regular files written.
    pub files: usize,
    /// Symbolic links created (as links; never followed while unpacking).
    pub symlinks: usize,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Why an artifact could not be unpacked. Nothing outside the destination is touched in any case.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The gzip or tar stream is malformed.
    #[error("reading the artifact archive")]
    Read(#[source] std::io::Error),
    /// An entry's path is absolute or climbs out with `..`.
    #[error("archive entry {0:?} would land outside the destination")]
    PathEscape(String),
    /// An entry would be written through a symbolic link created by an earlier entry.
    #[error("archive entry {0:?} would be written through a symbolic link")]
    ThroughSymlink(String),
    /// Hard links, devices and FIFOs are not allowed in artifacts.
    #[error("archive entry {path:?} has unsupported type {kind}")]
    UnsupportedEntry {
        /// The entry.
        path: String,
        /// Its tar entry type.
        kind: String,
    },
    /// A limit in [`UnpackLimits`] was exceeded.
    #[error("artifact exceeds the limit of {limit}: {what}")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// Writing to the destination failed.
    #[error("writing {path}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Unpacks the tar.gz in `archive` into `dest` (created if missing), within `limits`.
pub fn unpack(
    archive: &[u8],
    dest: &Path,
    limits: UnpackLimits,
) -> Result<UnpackSummary, UnpackError> {
    create_dir(dest)?;
    let mut tar = tar::Archive::new(MultiGzDecoder::new(archive));
    let mut summary = UnpackSummary::default();
    let mut seen = 0usize;
    for entry in tar.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        seen += 1;
        if seen > limits.max_entries {
            return Err(UnpackError::TooLarge {
                what: "entries",
                limit: limits.max_entries as u64,
            });
        }
        let rel = entry_path(&entry)?;
        let target = dest.join(&rel);
        refuse_symlinked_parents(dest, &rel)?;
        match entry.header().entry_type() {
            tar::EntryType::Directory => create_dir(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let written = write_file(&mut entry, &target, &limits, summary.bytes)?;
                summary.files += 1;
                summary.bytes += written;
            }
            tar::EntryType::Symlink => {
                write_symlink(&entry, &rel, &target)?;
                summary.symlinks += 1;
            }
            other => {
                return Err(UnpackError::UnsupportedEntry {
                    path: rel,
                    kind: format!("{other:?}"),
                });
            }
        }
    }
    Ok(summary)
}

/// Reads an artifact's files and links into memory (for includes), within `limits`.
pub fn read_entries(archive: &[u8], limits: UnpackLimits) -> Result<Vec<Entry>, UnpackError> {
    let mut tar = tar::Archive::new(MultiGzDecoder::new(archive));
    let mut entries = Vec::new();
    let mut total = 0u64;
    for entry in tar.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        if entries.len() >= limits.max_entries {
            return Err(UnpackError::TooLarge {
                what: "entries",
                limit: limits.max_entries as u64,
            });
        }
        let path = entry_path(&entry)?;
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                (&mut entry)
                    .take(limits.max_file_bytes + 1)
                    .read_to_end(&mut data)
                    .map_err(UnpackError::Read)?;
                total += data.len() as u64;
                if data.len() as u64 > limits.max_file_bytes || total > limits.max_total_bytes {
                    return Err(UnpackError::TooLarge {
                        what: "bytes",
                        limit: limits.max_total_bytes,
                    });
                }
                let executable = entry.header().mode().unwrap_or(0o644) & 0o111 != 0;
                EntryKind::File { data, executable }
            }
            tar::EntryType::Symlink => EntryKind::Symlink {
                target: entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
            },
            other => {
                return Err(UnpackError::UnsupportedEntry {
                    path,
                    kind: format!("{other:?}"),
                });
            }
        };
        entries.push(Entry { path, kind });
    }
    Ok(entries)
}

fn entry_path<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, UnpackError> {
    let raw = entry.path_bytes();
    let text = String::from_utf8_lossy(&raw);
    let trimmed = text.trim_start_matches("./").trim_end_matches('/');
    if !is_clean_relative(trimmed) {
        return Err(UnpackError::PathEscape(text.into_owned()));
    }
    Ok(trimmed.to_string())
}

/// Every parent of `rel` inside `dest` must be a real directory (or absent), never a link.
fn refuse_symlinked_parents(dest: &Path, rel: &str) -> Result<(), UnpackError> {
    let mut current = dest.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        current.push(part);
        if let Ok(meta) = fs::symlink_metadata(&current)
            && meta.file_type().is_symlink()
        {
            return Err(UnpackError::ThroughSymlink(rel.to_string()));
        }
    }
    Ok(())
}

fn write_file<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    target: &Path,
    limits: &UnpackLimits,
    written_so_far: u64,
) -> Result<u64, UnpackError> {
    let size = entry.header().size().map_err(UnpackError::Read)?;
    if size > limits.max_file_bytes {
        return Err(UnpackError::TooLarge {
            what: "bytes in one file",
            limit: limits.max_file_bytes,
        });
    }
    if written_so_far + size > limits.max_total_bytes {
        return Err(UnpackError::TooLarge {
            what: "bytes in total",
            limit: limits.max_total_bytes,
        });
    }
    if let Some(parent) = target.parent() {
        create_dir(parent)?;
    }
    let mode = entry.header().mode().unwrap_or(0o644);
    let mut data = Vec::with_capacity(size as usize);
    // `take` guards against a header that understates the content.
    entry
        .take(limits.max_file_bytes + 1)
        .read_to_end(&mut data)
        .map_err(UnpackError::Read)?;
    let io_err = |source| UnpackError::Write {
        path: target.to_path_buf(),
        source,
    };
    // A pre-existing link at the target is replaced, never written through.
    remove_if_symlink(target).map_err(io_err)?;
    let mut file = fs::File::create(target).map_err(io_err)?;
    file.write_all(&data).map_err(io_err)?;
    set_mode(target, mode & 0o755).map_err(io_err)?;
    Ok(data.len() as u64)
}

fn write_symlink<R: Read>(
    entry: &tar::Entry<'_, R>,
    rel: &str,
    target: &Path,
) -> Result<(), UnpackError> {
    let link = entry
        .link_name_bytes()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .ok_or_else(|| UnpackError::UnsupportedEntry {
            path: rel.to_string(),
            kind: "symlink without target".into(),
        })?;
    if let Some(parent) = target.parent() {
        create_dir(parent)?;
    }
    let io_err = |source| UnpackError::Write {
        path: target.to_path_buf(),
        source,
    };
    remove_if_symlink(target).map_err(io_err)?;
    make_symlink(&link, target).map_err(io_err)
}

fn create_dir(path: &Path) -> Result<(), UnpackError> {
    fs::create_dir_all(path).map_err(|source| UnpackError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn remove_if_symlink(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::remove_file(path),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn make_symlink(link: &str, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(link, at)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn make_symlink(_link: &str, _at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("symbolic links need a unix host"))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
