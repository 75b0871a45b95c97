//! Unpacking artifacts: round trips, and hostile archives that must not escape the destination.

use ferry_artifact::{Entry, UnpackError, UnpackLimits, pack, read_entries, unpack};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs;

fn hostile_archive(build: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    build(&mut tar);
    tar.into_inner().expect("tar").finish().expect("gzip")
}

fn raw_header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_old();
    // set_path refuses `..`; write the name bytes directly, as an attacker would.
    let name = &mut header.as_old_mut().name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    header
}

#[test]
fn packed_tree_unpacks_to_the_same_files_and_links() {
    let packed = pack([
        Entry::file("apps/deploy.yaml", "kind: Deployment\n"),
        Entry::symlink("apps/link.yaml", "deploy.yaml"),
    ])
    .expect("pack");
    let dir = tempfile::tempdir().expect("tempdir");
    let summary = unpack(&packed.bytes, dir.path(), UnpackLimits::default()).expect("unpack");
    assert_eq!((summary.files, summary.symlinks), (1, 1));
    let content = fs::read_to_string(dir.path().join("apps/deploy.yaml")).expect("read");
    assert_eq!(content, "kind: Deployment\n");
    let link = fs::read_link(dir.path().join("apps/link.yaml")).expect("link");
    assert_eq!(link.to_str(), Some("deploy.yaml"));
}

#[test]
fn dot_dot_entry_is_refused_and_nothing_lands_outside() {
    let archive = hostile_archive(|tar| {
        let header = raw_header("../escape.txt", tar::EntryType::Regular, 3);
        tar.append(&header, &b"bad"[..]).expect("append");
    });
    let outer = tempfile::tempdir().expect("tempdir");
    let dest = outer.path().join("dest");
    let err = unpack(&archive, &dest, UnpackLimits::default()).expect_err("must refuse");
    assert!(matches!(err, UnpackError::PathEscape(_)), "{err:?}");
    assert!(!outer.path().join("escape.txt").exists());
}

#[test]
fn absolute_entry_is_refused() {
    let archive = hostile_archive(|tar| {
        let header = raw_header("/tmp/ferry-abs.txt", tar::EntryType::Regular, 3);
        tar.append(&header, &b"bad"[..]).expect("append");
    });
    let dest = tempfile::tempdir().expect("tempdir");
    let err = unpack(&archive, dest.path(), UnpackLimits::default()).expect_err("must refuse");
    assert!(matches!(err, UnpackError::PathEscape(_)), "{err:?}");
}

#[test]
fn file_written_through_an_archived_symlink_is_refused() {
    let outer = tempfile::tempdir().expect("tempdir");
    let archive = pack([
        Entry::symlink("out", outer.path().display().to_string()),
        Entry::file("out/planted.txt", "bad"),
    ]);
    // pack() accepts this shape (a link and a path under it are distinct entries);
    // unpack() must still refuse to follow the link.
    let archive = archive.expect("pack");
    let dest = outer.path().join("dest");
    let err = unpack(&archive.bytes, &dest, UnpackLimits::default()).expect_err("must refuse");
    assert!(matches!(err, UnpackError::ThroughSymlink(_)), "{err:?}");
    assert!(!outer.path().join("planted.txt").exists());
}

#[test]
fn oversized_artifact_stops_at_the_limit() {
    let packed = pack([Entry::file("big.bin", vec![0u8; 4096])]).expect("pack");
    let dest = tempfile::tempdir().expect("tempdir");
    let limits = UnpackLimits {
        max_file_bytes: 1024,
        ..UnpackLimits::default()
    };
    let err = unpack(&packed.bytes, dest.path(), limits).expect_err("must refuse");
    assert!(matches!(err, UnpackError::TooLarge { .. }), "{err:?}");
}

#[test]
fn hard_links_are_not_allowed() {
    let archive = hostile_archive(|tar| {
        let mut header = raw_header("hard", tar::EntryType::Link, 0);
        header.set_link_name("/etc/passwd").expect("link name");
        header.set_cksum();
        tar.append(&header, &[][..]).expect("append");
    });
    let dest = tempfile::tempdir().expect("tempdir");
    let err = unpack(&archive, dest.path(), UnpackLimits::default()).expect_err("must refuse");
    assert!(
        matches!(err, UnpackError::UnsupportedEntry { .. }),
        "{err:?}"
    );
}

#[test]
fn read_entries_returns_what_was_packed() {
    let original = vec![
        Entry::file("a.yaml", "a"),
        Entry::symlink("b/link", "../a.yaml"),
    ];
    let packed = pack(original.clone()).expect("pack");
    let read = read_entries(&packed.bytes, UnpackLimits::default()).expect("read");
    assert_eq!(read, original);
}
