//! Server-side apply: merge, ownership, conflicts and pruning.

use serde_json::{Map, Value};

use super::managers::{self, Managed};
use super::typed;
use super::{
    ApplyError, ApplyOutcome, Conflict, ManagedFieldsEntry, Operation, WriteOptions,
    fieldset::FieldSet,
};
use crate::schema::TypeRef;

/// The manager the apiserver attributes an object's fields to when it is first applied to
/// without any managed fields.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Server-side applies `applied` (the configuration sent by `manager`) to `live` (`None` on
/// create), given the object's current `managed_fields` and root type `ty`.
///
/// - the configuration is merged into the live object (see the module docs of [`super`]);
/// - `manager`'s Apply entry becomes exactly the fields of `applied` (minus identity metadata);
/// - fields owned by other managers that the apply would change are conflicts: an error unless
///   `force`, in which case those managers lose them;
/// - fields `manager` applied last time but not now, and that no other manager owns, are removed.
///
/// `metadata.managedFields` inside `live`/`applied` is ignored (pass the entries in
/// `managed_fields`); the entry's time is now. When `live` exists but `managed_fields` is empty,
/// its fields are first attributed to [`BEFORE_FIRST_APPLY`] (an `Update` entry), as the
/// apiserver does, so call [`super::update`] on every create to avoid that.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    managed_fields: &[ManagedFieldsEntry],
    ty: TypeRef<'_>,
) -> Result<ApplyOutcome, ApplyError> {
    apply_with(
        live,
        applied,
        manager,
        force,
        managed_fields,
        ty,
        WriteOptions::default(),
    )
}

/// [`apply`] with an explicit timestamp (RFC 3339) for the applier's entry.
pub fn apply_at(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    managed_fields: &[ManagedFieldsEntry],
    ty: TypeRef<'_>,
    now: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let opts = WriteOptions {
        time: Some(now),
        ..WriteOptions::default()
    };
    apply_with(live, applied, manager, force, managed_fields, ty, opts)
}

/// [`apply`] with [`WriteOptions`] (timestamp, subresource, ignored fields).
pub fn apply_with(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    managed_fields: &[ManagedFieldsEntry],
    ty: TypeRef<'_>,
    opts: WriteOptions<'_>,
) -> Result<ApplyOutcome, ApplyError> {
    let empty = FieldSet::new();
    let ignored = opts.ignored.unwrap_or(&empty);
    if !applied.is_object() {
        return Err(ApplyError::Invalid(
            "applied configuration must be a JSON object".into(),
        ));
    }
    let live_obj = match live {
        Some(v) if v.is_object() => managers::without_managed_fields(v),
        Some(_) => {
            return Err(ApplyError::Invalid(
                "live object must be a JSON object".into(),
            ));
        }
        None => Value::Object(Map::new()),
    };
    let config = managers::without_managed_fields(applied);
    let api_version = config
        .get("apiVersion")
        .or_else(|| live_obj.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();

    // An existing object without managed fields: like the apiserver, attribute everything it
    // holds to "before-first-apply" so the first apply conflicts on values it would change.
    let before_first_apply;
    let managed_fields = if live.is_some() && managed_fields.is_empty() {
        let opts = WriteOptions {
            time: opts.time,
            ..WriteOptions::default()
        };
        before_first_apply = super::update_with(
            Some(&Value::Object(Map::new())),
            &live_obj,
            BEFORE_FIRST_APPLY,
            &[],
            ty,
            opts,
        )?
        .managed_fields;
        &before_first_apply[..]
    } else {
        managed_fields
    };
    let mut managed = managers::decode(managed_fields)?;
    let config_set = typed::to_field_set(&config, ty, true)
        .map_err(ApplyError::Invalid)?
        .difference(&managers::strip_set())
        .recursive_difference(ignored);

    let mine = managed
        .iter()
        .position(|m| m.is(manager, Operation::Apply, &api_version, opts.subresource));
    let last_set = mine.map(|i| managed[i].set.clone()).unwrap_or_default();
    let previous_entry = mine.map(|i| managed[i].entry.clone());
    if let Some(i) = mine {
        managed.remove(i);
    }

    let mut merged = typed::merge(Some(&live_obj), &config, ty);

    // Prune what this manager applied before, no longer applies, and nobody else owns.
    if !last_set.is_empty() {
        let mut owned = config_set.clone();
        for m in &managed {
            owned = owned.union(&m.set);
        }
        let last = typed::ensure_named_fields_are_members(&last_set, ty);
        let owned_members = typed::ensure_named_fields_are_members(&owned, ty);
        let to_remove = last.difference(&owned_members);
        if !to_remove.is_empty() {
            let pruned = typed::remove_items(&merged, &to_remove, ty);
            // structured-merge-diff's addBackDanglingItems: of what pruning took away, only the
            // fields this manager really had go; a struct field such as `metadata`, made a
            // member only so pruning can reach into it, keeps what nobody applied (its name,
            // labels set by others) and every ancestor of a field someone still owns.
            let before = typed::to_field_set(&merged, ty, false).unwrap_or_default();
            let after = typed::to_field_set(&pruned, ty, false).unwrap_or_default();
            let really = before
                .difference(&after)
                .intersection(&last_set)
                .difference(&ancestors_of(&owned));
            merged = typed::remove_items(&merged, &really, ty);
        }
    }

    // Other managers: conflicts on changed fields, loss of removed fields.
    let cmp = typed::compare(&live_obj, &merged, ty);
    let changed_set = cmp.modified.union(&cmp.added).recursive_difference(ignored);
    let removed = cmp.removed.recursive_difference(ignored);
    let mut conflicts = Vec::new();
    let mut conflict_sets: Vec<FieldSet> = Vec::with_capacity(managed.len());
    for m in &managed {
        let c = m.set.intersection(&changed_set);
        for p in c.paths() {
            conflicts.push(Conflict {
                manager: m.entry.manager.clone(),
                operation: m.entry.operation,
                api_version: m.entry.api_version.clone(),
                field_path: p.to_string(),
            });
        }
        conflict_sets.push(c);
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|a, b| {
            (a.manager_display(), &a.field_path).cmp(&(b.manager_display(), &b.field_path))
        });
        return Err(ApplyError::Conflict { conflicts });
    }
    for (m, c) in managed.iter_mut().zip(&conflict_sets) {
        m.set = m.set.difference(c).difference(&removed);
    }

    let changed = merged != live_obj;
    let set_changed = previous_entry.is_none() || last_set != config_set;
    let time = match &previous_entry {
        Some(e) if !changed && !set_changed => e.time.clone(),
        _ => Some(opts.now()),
    };
    managed.push(Managed {
        entry: ManagedFieldsEntry {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version,
            time,
            fields_type: "FieldsV1".to_string(),
            fields_v1: Value::Null,
            subresource: opts.subresource.to_string(),
        },
        set: config_set,
    });
    let managed_fields = managers::encode(managed);
    let mut object = if changed { merged } else { live_obj };
    super::set_managed_fields(&mut object, &managed_fields);
    Ok(ApplyOutcome {
        object,
        managed_fields,
        changed,
    })
}

/// Every proper prefix of a path in `set`, as members: the containers that must stay because
/// something inside them is still owned.
fn ancestors_of(set: &FieldSet) -> FieldSet {
    let mut out = FieldSet::new();
    for path in set.paths() {
        let elements = &path.0;
        for end in 1..elements.len() {
            out.insert(&elements[..end]);
        }
    }
    out
}
