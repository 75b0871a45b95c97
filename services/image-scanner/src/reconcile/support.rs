//! Small reads and writes the reconcilers share: Secrets, label selectors, events.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::collections::BTreeMap;

/// The decoded `data` (and `stringData`) of Secret `namespace/name`; `Ok(None)` when missing.
pub async fn secret_data(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let api: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| format!("failed to get secret '{namespace}/{name}': {e}"))?;
    Ok(secret.map(flux_api::meta::secret_bytes))
}

/// Like [`secret_data`], with a missing Secret as an error naming it.
pub async fn required_secret(
    kube: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    secret_data(kube, namespace, name)
        .await?
        .ok_or_else(|| format!("secret '{namespace}/{name}' not found"))
}

/// Whether `labels` satisfy `selector` (matchLabels and matchExpressions with `In`, `NotIn`,
/// `Exists`, `DoesNotExist`); an empty selector matches everything.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    for (key, value) in selector.match_labels.iter().flatten() {
        if labels.get(key) != Some(value) {
            return Ok(false);
        }
    }
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.clone().unwrap_or_default();
        let present = labels.get(&expr.key);
        let ok = match expr.operator.as_str() {
            "In" => {
                if values.is_empty() {
                    return Err(format!("operator In on {:?} needs values", expr.key));
                }
                present.is_some_and(|v| values.contains(v))
            }
            "NotIn" => {
                if values.is_empty() {
                    return Err(format!("operator NotIn on {:?} needs values", expr.key));
                }
                !present.is_some_and(|v| values.contains(v))
            }
            "Exists" => present.is_some(),
            "DoesNotExist" => present.is_none(),
            other => return Err(format!("unknown selector operator {other:?}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records a Kubernetes event on `object`; failing to record one never fails a reconcile.
pub async fn record_event(
    kube: &kube::Client,
    instance: &str,
    object: &ObjectReference,
    warning: bool,
    reason: &str,
    note: String,
) {
    let recorder = Recorder::new(
        kube.clone(),
        Reporter {
            controller: "image-scanner".into(),
            instance: Some(instance.to_owned()),
        },
    );
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, object).await {
        tracing::warn!(error = %e, "Could not record an event.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn selectors_match_labels_and_expressions() {
        let labels = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let empty = LabelSelector::default();
        assert_eq!(selector_matches(&empty, &labels), Ok(true));
        let by_label = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "api".into())])),
            ..LabelSelector::default()
        };
        assert_eq!(selector_matches(&by_label, &labels), Ok(false));
        let expr = |op: &str, values: Option<Vec<String>>| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: op.into(),
                values,
            }]),
            ..LabelSelector::default()
        };
        assert_eq!(
            selector_matches(&expr("In", Some(vec!["web".into()])), &labels),
            Ok(true)
        );
        assert_eq!(
            selector_matches(&expr("NotIn", Some(vec!["web".into()])), &labels),
            Ok(false)
        );
        assert_eq!(
            selector_matches(&expr("DoesNotExist", None), &labels),
            Ok(false)
        );
        assert!(selector_matches(&expr("Near", None), &labels).is_err());
    }
}
