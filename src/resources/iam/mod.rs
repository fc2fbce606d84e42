//! IAM: the master and worker roles (for the Kubernetes AWS cloud provider), the BOSH director's
//! role and managed policy, their instance profiles, and in `access-key` mode the director's user.
//! One file per kind; `entity` holds what they share, `documents` the policies they carry.

mod access_key;
mod director_policy;
mod director_user;
mod documents;
mod entity;
mod instance_profile;
pub mod listing;
mod role;

pub use director_policy::DirectorPolicy;
pub use director_user::DirectorUser;
pub use entity::iam_path;
pub use instance_profile::InstanceProfile;
pub use role::Role;
