//! What the operator sees: one line per resource created, adopted, resumed or deleted, on standard
//! error so that standard output stays clean for `outputs` and friends.

use crate::resources::Key;

pub fn resource(verb: &str, key: Key, name: &str, id: &str) {
    eprintln!("{verb:<9} {:<28} {name:<28} {id}", key.to_string());
}

pub fn note(text: &str) {
    eprintln!("{text}");
}

pub fn warning(text: &str) {
    eprintln!("warning: {text}");
}
