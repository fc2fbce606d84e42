//! go-patch, the operations the BOSH CLI applies with `-o FILE` (`bosh create-env`, `deploy`,
//! `update-cloud-config`, `interpolate`...), over `serde_json::Value`: what the CLI does with the
//! go-patch it vendors (v0.2.0), written from its documentation (bosh.io's "Creating Ops Files",
//! go-patch's docs/examples.md) and its behaviour.
//!
//! - Ops: `replace` (`path`, `value`) and `remove` (`path`); applied in order, each to the result
//!   of the one before.
//! - Path tokens: a map key (`/key`), an array index (`/0`, `/-1` from the end), `-` (after the
//!   last item: appends; only as the last token, only for replace), `key=value` (the one array item
//!   that is a map whose `key` is the string `value`), `?` at the end of a key or a `key=value`
//!   (optional: replace creates what is missing, remove does nothing; optionality carries over to
//!   every token to its right), `:prev`/`:next` after an index or `key=value` (the item before or
//!   after), `:before`/`:after` after the last one of replace (insert instead of replacing).
//!   `~0`, `~1` and `~7` stand for `~`, `/` and `:` inside a token.
//! - Errors read like the CLI's: `operation [N] in FILE failed`, the op's type and path, and
//!   go-patch's own message (`Expected to find a map key 'x' for path '/a/x' (found map keys:
//!   'b', 'c')`).

use std::fmt;

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
enum Modifier {
    Prev,
    Next,
    Before,
    After,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Index {
        index: i64,
        modifiers: Vec<Modifier>,
    },
    AfterLast,
    Matching {
        key: String,
        value: String,
        optional: bool,
        modifiers: Vec<Modifier>,
    },
    Key {
        key: String,
        optional: bool,
    },
}

/// A parsed path (the root is implied).
#[derive(Clone, Debug, PartialEq)]
pub struct Pointer(Vec<Token>);

fn decode(token: &str) -> String {
    token
        .replace("~1", "/")
        .replace("~7", ":")
        .replace("~0", "~")
}

fn encode(token: &str) -> String {
    token
        .replace('~', "~0")
        .replace('/', "~1")
        .replace(':', "~7")
}

impl Pointer {
    pub fn parse(path: &str) -> Result<Pointer, String> {
        if path.is_empty() {
            return Ok(Pointer(Vec::new()));
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err("Expected to start with '/'".into());
        };
        let pieces: Vec<&str> = rest.split('/').collect();
        let mut tokens = Vec::new();
        let mut optional = false;
        for (i, piece) in pieces.iter().enumerate() {
            let last = i == pieces.len() - 1;
            let mut parts = piece.split(':');
            let raw = parts.next().unwrap_or_default();
            let mut modifiers = Vec::new();
            for part in parts {
                modifiers.push(match part {
                    "prev" => Modifier::Prev,
                    "next" => Modifier::Next,
                    "before" => Modifier::Before,
                    "after" => Modifier::After,
                    other => {
                        return Err(format!(
                            "Expected to find one of the following modifiers: 'prev', 'next', 'before', or 'after' but found '{other}'"
                        ));
                    }
                });
            }
            let token = decode(raw);
            if last && token == "-" {
                if !modifiers.is_empty() {
                    return Err(
                        "Expected not to find any modifiers with after last index token".into(),
                    );
                }
                tokens.push(Token::AfterLast);
                continue;
            }
            if let Some(index) = go_atoi(&token) {
                tokens.push(Token::Index { index, modifiers });
                continue;
            }
            if token.ends_with('?') {
                optional = true;
            }
            if let Some((key, value)) = token.split_once('=') {
                tokens.push(Token::Matching {
                    key: key.to_string(),
                    value: value.strip_suffix('?').unwrap_or(value).to_string(),
                    optional,
                    modifiers,
                });
                continue;
            }
            if !modifiers.is_empty() {
                return Err("Expected not to find any modifiers with key token".into());
            }
            tokens.push(Token::Key {
                key: token.strip_suffix('?').unwrap_or(&token).to_string(),
                optional,
            });
        }
        Ok(Pointer(tokens))
    }
}

