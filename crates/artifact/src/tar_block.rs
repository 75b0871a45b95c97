//! Tar records of one chunk: headers normalised the way Git sees a tree (owners, names and times
//! zeroed, modes 644/755/777), with GNU long-name records for paths over 100 bytes.

use crate::chunked::ItemMode;
use crate::pack::PackError;

const FILE_MODE: u32 = 0o644;
const EXEC_MODE: u32 = 0o755;
const LINK_MODE: u32 = 0o777;

/// Tar records without the end-of-archive marker, so chunks can be concatenated.
pub(crate) struct Records {
    tar: tar::Builder<Vec<u8>>,
}

impl Records {
    pub(crate) fn new() -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        tar.mode(tar::HeaderMode::Deterministic);
        Records { tar }
    }

    /// Appends one file or link; a link's `data` is its target.
    pub(crate) fn append(
        &mut self,
        path: &str,
        mode: ItemMode,
        data: &[u8],
    ) -> Result<(), PackError> {
        let write_err = |source| PackError::Write {
            path: path.to_string(),
            source,
        };
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match mode {
            ItemMode::File | ItemMode::Executable => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if mode == ItemMode::Executable {
                    EXEC_MODE
                } else {
                    FILE_MODE
                });
                header.set_size(data.len() as u64);
                self.tar
                    .append_data(&mut header, path, data)
                    .map_err(write_err)
            }
            ItemMode::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(LINK_MODE);
                header.set_size(0);
                let target = String::from_utf8_lossy(data);
                self.tar
                    .append_link(&mut header, path, target.as_ref())
                    .map_err(write_err)
            }
        }
    }

    /// The records written so far. The builder's end-of-archive marker, which it writes when
    /// dropped, goes to the emptied buffer and is discarded: only the last member carries one.
    pub(crate) fn into_bytes(mut self) -> Vec<u8> {
        std::mem::take(self.tar.get_mut())
    }
}
