//! `status.webhookPath`: `/hook/` + hex(sha256(token + name + namespace)), as Flux computes it.

use sha2::{Digest, Sha256};

/// The path a Receiver listens on.
pub fn webhook_path(token: &[u8], name: &str, namespace: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token);
    hasher.update(name.as_bytes());
    hasher.update(namespace.as_bytes());
    format!("/hook/{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_sha256_of_token_name_and_namespace() {
        // sha256("secretapp-receiverflux-system")
        let expected = hex::encode(Sha256::digest(b"secretapp-receiverflux-system"));
        assert_eq!(
            webhook_path(b"secret", "app-receiver", "flux-system"),
            format!("/hook/{expected}")
        );
    }

    #[test]
    fn different_namespaces_give_different_paths() {
        assert_ne!(webhook_path(b"t", "r", "a"), webhook_path(b"t", "r", "b"));
    }
}
