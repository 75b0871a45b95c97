//! SOPS decryption of a render with age identities (Flux's `spec.decryption`), right before
//! apply: decrypted values live only in the objects handed to the apply, never in the render.

mod cipher;
mod document;
mod files;
mod keys;
mod mac;
mod metadata;
#[cfg(test)]
mod testing;
mod tree;

use flux_api::kustomize::Kustomization;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use serde_json::Value;

use crate::manifests::{self, Manifest};

pub use keys::AgeKeys;

/// Flux's per-object opt-out of decryption.
pub const DECRYPT_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/decrypt";
/// Kustomization annotation (`"true"`) that makes the applier verify each encrypted object's
/// sops MAC. Off by default, as in Flux: the build sorts keys and may add values (namespace,
/// labels, substitutions), so only files encrypted in the build's output shape pass.
pub const VERIFY_MAC_ANNOTATION: &str = "ferry.dev/sops-verify-mac";

/// Why a render cannot be decrypted. Messages name objects, Secret keys and paths, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// A key type or sops feature Ferry does not implement (no retry helps).
    #[error("{0}")]
    Unsupported(String),
    /// Decryption failed: missing Secret, wrong key, tampered value, no decryption configured.
    #[error("{0}")]
    Failed(String),
    /// The render does not parse.
    #[error("{0}")]
    Parse(String),
}

/// A parsed render with its encrypted objects decrypted.
pub struct Decrypted {
    /// Every object of the render, ready to apply.
    pub objects: Vec<Manifest>,
    /// The objects that held encrypted values (their field values must not be shown).
    pub decrypted: Vec<manifests::ObjMeta>,
}

/// What one document needs.
enum Need {
    Nothing,
    Document,
    Files(Vec<String>),
}

/// Parses `yaml` and decrypts every object carrying sops metadata (and every Secret data value
/// that is an encrypted file) with the age identities of `spec.decryption.secretRef`, read
/// through `client`. Any failure fails the whole render, so nothing is half-applied.
pub async fn parse(
    ks: &Kustomization,
    client: &kube::Client,
    yaml: &str,
) -> Result<Decrypted, DecryptError> {
    let parse_err = |e: manifests::ManifestError| DecryptError::Parse(e.to_string());
    let mut docs = manifests::parse_documents(yaml).map_err(parse_err)?;
    let needs: Vec<Need> = docs.iter().map(need_of).collect();
    let mut marked = Vec::new();
    if needs.iter().any(|n| !matches!(n, Need::Nothing)) {
        let (keys, secret) = load_keys(ks, client, &docs, &needs).await?;
        let check = if ks
            .annotations()
            .get(VERIFY_MAC_ANNOTATION)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            document::MacCheck::Verify
        } else {
            document::MacCheck::Skip
        };
        for (index, (doc, need)) in docs.iter_mut().zip(&needs).enumerate() {
            let label = label(index, doc);
            let failure = |unsupported: bool, e: &dyn std::fmt::Display| {
                let msg = format!("{label} {e}");
                if unsupported {
                    DecryptError::Unsupported(msg)
                } else {
                    DecryptError::Failed(msg)
                }
            };
            match need {
                Need::Nothing => continue,
                Need::Document => document::decrypt(doc, &keys, &secret, check)
                    .map_err(|e| failure(e.is_unsupported(), &e))?,
                Need::Files(names) => files::decrypt(doc, names, &keys, &secret)
                    .map_err(|e| failure(e.is_unsupported(), &e))?,
            }
            marked.push(index);
        }
    }
    let objects = manifests::from_values(docs).map_err(parse_err)?;
    let decrypted = objects
        .iter()
        .filter(|m| marked.contains(&m.index))
        .map(|m| m.meta.clone())
        .collect();
    Ok(Decrypted { objects, decrypted })
}

fn need_of(doc: &Value) -> Need {
    let disabled = doc
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DECRYPT_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"));
    if disabled {
        Need::Nothing
    } else if document::is_encrypted(doc) {
        Need::Document
    } else {
        match files::encrypted_keys(doc) {
            names if names.is_empty() => Need::Nothing,
            names => Need::Files(names),
        }
    }
}

/// `document N (Kind namespace/name)`, from whatever identity fields are readable.
fn label(index: usize, doc: &Value) -> String {
    let field = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (kind, ns, name) = (
        field("/kind"),
        field("/metadata/namespace"),
        field("/metadata/name"),
    );
    if kind.starts_with("ENC[") || name.starts_with("ENC[") {
        return format!("render document {index}");
    }
    match ns {
        "" => format!("{kind}/{name}"),
        ns => format!("{kind}/{ns}/{name}"),
    }
}

