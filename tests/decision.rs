//! Issue 21, item 2: plan and pave decide once. On one environment with a resource in each
//! situation pave knows (created anew, recovered, adopted, looked up, recreated, updated, repaired,
//! finished), the actions `plan --json` lists are exactly those `pave` carries out; and an adopted
//! resource gone is what plan lists and pave refuses.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::drift;
use common::network::vpc;
use common::{Env, Run, aws};
use serde_json::{Value, json};

/// (resource, action), as plan words it.
type Actions = BTreeSet<(String, String)>;

fn pair(resource: &str, action: &str) -> (String, String) {
    (resource.to_string(), action.to_string())
}

/// What `plan --json` lists, whether or not the preflight checks found problems.
fn planned(env: &Env) -> (Run, Actions) {
    let run = env.run(&["plan", "--json"]);
    let plan: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{}", run.stderr));
    let actions = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            pair(
                r["resource"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
            )
        })
        .collect();
    (run, actions)
}

/// What a pave carried out, from its debug lines (`carried out`, naming the resource and the
/// action), and the progress verbs it reported for each resource, from its JSON events.
struct Paved {
    run: Run,
    carried_out: Actions,
    verbs: BTreeMap<String, BTreeSet<String>>,
}

fn pave(env: &Env) -> Paved {
    let run = env.run(&[
        "pave",
        "--yes",
        "--no-bootstrap",
        "-v",
        "--log-format",
        "json",
    ]);
    let mut carried_out = Actions::new();
    let mut verbs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for event in run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let fields = &event["fields"];
        if fields["message"] == "carried out" {
            carried_out.insert(pair(
                fields["resource"].as_str().unwrap(),
                fields["action"].as_str().unwrap(),
            ));
        } else if let (Some(verb), Some(resource)) =
            (event["event"].as_str(), event["resource"].as_str())
        {
            verbs
                .entry(resource.to_string())
                .or_default()
                .insert(verb.to_string());
        }
    }
    Paved {
        run,
        carried_out,
        verbs,
    }
}

/// The progress verbs that show an action done.
fn shown_as(action: &str) -> &'static [&'static str] {
    match action {
        "create" => &["created", "recovered"],
        "adopt" => &["adopted"],
        "look up" => &["resolved"],
        "repair" => &["repaired"],
        "finish" | "update" => &["resuming"],
        other => panic!("pave carried out {other}"),
    }
}

fn edit_state(env: &Env, change: impl FnOnce(&mut Value)) {
    let mut state = env.state();
    change(&mut state);
    std::fs::write(env.state_path(), state.to_string()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_lists_exactly_what_pave_carries_out() {
    let aws = aws().await;
    let network = vpc(&aws, "10.57.0.0/16", true, true).await;
    let config = format!(
        "vpc_id = \"{}\"\npublic_subnet_ip_prefix = \"10.57.1\"\nprivate_subnet_ip_prefix = \"10.57.2\"",
        network.vpc
    );
    let env = Env::new("decide", &config);
    env.pave();

    // Behind the state's back: the public default route deleted (the bastion is ready only with
    // it), a tag stripped, the worker profile deleted and forgotten.
    aws.ec2
        .delete_route()
        .route_table_id(env.id("public_route_table"))
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    drift::untag(&aws, &env.id("private_subnet"), "Name").await;
    drift::delete_worker_profile(&aws, &env).await;
    // In the state: a resource left unfinished, one whose create a crashed run sent, and the
    // adopted gateway and the looked-up image not recorded yet. Every record is old enough for the
    // refresh to take what AWS does not show for gone (not for not visible yet).
    edit_state(&env, |state| {
        let resources = state["resources"].as_object_mut().unwrap();
        for gone in [
            "worker_instance_profile",
            "api_access_security_group",
            "internet_gateway",
            "bastion_image",
        ] {
            resources.remove(gone);
        }
        resources["deployer_key_pair"]["ready"] = json!(false);
        for record in resources.values_mut() {
            if record.get("created_at").is_some() {
                record["created_at"] = json!("2020-01-01T00:00:00Z");
            }
        }
        state["creating"] = json!(["api_access_security_group"]);
    });

    let (run, plan) = planned(&env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expected: Actions = [
        ("public_route", "create"),
        ("bastion", "update"),
        ("private_subnet", "repair"),
        ("deployer_key_pair", "finish"),
        ("api_access_security_group", "create"),
        ("worker_instance_profile", "create"),
        ("internet_gateway", "adopt"),
        ("bastion_image", "look up"),
    ]
    .into_iter()
    .map(|(r, a)| pair(r, a))
    .collect();
    assert_eq!(plan, expected, "one resource in each situation");

    let paved = pave(&env);
    assert_eq!(paved.run.code, 0, "{}", paved.run.stderr);
    assert_eq!(paved.carried_out, plan, "{}", paved.run.stderr);
    for (resource, action) in &plan {
        let shown = paved.verbs.get(resource).cloned().unwrap_or_default();
        assert!(
            shown_as(action).iter().any(|v| shown.contains(*v)),
            "{resource} {action}: pave showed {shown:?}"
        );
    }
    assert!(paved.verbs["api_access_security_group"].contains("recovered"));
    assert!(paved.verbs["worker_instance_profile"].contains("created"));
    assert!(paved.verbs["public_route"].contains("missing"));
    let settled = env.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(settled.code, 0, "{}", settled.all_output());

    // The operator's gateway detached: plan says pave will stop there (and the survey, that the
    // VPC cannot take the environment), and pave carries out nothing.
    let igw = network.igw.clone().unwrap();
    aws.ec2
        .detach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&network.vpc)
        .send()
        .await
        .unwrap();
    let (run, plan) = planned(&env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(plan, BTreeSet::from([pair("internet_gateway", "missing")]));
    let refused = pave(&env);
    assert_eq!(refused.run.code, 1, "{}", refused.run.stderr);
    assert!(refused.run.stderr.contains("does not recreate it"));
    assert!(refused.carried_out.is_empty(), "{:?}", refused.carried_out);

    aws.ec2
        .attach_internet_gateway()
        .internet_gateway_id(&igw)
        .vpc_id(&network.vpc)
        .send()
        .await
        .unwrap();
    env.unpave();
}
