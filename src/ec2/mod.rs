//! EC2's describe calls, one finder per kind, in the manner of the Terraform AWS provider's
//! `internal/service/ec2` (`find.go`, `status.go`, `wait.go`): each kind says how its describe call
//! is sent ([`Described`]); finding by id, by filters or by the environment's tags is written once
//! here; the filters are built in [`filters`]; and what counts as "done" for a wait (a NAT gateway
//! available, an instance terminated) lives beside its kind. Everything goes through
//! [`crate::aws::call`] under the operation's own name, which request counting and retries read.
//!
//! Only AWS access sits below: the resources, the refresh and the commands use this, never the
//! other way round.

mod address;
pub mod filters;
pub mod image;
pub mod instance;
pub mod internet_gateway;
mod key_pair;
pub mod nat_gateway;
pub mod network_interface;
mod route_table;
pub mod security_group;
mod subnet;
pub mod tags;
mod volume;
pub mod vpc;

use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, Tag, TagDescription};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_types::request_id::RequestId;

use crate::aws::retry::AwsError;
use crate::aws::{self, Policy, wait};

/// What one describe call asks for: ids, filters, both, or (neither) everything.
#[derive(Debug, Default)]
pub struct Query {
    ids: Vec<String>,
    filters: Vec<Filter>,
}

impl Query {
    /// The id list as the request takes it; none is sent when empty.
    fn id_list(&self) -> Option<Vec<String>> {
        (!self.ids.is_empty()).then(|| self.ids.clone())
    }

    fn filter_list(&self) -> Option<Vec<Filter>> {
        (!self.filters.is_empty()).then(|| self.filters.clone())
    }
}

/// An EC2 kind: how its describe call is sent, and what identifies and tags what it answers.
pub trait Described: Sized + Send {
    /// The filter on the ids EC2 keeps the kind's tags under (`subnet-id`; a key pair's id).
    const ID_FILTER: &'static str;

    /// Everything matching `query`, every page.
    fn describe(
        ec2: &Client,
        query: &Query,
        policy: &Policy,
    ) -> impl Future<Output = Result<Vec<Self>, AwsError>> + Send;

    /// The id the describe call takes (a key pair's: its name).
    fn id(&self) -> Option<&str>;

    /// Its tags (a network interface's tag set).
    fn tag_list(&self) -> &[Tag];
}

/// Every `T` matching `filters` (none: every `T` there is), every page.
pub async fn matching<T: Described>(
    ec2: &Client,
    filters: Vec<Filter>,
    policy: &Policy,
) -> Result<Vec<T>, AwsError> {
    let query = Query {
        filters,
        ..Query::default()
    };
    T::describe(ec2, &query, policy).await
}

/// The `T`s `ids`. AWS fails the whole call on an id it does not know.
pub async fn by_ids<T: Described>(
    ec2: &Client,
    ids: Vec<String>,
    policy: &Policy,
) -> Result<Vec<T>, AwsError> {
    let query = Query {
        ids,
        ..Query::default()
    };
    T::describe(ec2, &query, policy).await
}

/// The `T` `id`; `None` when AWS does not know it. Right after a create, `policy` must tolerate a
/// passing "not found".
pub async fn by_id<T: Described>(
    ec2: &Client,
    id: &str,
    policy: &Policy,
) -> Result<Option<T>, AwsError> {
    let found = aws::absent_ok(by_ids::<T>(ec2, vec![id.to_string()], policy).await)?;
    // Matched here too: LocalStack ignores some id lists (NatGatewayIds) and answers with all.
    Ok(found
        .into_iter()
        .flatten()
        .find(|item| item.id() == Some(id)))
}

/// Those of `ids` that AWS still has, by a filter on the ids ([`Described::ID_FILTER`]): unlike an
/// id list, a filter does not fail on an id that is gone. Nothing is asked for no ids.
pub async fn listed<T: Described>(
    ec2: &Client,
    ids: Vec<String>,
    policy: &Policy,
) -> Result<Vec<T>, AwsError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    matching(ec2, vec![filters::filter(T::ID_FILTER, ids)], policy).await
}