/// The age identities of `spec.decryption.secretRef`, with the Secret's `namespace/name`.
async fn load_keys(
    ks: &Kustomization,
    client: &kube::Client,
    docs: &[Value],
    needs: &[Need],
) -> Result<(AgeKeys, String), DecryptError> {
    let first = needs
        .iter()
        .position(|n| !matches!(n, Need::Nothing))
        .map(|i| label(i, &docs[i]))
        .unwrap_or_default();
    let Some(decryption) = &ks.spec.decryption else {
        return Err(DecryptError::Failed(format!(
            "{first} is SOPS-encrypted, configuring decryption is required for it to be reconciled: set spec.decryption (provider: sops, secretRef: a Secret with the age identity under a .agekey key)"
        )));
    };
    let namespace = ks.namespace().unwrap_or_default();
    let Some(secret_ref) = &decryption.secret_ref else {
        return Err(DecryptError::Failed(format!(
            "{first} is SOPS-encrypted but spec.decryption.secretRef is not set, so there is no age identity to decrypt it with: reference a Secret in namespace {namespace} holding the identity under a .agekey key"
        )));
    };
    let secret_name = format!("{namespace}/{}", secret_ref.name);
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = api
        .get_opt(&secret_ref.name)
        .await
        .map_err(|e| {
            DecryptError::Failed(format!(
                "reading decryption Secret {secret_name} (spec.decryption.secretRef): {e}"
            ))
        })?
        .ok_or_else(|| {
            DecryptError::Failed(format!(
                "decryption Secret {secret_name} (spec.decryption.secretRef) not found"
            ))
        })?;
    let data = flux_api::meta::secret_bytes(secret);
    let keys = AgeKeys::from_secret(&secret_name, &data).map_err(|e| match e {
        keys::KeyError::Unsupported { .. } => DecryptError::Unsupported(e.to_string()),
        keys::KeyError::Malformed { .. } => DecryptError::Failed(e.to_string()),
    })?;
    Ok((keys, secret_name))
}

/// The value shown instead of a decrypted object's field values (gRPC `Diff`).
pub const REDACTED: &str = "<redacted: SOPS-decrypted>";

/// Hides the field values of decrypted objects in a planned change set; the paths stay.
pub fn redact(planned: &mut [crate::plan::PlannedChange], decrypted: &[manifests::ObjMeta]) {
    let hidden = |m: &manifests::ObjMeta| {
        decrypted.iter().any(|d| {
            d.group == m.group
                && d.kind == m.kind
                && d.name == m.name
                && (d.namespace == m.namespace || d.namespace.is_empty())
        })
    };
    for change in planned.iter_mut().filter(|p| hidden(&p.meta)) {
        for field in &mut change.changes {
            for v in [&mut field.before, &mut field.after].into_iter().flatten() {
                *v = Value::String(REDACTED.into());
            }
        }
    }
}

impl From<DecryptError> for crate::reconcile::ReconcileError {
    /// Flux reports decryption failures as build failures; unsupported key types stall.
    fn from(e: DecryptError) -> Self {
        match e {
            DecryptError::Unsupported(m) => Self::Unsupported(m),
            DecryptError::Failed(m) | DecryptError::Parse(m) => Self::Build(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_need_decryption_unless_flux_s_opt_out_annotation_says_disabled() {
        let sops = json!({"mac": "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]"});
        let doc = json!({"kind": "Secret", "metadata": {"name": "s"}, "sops": sops});
        assert!(matches!(need_of(&doc), Need::Document));
        let mut opted_out = doc.clone();
        opted_out["metadata"]["annotations"] = json!({DECRYPT_ANNOTATION: "Disabled"});
        assert!(matches!(need_of(&opted_out), Need::Nothing));
        let plain = json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA=="}});
        assert!(matches!(need_of(&plain), Need::Nothing));
    }

    #[test]
    fn labels_name_the_object_but_never_ciphertext() {
        let doc = json!({"kind": "Secret", "metadata": {"name": "db", "namespace": "apps"}});
        assert_eq!(label(0, &doc), "Secret/apps/db");
        let enc = json!({"kind": "ENC[AES256_GCM,data:AA==]", "metadata": {"name": "x"}});
        assert_eq!(label(3, &enc), "render document 3");
    }
}
