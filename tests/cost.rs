//! Issue #19, point 6: `plan`'s cost in every region. The prices come from the Price List API
//! (GetProducts), answered here by the proxy from tests/fixtures/price-list/eu-west-1.json:
//! eu-west-1's products (a region the built-in table lacks) and a few of us-east-1's. When the API
//! refuses or cannot be reached, the table prices a region it has, and a region it lacks is
//! `null`, never 0.

mod common;

use common::proxy::{Fault, Proxy, Rule};
use common::{Env, Run};
use serde_json::Value;

const IRELAND: [&str; 4] = ["--region", "eu-west-1", "--zone", "eu-west-1a"];

fn answer_get_products(proxy: &Proxy, fault: Fault) {
    proxy.clear_rules();
    proxy.add_rule(Rule {
        action: Some("GetProducts"),
        times: usize::MAX,
        fault,
    });
}

/// `plan --json` with `flags`, and its cost.
fn plan_cost(env: &Env, flags: &[&str]) -> (Value, Run) {
    let run = env.run(&[&["plan", "--json"], flags].concat());
    assert_eq!(run.code, 0, "{}", run.all_output());
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    (plan["cost"].clone(), run)
}

fn monthly(cost: &Value) -> Vec<Value> {
    cost["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["monthly_usd"].clone())
        .collect()
}

#[test]
fn prices_come_from_the_price_list_api_in_any_region() {
    let proxy = Proxy::start(common::endpoint());
    let env = Env::against("cost", "worker_count = 2", &proxy.url);
    let products =
        serde_json::from_str(include_str!("fixtures/price-list/eu-west-1.json")).unwrap();
    answer_get_products(&proxy, Fault::PriceList(products));

    let (cost, run) = plan_cost(&env, &IRELAND);
    assert_eq!(cost["prices_from"], "price_list_api", "{cost:#}");
    assert_eq!(cost["prices_as_of"], "2026-11-27");
    // NAT 0.048 × 730; CLB 0.028 × 730; 3 × 0.005 × 730; t3.micro 0.0114 × 730 + 8 GB × 0.088;
    // t3.large 0.0912 + 89 GB; t3.micro + 30 GB; 2 × (t3.medium 0.0456 + 110 GB).
    assert_eq!(
        monthly(&cost),
        [35.04, 20.44, 10.95, 9.03, 74.41, 10.96, 85.94]
    );
    assert_eq!(cost["total_monthly_usd"], 246.77);
    assert_eq!(cost["unavailable"], Value::Null);
    let per_gb = cost["per_gb"].to_string();
    assert!(
        per_gb.contains("$0.048") && per_gb.contains("$0.008"),
        "{per_gb}"
    );
    assert!(!run.stderr.contains("Price List"), "{}", run.stderr);
    assert!(
        proxy
            .iam_actions()
            .iter()
            .any(|a| a == "pricing:GetProducts"),
        "{:?}",
        proxy.iam_actions()
    );

    let text = env.run(&[&["plan"], &IRELAND[..]].concat()).ok().stdout;
    assert!(
        text.contains("from the AWS Price List API, published 2026-11-27"),
        "{text}"
    );
    assert!(text.contains("$246.77"), "{text}");
}

#[test]
fn without_the_price_list_api_the_table_or_null_never_zero() {
    let proxy = Proxy::start(common::endpoint());
    let env = Env::against("costless", "worker_count = 2", &proxy.url);
    for (fault, why) in [
        (
            Fault::Error {
                code: "AccessDeniedException",
                status: 400,
                message: "User: arn:aws:iam::000000000000:user/cfcr is not authorized to perform: pricing:GetProducts",
            },
            "AccessDeniedException",
        ),
        (Fault::Reset, "GetProducts failed"),
    ] {
        answer_get_products(&proxy, fault);

        // A region the table lacks: unknown, as null.
        let (cost, run) = plan_cost(&env, &IRELAND);
        assert!(cost["total_monthly_usd"].is_null(), "{cost:#}");
        assert!(
            cost.as_object().unwrap().contains_key("total_monthly_usd"),
            "{cost:#}"
        );
        assert!(monthly(&cost).iter().all(Value::is_null), "{cost:#}");
        assert!(cost["prices_from"].is_null(), "{cost:#}");
        assert!(
            cost["unavailable"]
                .as_str()
                .unwrap()
                .contains("no prices for eu-west-1"),
            "{cost:#}"
        );
        let warnings: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("Price List"))
            .collect();
        assert_eq!(warnings.len(), 1, "{}", run.stderr);
        assert!(
            warnings[0].contains(why) && warnings[0].contains("pricing:GetProducts"),
            "{}",
            warnings[0]
        );
        let text = env.run(&[&["plan"], &IRELAND[..]].concat()).ok().stdout;
        assert!(text.contains("Monthly cost: not estimated"), "{text}");

        // A region the table has: the table, dated.
        let (cost, _) = plan_cost(&env, &[]);
        assert_eq!(cost["prices_from"], "table", "{cost:#}");
        assert_eq!(cost["prices_as_of"], "2026-11");
        assert_eq!(cost["total_monthly_usd"], 226.47);
    }
}
