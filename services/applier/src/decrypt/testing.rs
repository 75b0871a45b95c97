//! Test support: documents encrypted by the independent test-side sops encryptor.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::keys::AgeKeys;

/// `doc` encrypted by the test-side sops encryptor (see tests/fixtures/sops_encrypt.py: no
/// real sops binary is available here) for a fresh `age-keygen` identity.
pub fn encrypted(doc: &Value, args: &[&str]) -> (Value, AgeKeys) {
    let keygen = Command::new("age-keygen")
        .output()
        .expect("age-keygen runs");
    let identity = String::from_utf8(keygen.stdout).expect("utf-8");
    let recipient = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sops_encrypt.py"
    );
    let mut child = Command::new("python3")
        .args([script, "--recipient", recipient])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(doc.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("encryptor finishes");
    assert!(out.status.success());
    let data = BTreeMap::from([("k.agekey".to_owned(), identity.into_bytes())]);
    let keys = AgeKeys::from_secret("ns/keys", &data).expect("identity parses");
    (serde_json::from_slice(&out.stdout).expect("JSON"), keys)
}
