//! `certSecretRef`: the real registry serving HTTPS with a certificate from a private CA is
//! refused until the CA from the Secret's `ca.crt` is trusted.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_integration_tests::ports::{free_port, loopback};
use ferry_integration_tests::registry::{Registry, push_image};
use ferry_integration_tests::wait::{STARTUP_TIMEOUT, wait_for_tcp};
use image_scanner::registry::{
    ClientOptions, ImageName, RegistryAuthSource, scan_tags, tls_from_secret_data,
};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs (Debian package openssl)");
    assert!(status.success(), "openssl {args:?}");
}

#[tokio::test]
async fn https_registry_with_a_private_ca_is_trusted_only_with_the_cert_secret_ca() {
    let open = Registry::start().await.expect("docker-registry starts");
    push_image(&open, "tls/app", "3.0.0").await.expect("push");

    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=ferry-test-ca",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tls.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );

    let port = free_port().expect("port");
    let config = d.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: \"{}\"\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: ferry-tls-test\n  tls:\n    certificate: \"{}\"\n    key: \"{}\"\n",
            open.storage_root().display(),
            d.join("tls.crt").display(),
            d.join("tls.key").display(),
        ),
    )
    .expect("config");
    let log = std::fs::File::create(d.join("registry.log")).expect("log");
    let mut registry = tokio::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("docker-registry");
    wait_for_tcp(loopback(port), STARTUP_TIMEOUT)
        .await
        .expect("TLS registry listens");

    let image = ImageName::parse(&format!("127.0.0.1:{port}/tls/app")).expect("image");
    let options = ClientOptions {
        insecure: false,
        timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    let err = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], options.clone())
        .await
        .expect_err("unknown CA is refused");
    assert_eq!(err.reason(), "ReadOperationFailed", "{err}");

    let secret = BTreeMap::from([(
        "ca.crt".to_owned(),
        std::fs::read(d.join("ca.crt")).expect("ca"),
    )]);
    let tls = tls_from_secret_data(&secret).expect("ca.crt");
    let trusted = ClientOptions {
        ca_pem: tls.ca_pem,
        ..options
    };
    let scan = scan_tags(&image, &RegistryAuthSource::Anonymous, &[], trusted)
        .await
        .unwrap_or_else(|e| {
            let log = std::fs::read_to_string(d.join("registry.log")).unwrap_or_default();
            panic!("scan with the CA: {e}\n{log}")
        });
    assert_eq!(scan.tags, ["3.0.0"]);
    let _ = registry.kill().await;
}