/// Go's strconv.Atoi: an optional sign and decimal digits.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The path as go-patch prints it: `?` once, on the first optional token.
fn path_string(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut optional = false;
    let modifiers = |mods: &[Modifier]| -> String {
        mods.iter()
            .map(|m| match m {
                Modifier::Prev => ":prev",
                Modifier::Next => ":next",
                Modifier::Before => ":before",
                Modifier::After => ":after",
            })
            .collect()
    };
    for token in tokens {
        out.push('/');
        match token {
            Token::Index {
                index,
                modifiers: m,
            } => {
                out.push_str(&format!("{index}{}", modifiers(m)));
            }
            Token::AfterLast => out.push('-'),
            Token::Matching {
                key,
                value,
                optional: o,
                modifiers: m,
            } => {
                let mut value = encode(value);
                if *o && !optional {
                    value.push('?');
                    optional = true;
                }
                out.push_str(&format!("{}={value}{}", encode(key), modifiers(m)));
            }
            Token::Key { key, optional: o } => {
                out.push_str(&encode(key));
                if *o && !optional {
                    out.push('?');
                    optional = true;
                }
            }
        }
    }
    out
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&path_string(&self.0))
    }
}

/// Go's `%T` of what a YAML document decodes to.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[interface {}]interface {}",
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Replace(Value),
    Remove,
}

/// One operation of an ops-file.
#[derive(Clone, Debug)]
pub struct Op {
    /// The file it came from, as the command line named it.
    pub file: String,
    /// Its index in that file.
    pub index: usize,
    /// Its path, as written.
    pub path: String,
    pub kind: Kind,
    pointer: Pointer,
}

/// An operation that could not be read or applied.
#[derive(Clone, Debug, PartialEq)]
pub struct OpError {
    pub file: String,
    pub index: usize,
    pub path: String,
    pub message: String,
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "operation [{}] in {} failed (path {}): {}",
            self.index, self.file, self.path, self.message
        )
    }
}

impl std::error::Error for OpError {}

/// The operations of one ops-file (its YAML already decoded): null or `[]` is none.
pub fn ops_from(file: &str, doc: &Value) -> Result<Vec<Op>, OpError> {
    let defs = match doc {
        Value::Null => return Ok(Vec::new()),
        Value::Array(defs) => defs,
        other => {
            return Err(OpError {
                file: file.into(),
                index: 0,
                path: String::new(),
                message: format!(
                    "Deserializing ops file: expected an array of operations, found '{}'",
                    go_type(other)
                ),
            });
        }
    };
    let mut ops = Vec::new();
    for (index, def) in defs.iter().enumerate() {
        let err = |path: &str, message: String| OpError {
            file: file.into(),
            index,
            path: path.into(),
            message,
        };
        let Some(def) = def.as_object() else {
            return Err(err("", format!("Expected a map, found '{}'", go_type(def))));
        };
        let kind = def.get("type").and_then(Value::as_str).unwrap_or_default();
        let Some(path) = def.get("path").and_then(Value::as_str) else {
            return Err(err("", format!("{kind} operation: Missing path")));
        };
        let pointer = Pointer::parse(path)
            .map_err(|e| err(path, format!("{kind} operation: Invalid path: {e}")))?;
        let kind = match kind {
            "replace" => match def.get("value") {
                // go-patch tells a missing value from `value: null` (which replaces with null).
                Some(value) => Kind::Replace(value.clone()),
                None => return Err(err(path, "Replace operation: Missing value".into())),
            },
            "remove" => {
                if def.get("value").is_some() {
                    return Err(err(path, "Remove operation: Cannot specify value".into()));
                }
                Kind::Remove
            }
            other => {
                return Err(err(
                    path,
                    format!(
                        "Unknown operation with type '{other}' (this evaluator knows replace and remove)"
                    ),
                ));
            }
        };
        ops.push(Op {
            file: file.into(),
            index,
            path: path.into(),
            kind,
            pointer,
        });
    }
    Ok(ops)
}

/// `doc` with `ops` applied in order; the first failure stops it.
pub fn apply(mut doc: Value, ops: &[Op]) -> Result<Value, OpError> {
    for op in ops {
        let result = match &op.kind {
            Kind::Replace(value) => replace(&mut doc, &op.pointer.0, value.clone()),
            Kind::Remove => remove(&mut doc, &op.pointer.0),
        };
        result.map_err(|message| OpError {
            file: op.file.clone(),
            index: op.index,
            path: op.path.clone(),
            message,
        })?;
    }
    Ok(doc)
}

