//! Instances, and what their states mean to the waits for them.

use aws_sdk_ec2::types::{Instance, InstanceStateName};

use super::{Status, described};

described! {
    Instance,
    operation: "DescribeInstances",
    request: describe_instances,
    ids: set_instance_ids,
    filters: set_filters,
    answer: |o| {
        let reservations = o.reservations?.into_iter();
        Some(reservations.flat_map(|r| r.instances.unwrap_or_default()).collect())
    },
    id: instance_id,
    tags: tags,
    id_filter: "instance-id",
}

pub fn state(instance: &Instance) -> Option<&InstanceStateName> {
    instance.state().and_then(|s| s.name())
}

/// Not terminated or being terminated: it exists, or may again.
pub fn is_live(instance: &Instance) -> bool {
    !matches!(
        state(instance),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

/// The wait for a terminated instance: done once terminated.
pub fn terminated(instance: &Instance) -> bool {
    state(instance) == Some(&InstanceStateName::Terminated)
}

/// The wait for a new instance: done once running, on while pending or not visible yet. Any other
/// state (stopping, terminated) is not going to run.
pub fn running(instance: Option<&Instance>) -> Status {
    match instance.and_then(state) {
        Some(InstanceStateName::Running) => Status::Done,
        Some(InstanceStateName::Pending) | None => Status::Pending,
        Some(other) => Status::Failed(other.as_str().to_string()),
    }
}