/// Environment `env`'s `T`s named `name` (and matching `also`), by their tags. Checked again on the
/// answer: emulators may ignore filters.
pub async fn owned_named<T: Described>(
    ec2: &Client,
    env: &str,
    name: &str,
    also: Option<Filter>,
    policy: &Policy,
) -> Result<Vec<T>, AwsError> {
    let mut filters = filters::owned_named(env, name);
    filters.extend(also);
    let found: Vec<T> = matching(ec2, filters, policy).await?;
    Ok(found
        .into_iter()
        .filter(|item| tags::tagged(item.tag_list(), env, name))
        .collect())
}

/// Waits until `done` (the kind's "done" test, as the caller answers it) says the `T` `id` got
/// there, polling it under `policy` for at most `timeout`; `what` names the wait if it runs out.
pub async fn wait_until<T: Described>(
    ec2: &Client,
    id: &str,
    policy: &Policy,
    what: &str,
    timeout: Duration,
    done: impl Fn(Option<&T>) -> anyhow::Result<Option<()>>,
) -> anyhow::Result<()> {
    wait::until(what, timeout, || async {
        let found = by_id::<T>(ec2, id, policy).await?;
        done(found.as_ref())
    })
    .await
}

/// Every tag matching `filters` (by key, value, resource id), every page: one listing for resources
/// of every kind.
pub async fn tag_listing(
    ec2: &Client,
    filters: Vec<Filter>,
    policy: &Policy,
) -> Result<Vec<TagDescription>, AwsError> {
    let send = |token| {
        ec2.describe_tags()
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
    };
    pages("DescribeTags", policy, send, |o| o.next_token(), |o| o.tags).await
}

/// Every page of a describe call, as one list of what `items` reads off each page.
async fn pages<O, E, F, Fut, T>(
    operation: &'static str,
    policy: &Policy,
    send: F,
    next: fn(&O) -> Option<&str>,
    items: fn(O) -> Option<Vec<T>>,
) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + RequestId + std::error::Error + Send + Sync + 'static,
{
    let pages = aws::all_pages(operation, policy, send, next).await?;
    Ok(pages.into_iter().filter_map(items).flatten().collect())
}

/// Implements [`Described`] for a kind whose describe call takes ids and filters and answers in
/// pages, from the SDK's names: the operation, the client's request, its id-list and filter
/// setters, what reads the kind off a page, the kind's id and tags, and the filter on its ids.
macro_rules! described {
    (
        $kind:ty,
        operation: $operation:literal,
        request: $request:ident,
        ids: $ids:ident,
        filters: $filters:ident,
        answer: $answer:expr,
        id: $id:ident,
        tags: $tags:ident,
        id_filter: $id_filter:literal $(,)?
    ) => {
        impl $crate::ec2::Described for $kind {
            const ID_FILTER: &str = $id_filter;

            async fn describe(
                ec2: &aws_sdk_ec2::Client,
                query: &$crate::ec2::Query,
                policy: &$crate::aws::Policy,
            ) -> Result<Vec<$kind>, $crate::aws::retry::AwsError> {
                let send = |token| {
                    ec2.$request()
                        .$ids(query.id_list())
                        .$filters(query.filter_list())
                        .set_next_token(token)
                        .send()
                };
                $crate::ec2::pages($operation, policy, send, |o| o.next_token(), $answer).await
            }

            fn id(&self) -> Option<&str> {
                self.$id()
            }

            fn tag_list(&self) -> &[aws_sdk_ec2::types::Tag] {
                self.$tags()
            }
        }
    };
}
use described;

/// Where something waited for stands, as its kind's "done" test reads the describe's answer.
#[derive(Debug)]
pub enum Status {
    Done,
    Pending,
    /// It will not get there: its state (and AWS's reason, if it gives one).
    Failed(String),
}

impl Status {
    /// The answer of a [`crate::aws::wait::until`] probe; `failed` makes the caller's error.
    pub fn polled(
        self,
        failed: impl FnOnce(String) -> anyhow::Error,
    ) -> anyhow::Result<Option<()>> {
        match self {
            Status::Done => Ok(Some(())),
            Status::Pending => Ok(None),
            Status::Failed(why) => Err(failed(why)),
        }
    }
}