/// An index (with `:prev`/`:next`) made concrete in an array of `len` items.
fn concrete_index(
    index: i64,
    modifiers: &[Modifier],
    len: usize,
    path: &[Token],
) -> Result<usize, String> {
    let mut result = index;
    for modifier in modifiers {
        match modifier {
            Modifier::Prev => result -= 1,
            Modifier::Next => result += 1,
            other => {
                return Err(format!(
                    "Expected to find one of the following modifiers: 'prev', 'next', but found modifier 'patch.{other:?}Modifier'"
                ));
            }
        }
    }
    let len_i = len as i64;
    if result >= len_i || -result > len_i {
        return Err(format!(
            "Expected to find array index '{result}' but found array of length '{len}' for path '{}'",
            path_string(path)
        ));
    }
    Ok(if result < 0 {
        (len_i + result) as usize
    } else {
        result as usize
    })
}

/// Where the last token of a replace puts its value: (position, insert rather than overwrite).
fn insertion(
    index: i64,
    modifiers: &[Modifier],
    len: usize,
    path: &[Token],
) -> Result<(usize, bool), String> {
    let (mut before, mut after) = (false, false);
    let mut moves = Vec::new();
    for modifier in modifiers {
        if before || after {
            let which = if before { "before" } else { "after" };
            return Err(format!(
                "Expected to not find any modifiers after '{which}' modifier, but found modifier 'patch.{modifier:?}Modifier'"
            ));
        }
        match modifier {
            Modifier::Before => before = true,
            Modifier::After => after = true,
            other => moves.push(other.clone()),
        }
    }
    let mut position = concrete_index(index, &moves, len, path)?;
    if after {
        position += 1;
    }
    Ok((position, before || after))
}

fn put(array: &mut Vec<Value>, (position, insert): (usize, bool), value: Value) {
    if insert {
        array.insert(position, value);
    } else {
        array[position] = value;
    }
}

fn matching(array: &[Value], key: &str, value: &str) -> Vec<usize> {
    array
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            item.as_object()
                .and_then(|m| m.get(key))
                .is_some_and(|v| v.as_str() == Some(value))
        })
        .map(|(i, _)| i)
        .collect()
}

fn array_at<'a>(obj: &'a mut Value, path: &[Token]) -> Result<&'a mut Vec<Value>, String> {
    let found = go_type(obj);
    obj.as_array_mut().ok_or_else(|| {
        format!(
            "Expected to find an array at path '{}' but found '{found}'",
            path_string(path)
        )
    })
}

fn map_at<'a>(obj: &'a mut Value, path: &[Token]) -> Result<&'a mut Map<String, Value>, String> {
    let found = go_type(obj);
    obj.as_object_mut().ok_or_else(|| {
        format!(
            "Expected to find a map at path '{}' but found '{found}'",
            path_string(path)
        )
    })
}

fn missing_key(key: &str, map: &Map<String, Value>, path: &[Token]) -> String {
    let siblings = if map.is_empty() {
        "found no other map keys".to_string()
    } else {
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort();
        format!("found map keys: '{}'", keys.join("', '"))
    };
    format!(
        "Expected to find a map key '{key}' for path '{}' ({siblings})",
        path_string(path)
    )
}

fn one_match(idxs: &[usize], path: &[Token]) -> Result<usize, String> {
    if idxs.len() != 1 {
        return Err(format!(
            "Expected to find exactly one matching array item for path '{}' but found {}",
            path_string(path),
            idxs.len()
        ));
    }
    Ok(idxs[0])
}

fn replace(doc: &mut Value, tokens: &[Token], value: Value) -> Result<(), String> {
    if tokens.is_empty() {
        *doc = value;
        return Ok(());
    }
    let mut obj = doc;
    for (i, token) in tokens.iter().enumerate() {
        let last = i == tokens.len() - 1;
        let path = &tokens[..=i];
        match token {
            Token::Index { index, modifiers } => {
                let array = array_at(obj, path)?;
                if last {
                    let at = insertion(*index, modifiers, array.len(), path)?;
                    put(array, at, value);
                    return Ok(());
                }
                let at = concrete_index(*index, modifiers, array.len(), path)?;
                obj = &mut array[at];
            }
            Token::AfterLast => {
                let array = array_at(obj, path)?;
                array.push(value);
                return Ok(());
            }
            Token::Matching {
                key,
                value: wanted,
                optional,
                modifiers,
            } => {
                let array = array_at(obj, path)?;
                let idxs = matching(array, key, wanted);
                if *optional && idxs.is_empty() {
                    if last {
                        array.push(value);
                        return Ok(());
                    }
                    let mut item = Map::new();
                    item.insert(key.clone(), Value::String(wanted.clone()));
                    array.push(Value::Object(item));
                    obj = array.last_mut().expect("just pushed");
                    continue;
                }
                let found = one_match(&idxs, path)?;
                if last {
                    let at = insertion(found as i64, modifiers, array.len(), path)?;
                    put(array, at, value);
                    return Ok(());
                }
                let at = concrete_index(found as i64, modifiers, array.len(), path)?;
                obj = &mut array[at];
            }
            Token::Key { key, optional } => {
                let map = map_at(obj, path)?;
                if !map.contains_key(key) {
                    if !optional {
                        return Err(missing_key(key, map, path));
                    }
                    if !last {
                        // What to create depends on the token that follows.
                        let created = match &tokens[i + 1] {
                            Token::AfterLast | Token::Matching { .. } => Value::Array(Vec::new()),
                            Token::Key { .. } => Value::Object(Map::new()),
                            Token::Index { .. } => {
                                return Err(format!(
                                    "Expected to find key, matching index or after last index token at path '{}'",
                                    path_string(&tokens[..=i + 1])
                                ));
                            }
                        };
                        map.insert(key.clone(), created);
                    }
                }
                if last {
                    map.insert(key.clone(), value);
                    return Ok(());
                }
                obj = map.get_mut(key).expect("present or created");
            }
        }
    }
    Ok(())
}

