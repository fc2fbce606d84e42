//! A state's keys (the deployer's and the bastion's private keys, the director's access key) kept
//! out of the state object in S3: each write of a state makes a version the bucket keeps, and a
//! pave makes dozens. The keys go to an object of their own, written only when they change; the
//! state names it in `secrets`.

use serde_json::{Map, Value};

/// The state's fields that hold keys.
const FIELDS: [&str; 3] = ["deployer_key", "bastion_host_key", "director_access_key"];

/// The field of a state in S3 naming the object, beside it, that holds its keys.
pub const SECRETS: &str = "secrets";

/// Takes the keys out of a serialised state.
pub fn split(state: &mut Value) -> Value {
    let fields = state.as_object_mut().expect("a state is an object");
    let secrets: Map<String, Value> = FIELDS
        .iter()
        .filter_map(|name| Some((name.to_string(), fields.remove(*name)?)))
        .collect();
    Value::Object(secrets)
}

/// Puts the keys back into a serialised state.
pub fn merge(state: &mut Value, secrets: Value) {
    let (Some(fields), Value::Object(secrets)) = (state.as_object_mut(), secrets) else {
        return;
    };
    for (name, value) in secrets {
        if FIELDS.contains(&name.as_str()) {
            fields.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_out_and_go_back_whole() {
        let state = serde_json::json!({
            "env": "e",
            "deployer_key": {"private_key": "k1", "public_key": "p1"},
            "bastion_host_key": {"private_key": "k2", "public_key": "p2"},
            "director_access_key": {"access_key_id": "a", "secret_access_key": "s"},
        });
        let mut public = state.clone();
        let secrets = split(&mut public);
        assert_eq!(public, serde_json::json!({"env": "e"}));
        assert!(!public.to_string().contains("k1"));
        merge(&mut public, secrets);
        assert_eq!(public, state);
    }
}
