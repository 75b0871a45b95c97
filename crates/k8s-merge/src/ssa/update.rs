//! Field ownership for non-apply writes (create, update, patch): the `Update` operation.

use serde_json::{Map, Value};

use super::managers::{self, Managed};
use super::typed;
use super::{ApplyError, ApplyOutcome, FieldSet, ManagedFieldsEntry, Operation, WriteOptions};
use crate::schema::TypeRef;

/// Records the ownership changes of a non-apply write of `new` over `live` (`None` on create) by
/// `manager` (the request's `fieldManager`, or [`super::manager_from_user_agent`]; kubectl's
/// client-side apply uses [`super::KUBECTL_CLIENT_SIDE_APPLY`]).
///
/// Fields the write added or changed become `manager`'s (its `Update` entry for the object's
/// apiVersion) and are taken from every other manager; removed fields are dropped from every
/// manager. Writes never conflict. The object itself is `new` (without `metadata.managedFields`
/// from the request), with the new `managedFields` set.
pub fn update(
    live: Option<&Value>,
    new: &Value,
    manager: &str,
    managed_fields: &[ManagedFieldsEntry],
    ty: TypeRef<'_>,
) -> Result<ApplyOutcome, ApplyError> {
    update_with(
        live,
        new,
        manager,
        managed_fields,
        ty,
        WriteOptions::default(),
    )
}

/// [`update`] with an explicit timestamp (RFC 3339) for the manager's entry.
pub fn update_at(
    live: Option<&Value>,
    new: &Value,
    manager: &str,
    managed_fields: &[ManagedFieldsEntry],
    ty: TypeRef<'_>,
    now: &str,
) -> Result<ApplyOutcome, ApplyError> {
    let opts = WriteOptions {
        time: Some(now),
        ..WriteOptions::default()
    };
    update_with(live, new, manager, managed_fields, ty, opts)
}

/// [`update`] with [`WriteOptions`] (timestamp, subresource, ignored fields).
pub fn update_with(
    live: Option<&Value>,
    new: &Value,
    manager: &str,
    managed_fields: &[ManagedFieldsEntry],
    ty: TypeRef<'_>,
    opts: WriteOptions<'_>,
) -> Result<ApplyOutcome, ApplyError> {
    let empty = FieldSet::new();
    let ignored = opts.ignored.unwrap_or(&empty);
    if !new.is_object() {
        return Err(ApplyError::Invalid("object must be a JSON object".into()));
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
    let new_obj = managers::without_managed_fields(new);
    let api_version = new_obj
        .get("apiVersion")
        .or_else(|| live_obj.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();

    let mut managed = managers::decode(managed_fields)?;
    let cmp = typed::compare(&live_obj, &new_obj, ty);
    let taken = cmp.modified.union(&cmp.added).recursive_difference(ignored);
    let removed = cmp.removed.recursive_difference(ignored);

    let mine = managed
        .iter()
        .position(|m| m.is(manager, Operation::Update, &api_version, opts.subresource));
    let previous = mine.map(|i| managed.remove(i));

    for m in managed.iter_mut() {
        m.set = m.set.difference(&taken).difference(&removed);
    }

    let gained = taken.difference(&managers::strip_set());
    let (prev_set, prev_time) = match &previous {
        Some(p) => (p.set.difference(&removed), p.entry.time.clone()),
        None => (Default::default(), None),
    };
    let set = prev_set.union(&gained);
    let time = if gained.is_empty() {
        prev_time
    } else {
        Some(opts.now())
    };
    managed.push(Managed {
        entry: ManagedFieldsEntry {
            manager: manager.to_string(),
            operation: Operation::Update,
            api_version,
            time,
            fields_type: "FieldsV1".to_string(),
            fields_v1: Value::Null,
            subresource: opts.subresource.to_string(),
        },
        set,
    });
    let managed_fields = managers::encode(managed);
    let changed = new_obj != live_obj;
    let mut object = new_obj;
    super::set_managed_fields(&mut object, &managed_fields);
    Ok(ApplyOutcome {
        object,
        managed_fields,
        changed,
    })
}
