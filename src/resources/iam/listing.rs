//! Everything under an environment's IAM path: one listing per kind, every page, kept to the exact
//! path. The refresh and the census read IAM through it.

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{InstanceProfile, Policy as ManagedPolicy, PolicyScopeType, Role, User};

use super::entity::iam_path;
use crate::aws::retry::AwsError;
use crate::aws::{self, Policy};

/// Which kinds to list: a kind not wanted costs no request.
#[derive(Clone, Copy, Debug)]
pub struct Wanted {
    pub profiles: bool,
    pub roles: bool,
    pub policies: bool,
    pub users: bool,
}

impl Wanted {
    pub const ALL: Wanted = Wanted {
        profiles: true,
        roles: true,
        policies: true,
        users: true,
    };
}

/// An environment's IAM entities, by kind.
#[derive(Debug, Default)]
pub struct Listing {
    pub profiles: Vec<InstanceProfile>,
    pub roles: Vec<Role>,
    /// The customer-managed policies.
    pub policies: Vec<ManagedPolicy>,
    pub users: Vec<User>,
}

/// Environment `env`'s entities of the `wanted` kinds, the kinds listed at once.
pub async fn under_path(iam: &Client, env: &str, wanted: Wanted) -> Result<Listing, AwsError> {
    let path = iam_path(env);
    let policy = Policy::standard();
    // Each request is sent once per page, with the marker of the page before.
    let profiles = iam.list_instance_profiles().path_prefix(&path);
    let roles = iam.list_roles().path_prefix(&path);
    let policies = iam
        .list_policies()
        .scope(PolicyScopeType::Local)
        .path_prefix(&path);
    let users = iam.list_users().path_prefix(&path);
    let (profiles, roles, policies, users) = futures::try_join!(
        pages_if(
            wanted.profiles,
            aws::all_pages(
                "ListInstanceProfiles",
                &policy,
                |marker| profiles.clone().set_marker(marker).send(),
                |page| page.marker(),
            ),
        ),
        pages_if(
            wanted.roles,
            aws::all_pages(
                "ListRoles",
                &policy,
                |marker| roles.clone().set_marker(marker).send(),
                |page| page.marker(),
            ),
        ),
        pages_if(
            wanted.policies,
            aws::all_pages(
                "ListPolicies",
                &policy,
                |marker| policies.clone().set_marker(marker).send(),
                |page| page.marker(),
            ),
        ),
        pages_if(
            wanted.users,
            aws::all_pages(
                "ListUsers",
                &policy,
                |marker| users.clone().set_marker(marker).send(),
                |page| page.marker(),
            ),
        ),
    )?;
    // IAM lists by path prefix (and emulators may ignore it): a deeper path is not the
    // environment's.
    let under = |p: &str| p == path;
    Ok(Listing {
        profiles: profiles
            .iter()
            .flat_map(|page| page.instance_profiles())
            .filter(|p| under(p.path()))
            .cloned()
            .collect(),
        roles: roles
            .iter()
            .flat_map(|page| page.roles())
            .filter(|r| under(r.path()))
            .cloned()
            .collect(),
        policies: policies
            .iter()
            .flat_map(|page| page.policies())
            .filter(|p| p.path().is_some_and(under))
            .cloned()
            .collect(),
        users: users
            .iter()
            .flat_map(|page| page.users())
            .filter(|u| under(u.path()))
            .cloned()
            .collect(),
    })
}

/// The pages of `listing` when `wanted`; otherwise none, and no request: a future sends nothing
/// until it is awaited.
async fn pages_if<T>(
    wanted: bool,
    listing: impl Future<Output = Result<Vec<T>, AwsError>>,
) -> Result<Vec<T>, AwsError> {
    if !wanted {
        return Ok(Vec::new());
    }
    listing.await
}
