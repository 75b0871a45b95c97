//! Bookkeeping shared by apply and update: decoded managers, the stripped metadata set, entry order and timestamps.

use serde_json::Value;

use super::fieldset::{FieldSet, PathElement};
use super::{ApplyError, ManagedFieldsEntry, Operation, fieldsv1};

/// A managed fields entry with its decoded set.
#[derive(Debug, Clone)]
pub(crate) struct Managed {
    pub(crate) entry: ManagedFieldsEntry,
    pub(crate) set: FieldSet,
}

impl Managed {
    /// Whether this entry is the manager identified by `(manager, operation, apiVersion for
    /// updates, subresource)`, the apiserver's manager identity.
    pub(crate) fn is(
        &self,
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: &str,
    ) -> bool {
        self.entry.manager == manager
            && self.entry.operation == operation
            && self.entry.subresource == subresource
            && (operation == Operation::Apply || self.entry.api_version == api_version)
    }
}

pub(crate) fn decode(entries: &[ManagedFieldsEntry]) -> Result<Vec<Managed>, ApplyError> {
    entries
        .iter()
        .map(|e| {
            let set = if e.fields_v1.is_null() {
                FieldSet::new()
            } else {
                fieldsv1::decode(&e.fields_v1)
                    .map_err(|err| ApplyError::InvalidManagedFields(err.to_string()))?
            };
            let mut entry = e.clone();
            entry.fields_v1 = Value::Null;
            Ok(Managed { entry, set })
        })
        .collect()
}

/// Fields never recorded as managed: identity and bookkeeping metadata.
pub(crate) fn strip_set() -> FieldSet {
    let f = |s: &str| PathElement::Field(s.to_string());
    let mut set = FieldSet::new();
    set.insert(&[f("apiVersion")]);
    set.insert(&[f("kind")]);
    set.insert(&[f("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[f("metadata"), f(name)]);
    }
    set
}

/// Encodes the managers (dropping empty ones), sorted like the apiserver: operation, time,
/// manager, apiVersion, subresource.
pub(crate) fn encode(managed: Vec<Managed>) -> Vec<ManagedFieldsEntry> {
    let mut out: Vec<ManagedFieldsEntry> = managed
        .into_iter()
        .filter(|m| !m.set.is_empty())
        .map(|m| {
            let mut e = m.entry;
            e.fields_type = "FieldsV1".to_string();
            e.fields_v1 = fieldsv1::encode(&m.set);
            e
        })
        .collect();
    out.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| {
                p.time
                    .as_deref()
                    .unwrap_or("")
                    .cmp(q.time.as_deref().unwrap_or(""))
            })
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    out
}

/// The object without `metadata.managedFields`.
pub(crate) fn without_managed_fields(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.remove("managedFields");
    }
    out
}

/// The current UTC time as RFC 3339 with seconds precision (`2026-01-02T03:04:05Z`).
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_rfc3339(secs)
}

/// Formats seconds since the Unix epoch as RFC 3339 UTC.
pub(crate) fn format_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::format_rfc3339;

    #[test]
    fn rfc3339_formats_epoch_leap_day_and_recent_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
