//! What the benchmark does to the stack besides Git: apply manifests, find a Receiver's
//! webhook path, call it.

use anyhow::{Context as _, Result, bail};
use ferry_integration_tests::stack::Stack;
use std::time::Duration;
use tokio::time::{Instant, sleep};

/// `kubectl apply --server-side` of a multi-document `manifest`.
pub async fn apply(stack: &Stack, manifest: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.yaml");
    std::fs::write(&path, manifest)?;
    stack
        .kube
        .kubectl(&["apply", "--server-side", "-f", &path.display().to_string()])
        .await?;
    Ok(())
}

/// The `status.webhookPath` of Receiver `name` in `ferry-system`, once it has one.
pub async fn webhook_path(stack: &Stack, name: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = stack
            .kube
            .kubectl(&[
                "get",
                "receiver",
                name,
                "-n",
                "ferry-system",
                "-o",
                "jsonpath={.status.webhookPath}",
            ])
            .await?;
        if !path.trim().is_empty() {
            return Ok(path.trim().to_string());
        }
        if Instant::now() > deadline {
            bail!("Receiver {name} has no status.webhookPath after 60 s");
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// POSTs the generic Receiver's webhook at `path`.
pub async fn call_webhook(stack: &Stack, client: &reqwest::Client, path: &str) -> Result<()> {
    let response = client
        .post(format!("http://{}{path}", stack.receiver))
        .body("{}")
        .send()
        .await
        .context("calling the Receiver webhook")?;
    if !response.status().is_success() {
        bail!("the Receiver webhook answered {}", response.status());
    }
    Ok(())
}
