//! The multi-member artifact is a standard tar.gz: GNU `tar xzf` extracts every file, link and
//! mode of it, and Ferry's own unpacker agrees.

use ferry_artifact::{Entry, EntryKind, UnpackLimits, pack, unpack};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn tree() -> Vec<Entry> {
    let mut entries: Vec<Entry> = (0..300)
        .map(|i| {
            Entry::file(
                format!("apps/svc-{i:03}/deploy.yaml"),
                format!("name: svc-{i}\n"),
            )
        })
        .collect();
    entries.push(Entry {
        path: "bin/run.sh".into(),
        kind: EntryKind::File {
            data: b"#!/bin/sh\necho hi\n".to_vec(),
            executable: true,
        },
    });
    entries.push(Entry::symlink("latest", "apps/svc-007/deploy.yaml"));
    entries.push(Entry::file(
        format!("{}/long.yaml", "d".repeat(140)),
        "long: true\n",
    ));
    entries.push(Entry::file("empty.txt", ""));
    entries
}

fn check_extracted(root: &Path) {
    for i in 0..300 {
        let data = std::fs::read_to_string(root.join(format!("apps/svc-{i:03}/deploy.yaml")))
            .expect("every file extracted");
        assert_eq!(data, format!("name: svc-{i}\n"));
    }
    let script = root.join("bin/run.sh");
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let link = std::fs::read_link(root.join("latest")).expect("a link, not a copy");
    assert_eq!(link, Path::new("apps/svc-007/deploy.yaml"));
    let long = root.join(format!("{}/long.yaml", "d".repeat(140)));
    assert_eq!(std::fs::read_to_string(long).unwrap(), "long: true\n");
    assert_eq!(std::fs::read(root.join("empty.txt")).unwrap(), b"");
}

#[test]
fn gnu_tar_extracts_every_entry_of_a_multi_member_artifact() {
    let packed = pack(tree()).expect("pack");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("artifact.tar.gz");
    std::fs::write(&archive, &packed.bytes).unwrap();
    let out = dir.path().join("tar");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar xzf failed: {status}");
    check_extracted(&out);

    let ours = dir.path().join("ferry");
    unpack(&packed.bytes, &ours, UnpackLimits::default()).expect("unpack");
    check_extracted(&ours);
}

#[test]
fn gzip_sees_one_stream_of_many_members_and_tar_lists_every_path() {
    let packed = pack(tree()).expect("pack");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("artifact.tar.gz");
    std::fs::write(&archive, &packed.bytes).unwrap();
    let listing = Command::new("tar")
        .arg("tzf")
        .arg(&archive)
        .output()
        .expect("run tar");
    assert!(listing.status.success());
    let names = String::from_utf8(listing.stdout).unwrap();
    assert_eq!(names.lines().count(), tree().len());
    let test = Command::new("gzip")
        .arg("-t")
        .arg(&archive)
        .status()
        .expect("gzip");
    assert!(test.success(), "gzip -t rejects the artifact");
}
