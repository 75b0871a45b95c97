//! The [`Message`] and [`Event`] traits that tie protobuf types to the bus.

use ferry_proto::events::v1 as pb;

use crate::topology;

/// A protobuf message the bus can carry. `TYPE_NAME` travels in the `Ferry-Type` header so a
/// subscriber can tell a message of another type from a valid one (protobuf decoding alone is
/// too lenient for that).
pub trait Message: prost::Message + Default + Send + Sync + 'static {
    /// Fully-qualified protobuf name, e.g. `ferry.events.v1.ArtifactReady`.
    const TYPE_NAME: &'static str;
}

/// A fact with one fixed subject on the events stream.
pub trait Event: Message {
    /// The subject every message of this type is published on.
    const SUBJECT: &'static str;
}

macro_rules! message {
    ($ty:ident) => {
        impl Message for pb::$ty {
            const TYPE_NAME: &'static str = concat!("ferry.events.v1.", stringify!($ty));
        }
    };
    ($ty:ident, $subject:expr) => {
        message!($ty);
        impl Event for pb::$ty {
            const SUBJECT: &'static str = $subject;
        }
    };
}

message!(ReconcileRequest);
message!(RenderRequest);
message!(DeadLetter);
message!(LeaseRecord);
message!(ArtifactReady, topology::ARTIFACT_READY);
message!(SourceFailed, topology::SOURCE_FAILED);
message!(RenderReady, topology::RENDER_READY);
message!(RenderFailed, topology::RENDER_FAILED);
message!(ApplyResult, topology::APPLY_RESULT);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_fully_qualified() {
        assert_eq!(
            <pb::ArtifactReady as Message>::TYPE_NAME,
            "ferry.events.v1.ArtifactReady"
        );
        assert_eq!(
            <pb::RenderFailed as Event>::SUBJECT,
            "ferry.events.render.failed"
        );
    }
}