fn remove(doc: &mut Value, tokens: &[Token]) -> Result<(), String> {
    if tokens.is_empty() {
        return Err("Cannot remove entire document".into());
    }
    let mut obj = doc;
    for (i, token) in tokens.iter().enumerate() {
        let last = i == tokens.len() - 1;
        let path = &tokens[..=i];
        match token {
            Token::Index { index, modifiers } => {
                let array = array_at(obj, path)?;
                let at = concrete_index(*index, modifiers, array.len(), path)?;
                if last {
                    array.remove(at);
                    return Ok(());
                }
                obj = &mut array[at];
            }
            Token::Matching {
                key,
                value,
                optional,
                modifiers,
            } => {
                let array = array_at(obj, path)?;
                let idxs = matching(array, key, value);
                if *optional && idxs.is_empty() {
                    return Ok(());
                }
                let found = one_match(&idxs, path)?;
                let at = concrete_index(found as i64, modifiers, array.len(), path)?;
                if last {
                    array.remove(at);
                    return Ok(());
                }
                obj = &mut array[at];
            }
            Token::Key { key, optional } => {
                let map = map_at(obj, path)?;
                if !map.contains_key(key) {
                    if *optional {
                        return Ok(());
                    }
                    return Err(missing_key(key, map, path));
                }
                if last {
                    map.remove(key);
                    return Ok(());
                }
                obj = map.get_mut(key).expect("present");
            }
            Token::AfterLast => {
                return Err(format!(
                    "Expected to not find token 'patch.AfterLastIndexToken' at path '{}'",
                    path_string(path)
                ));
            }
        }
    }
    Ok(())
}

/// Reads the first value of a path, as `bosh interpolate --path` does (no creation, `?` allowed):
/// `None` when an optional part is missing.
pub fn find<'a>(doc: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let pointer = Pointer::parse(path)?;
    let mut obj = doc;
    for (i, token) in pointer.0.iter().enumerate() {
        let here = &pointer.0[..=i];
        match token {
            Token::Index { index, modifiers } => {
                let Some(array) = obj.as_array() else {
                    return Err(format!(
                        "Expected to find an array at path '{}' but found '{}'",
                        path_string(here),
                        go_type(obj)
                    ));
                };
                obj = &array[concrete_index(*index, modifiers, array.len(), here)?];
            }
            Token::AfterLast => {
                return Err(format!(
                    "Expected not to find after last index token in path '{pointer}' (not supported in find operations)"
                ));
            }
            Token::Matching {
                key,
                value,
                optional,
                modifiers,
            } => {
                let Some(array) = obj.as_array() else {
                    return Err(format!(
                        "Expected to find an array at path '{}' but found '{}'",
                        path_string(here),
                        go_type(obj)
                    ));
                };
                let idxs = matching(array, key, value);
                if *optional && idxs.is_empty() {
                    return Ok(None);
                }
                let found = one_match(&idxs, here)?;
                obj = &array[concrete_index(found as i64, modifiers, array.len(), here)?];
            }
            Token::Key { key, optional } => {
                let Some(map) = obj.as_object() else {
                    return Err(format!(
                        "Expected to find a map at path '{}' but found '{}'",
                        path_string(here),
                        go_type(obj)
                    ));
                };
                match map.get(key) {
                    Some(v) => obj = v,
                    None if *optional => return Ok(None),
                    None => return Err(missing_key(key, map, here)),
                }
            }
        }
    }
    Ok(Some(obj))
}
