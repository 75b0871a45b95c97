//! Predicts, for built-in kinds, that a forced server-side apply would change nothing: the same
//! merge and field ownership the API server computes (`k8s-merge`, from the Kubernetes OpenAPI
//! schema), run on the live object in hand. An unchanged object then costs no request.

use k8s_merge::Schema;
use k8s_merge::ssa::{self, ManagedFieldsEntry};
use serde_json::Value;

/// True when applying `desired` as `manager` (forced) to `live` would leave both the object and
/// every managed-fields entry (times aside) as they are. False whenever that cannot be known:
/// kinds outside the built-in schema (custom resources), or anything the merge refuses.
pub fn apply_is_noop(live: &Value, desired: &Value, manager: &str) -> bool {
    let (Some(api_version), Some(kind)) = (
        desired.get("apiVersion").and_then(Value::as_str),
        desired.get("kind").and_then(Value::as_str),
    ) else {
        return false;
    };
    let Some(ty) = Schema::builtin().lookup(api_version, kind) else {
        return false;
    };
    let Ok(managed) = ssa::managed_fields_of(live) else {
        return false;
    };
    // Without entries the server would first attribute everything to before-first-apply.
    if managed.is_empty() {
        return false;
    }
    match ssa::apply(Some(live), desired, manager, true, &managed, ty) {
        Ok(outcome) => !outcome.changed && same_entries(&managed, &outcome.managed_fields),
        Err(_) => false,
    }
}

fn same_entries(before: &[ManagedFieldsEntry], after: &[ManagedFieldsEntry]) -> bool {
    let key = |e: &ManagedFieldsEntry| {
        (
            e.manager.clone(),
            e.operation,
            e.api_version.clone(),
            e.subresource.clone(),
            e.fields_v1.clone(),
        )
    };
    let mut a: Vec<_> = before.iter().map(key).collect();
    let mut b: Vec<_> = after.iter().map(key).collect();
    a.sort_by(|x, y| (&x.0, &x.2, &x.3).cmp(&(&y.0, &y.2, &y.3)));
    b.sort_by(|x, y| (&x.0, &x.2, &x.3).cmp(&(&y.0, &y.2, &y.3)));
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MANAGER: &str = "ferry-applier";

    fn desired(value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a", "namespace": "ns", "labels": {"app": "a"}},
               "data": {"key": value}})
    }

    /// The object as the server holds it after `MANAGER` applied `desired(value)`.
    fn live_after_apply(value: &str) -> Value {
        let ty = Schema::builtin()
            .lookup("v1", "ConfigMap")
            .expect("ConfigMap");
        let created = ssa::apply(None, &desired(value), MANAGER, true, &[], ty).expect("apply");
        let mut live = created.object;
        live["metadata"]["uid"] = json!("u1");
        live["metadata"]["resourceVersion"] = json!("7");
        live
    }

    #[test]
    fn reapplying_what_the_server_holds_is_a_noop() {
        assert!(apply_is_noop(
            &live_after_apply("v"),
            &desired("v"),
            MANAGER
        ));
    }

    #[test]
    fn a_changed_value_a_dropped_field_or_an_edit_by_another_manager_is_not() {
        let live = live_after_apply("v");
        assert!(
            !apply_is_noop(&live, &desired("w"), MANAGER),
            "value changed"
        );
        let mut fewer = desired("v");
        fewer["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("labels");
        assert!(!apply_is_noop(&live, &fewer, MANAGER), "a field to give up");
        let ty = Schema::builtin()
            .lookup("v1", "ConfigMap")
            .expect("ConfigMap");
        let managed = ssa::managed_fields_of(&live).expect("entries");
        let mut edited = live.clone();
        edited["data"]["key"] = json!("edited");
        let edited = ssa::update(Some(&live), &edited, "kubectl-edit", &managed, ty)
            .expect("update")
            .object;
        assert!(
            !apply_is_noop(&edited, &desired("v"), MANAGER),
            "drift by another manager must be corrected"
        );
    }

    #[test]
    fn custom_resources_and_objects_without_entries_are_always_applied() {
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "w"}, "spec": {"size": 1}});
        assert!(!apply_is_noop(&cr, &cr, MANAGER));
        let bare = desired("v");
        assert!(!apply_is_noop(&bare, &desired("v"), MANAGER));
    }
}
