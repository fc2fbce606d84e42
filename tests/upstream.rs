//! The rendered bundle checked against facts read off the upstream repositories
//! (`tests/fixtures/upstream/`, rebuilt by its `regenerate` script; see its SOURCES), for every kubo
//! line the tool offers and both director credential modes, without the network:
//!
//! - the bundle's step scripts run here, with recording stand-ins for `bosh`, `credhub` and `curl`
//!   first on the PATH; what they call is what is checked, whatever the command lines are;
//! - (a) every path into bosh-deployment or kubo-deployment a rendered file names exists at the ref
//!   install-tools.sh checks out;
//! - (b) for every `bosh create-env`, `delete-env`, `update-cloud-config`, `update-config`,
//!   `update-runtime-config` and `deploy`, every ops-file applies (go-patch, `common::gopatch`) to
//!   the base manifest: upstream skeletons, or the bundle's own rendered files;
//! - (c) every `((variable))` left is declared in `variables:` or given by the command;
//! - (d) the effective IMDS `http_tokens` of the director's VM, of the VMs the director creates by
//!   default, and of each cluster instance group (its VM type's `metadata_options` merged over the
//!   director's default, as AWS CPI 107.3.2's instance_param_mapper.rb does);
//! - every rendered `.sh` passes `shellcheck -S warning`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Env;
use common::gopatch;
use serde_json::{Value, json};

/// The kubo-deployment refs the tool offers (`kubo_deployment_ref`), and whether it deploys their
/// cluster: v0.16.0's is refused before anything runs (docs/compatibility.md), so only the
/// director's steps ever run with it; the test checks that refusal too.
const LINES: [(&str, bool); 2] = [("v0.44.0", true), ("v0.16.0", false)];

/// The settings of `cluster_http_tokens` each line is rendered with (None: the key left out).
const CLUSTER_HTTP_TOKENS: [Option<&str>; 3] = [None, Some("required"), Some("optional")];

/// The bundle's steps as cfcr-aws runs them, and the teardown as unpave runs it.
const STEPS: [&[&str]; 6] = [
    &["deploy-bosh.sh"],
    &["update-cloud-config.sh"],
    &["upload-stemcell.sh"],
    &["deploy-kubernetes.sh"],
    &["apply-addons.sh"],
    &["teardown.sh", "--deployment", "--clean-up"],
];

/// The steps of `--director-only`, and its teardown.
const DIRECTOR_STEPS: [&[&str]; 3] = [
    &["deploy-bosh.sh"],
    &["update-cloud-config.sh"],
    &["teardown.sh", "--clean-up"],
];

/// The bosh commands whose manifest (with its ops-files and variables) is checked.
const MANIFEST_COMMANDS: [&str; 6] = [
    "create-env",
    "delete-env",
    "update-cloud-config",
    "update-config",
    "update-runtime-config",
    "deploy",
];

fn facts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream")
}

// ---------------------------------------------------------------------------------------------
// YAML and variables

fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match yaml_to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    serde_norway::from_str::<serde_norway::Value>(text)
        .map(yaml_to_json)
        .map_err(|e| e.to_string())
}

/// The BOSH variables a string refers to (`((name))`, `((name.key))`, `((!name))`), as written.
fn variables_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("((") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("))") else { break };
        let inner = &after[..end];
        let body = inner.strip_prefix('!').unwrap_or(inner);
        if !body.is_empty()
            && body
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'))
        {
            found.push(inner.to_string());
            rest = &after[end + 2..];
        } else {
            rest = &rest[start + 1..];
        }
    }
    found
}

/// The variable a reference needs: `((!a.b))` needs `a`.
fn variable_name(reference: &str) -> &str {
    let reference = reference.strip_prefix('!').unwrap_or(reference);
    reference.split('.').next().unwrap_or(reference)
}

/// Every variable reference in a document, with where it is (the first place).
fn references(doc: &Value) -> BTreeMap<String, String> {
    fn walk(value: &Value, at: &str, out: &mut BTreeMap<String, String>) {
        match value {
            Value::String(s) => {
                for reference in variables_in(s) {
                    out.entry(variable_name(&reference).to_string())
                        .or_insert_with(|| format!("{at} (\"(({reference}))\")"));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let step = match item.get("name").and_then(Value::as_str) {
                        Some(name) => format!("name={name}"),
                        None => i.to_string(),
                    };
                    walk(item, &format!("{at}/{step}"), out);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    walk(item, &format!("{at}/{key}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(doc, "", &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// The bosh command line

/// One recorded call of a stand-in.
#[derive(Clone, Debug)]
struct Call {
    script: String,
    tool: String,
    cwd: PathBuf,
    args: Vec<String>,
    /// The names (never the values) of its environment variables.
    env: BTreeSet<String>,
}

impl Call {
    fn line(&self) -> String {
        let mut line = self.tool.clone();
        for arg in &self.args {
            line.push(' ');
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"') {
                line.push_str(&format!("{arg:?}"));
            } else {
                line.push_str(arg);
            }
        }
        line
    }
}

/// A bosh command line, parsed as the CLI's flags parser reads it.
#[derive(Clone, Debug, Default)]
struct Bosh {
    command: String,
    positional: Vec<String>,
    ops_files: Vec<String>,
    vars: BTreeMap<String, String>,
    var_files: BTreeMap<String, String>,
    vars_files: Vec<String>,
    var_envs: Vec<String>,
    config_type: Option<String>,
    path: Option<String>,
}

const BOSH_VALUE_OPTIONS: [&str; 18] = [
    "ops-file",
    "var",
    "vars-file",
    "var-file",
    "var-env",
    "vars-store",
    "state",
    "deployment",
    "environment",
    "type",
    "name",
    "path",
    "sha1",
    "version",
    "ca-cert",
    "client",
    "client-secret",
    "config",
];

const BOSH_FLAGS: [&str; 12] = [
    "non-interactive",
    "tty",
    "no-color",
    "json",
    "all",
    "fix",
    "recreate",
    "dry-run",
    "force",
    "skip-drain",
    "no-redact",
    "output-json",
];

fn parse_bosh(args: &[String]) -> Result<Bosh, String> {
    let mut bosh = Bosh::default();
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (name, attached) = if arg == "--" {
            words.extend(args[i..].iter().cloned());
            break;
        } else if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if arg.len() >= 2 && arg.starts_with('-') && !arg.starts_with("--") {
            let short = &arg[1..2];
            let long = match short {
                "o" => "ops-file",
                "v" => "var",
                "l" => "vars-file",
                "d" => "deployment",
                "e" => "environment",
                "n" => "non-interactive",
                _ => return Err(format!("an option this check does not know: {arg}")),
            };
            let rest = &arg[2..];
            (
                long.to_string(),
                (!rest.is_empty()).then(|| rest.trim_start_matches('=').to_string()),
            )
        } else {
            words.push(arg.clone());
            continue;
        };
        if BOSH_FLAGS.contains(&name.as_str()) {
            if attached.is_some() {
                return Err(format!("--{name} takes no value: {arg}"));
            }
            continue;
        }
        if !BOSH_VALUE_OPTIONS.contains(&name.as_str()) {
            return Err(format!("an option this check does not know: {arg}"));
        }
        let value = match attached {
            Some(v) => v,
            None => {
                let Some(v) = args.get(i) else {
                    return Err(format!("{arg} without its value"));
                };
                i += 1;
                v.clone()
            }
        };
        let pair = |v: &str| -> Result<(String, String), String> {
            v.split_once('=')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("--{name} {v}: expected NAME=VALUE"))
        };
        match name.as_str() {
            "ops-file" => bosh.ops_files.push(value),
            "var" => {
                let (k, v) = pair(&value)?;
                bosh.vars.insert(k, v);
            }
            "var-file" => {
                let (k, v) = pair(&value)?;
                bosh.var_files.insert(k, v);
            }
            "vars-file" => bosh.vars_files.push(value),
            "var-env" => bosh.var_envs.push(value),
            "type" => bosh.config_type = Some(value),
            "path" => bosh.path = Some(value),
            _ => {}
        }
    }
    let mut words = words.into_iter();
    bosh.command = words.next().unwrap_or_default();
    bosh.positional = words.collect();
    Ok(bosh)
}

// ---------------------------------------------------------------------------------------------
// Facts and documents

/// Where a file named on a command line comes from.
#[derive(Clone, Debug)]
enum Source {
    Upstream {
        dir: String,
        repo: String,
        git_ref: String,
        path: String,
    },
    Bundle(PathBuf),
}

struct Bundle {
    dir: PathBuf,
    /// checkout dir → (repository name, ref), from install-tools.sh's `checkout DIR URL REF`.
    checkouts: BTreeMap<String, (String, String)>,
}

impl Bundle {
    fn read(dir: &Path) -> Result<Bundle, String> {
        let install = std::fs::read_to_string(dir.join("install-tools.sh"))
            .map_err(|e| format!("install-tools.sh: {e}"))?;
        let mut checkouts = BTreeMap::new();
        for line in install.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["checkout", target, url, git_ref] = words[..] {
                let repo = url.trim_end_matches(".git").rsplit('/').next().unwrap();
                checkouts.insert(target.to_string(), (repo.to_string(), git_ref.to_string()));
            }
        }
        if checkouts.is_empty() {
            return Err("install-tools.sh has no `checkout DIR URL REF` line".into());
        }
        Ok(Bundle {
            dir: dir.canonicalize().unwrap(),
            checkouts,
        })
    }

    /// What a path on a command line run in `cwd` names.
    fn source(&self, cwd: &Path, path: &str) -> Source {
        // The shell's $PWD may reach the bundle through a symlink; self.dir is canonical.
        let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
        let full = cwd.join(path);
        let relative = full
            .strip_prefix(&self.dir)
            .map(Path::to_path_buf)
            .unwrap_or(full.clone());
        let text = relative.to_string_lossy().to_string();
        for (dir, (repo, git_ref)) in &self.checkouts {
            if let Some(path) = text.strip_prefix(&format!("{dir}/")) {
                return Source::Upstream {
                    dir: dir.clone(),
                    repo: repo.clone(),
                    git_ref: git_ref.clone(),
                    path: path.to_string(),
                };
            }
        }
        Source::Bundle(full)
    }

    fn load(&self, source: &Source) -> Result<Value, String> {
        match source {
            Source::Upstream {
                dir,
                repo,
                git_ref,
                path,
            } => {
                let files = upstream_files(repo, git_ref)?;
                if !files.contains(path) {
                    return Err(format!("not in {repo} at {git_ref}"));
                }
                let skeleton = facts().join(format!("skeletons/{repo}@{git_ref}/{path}.json"));
                let text = std::fs::read_to_string(&skeleton).map_err(|_| {
                    format!(
                        "{dir}/{path} exists in {repo} at {git_ref}, but tests/fixtures/upstream has no skeleton of it: add it to SKELETONS in tests/fixtures/upstream/regenerate and run that"
                    )
                })?;
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", skeleton.display()))
            }
            Source::Bundle(path) => {
                let shown = path.strip_prefix(&self.dir).unwrap_or(path).display();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{shown}: not in the bundle ({e})"))?;
                parse_yaml(&text).map_err(|e| format!("{shown}: {e}"))
            }
        }
    }
}

fn upstream_files(repo: &str, git_ref: &str) -> Result<BTreeSet<String>, String> {
    let list = facts().join(format!("files/{repo}@{git_ref}.txt"));
    std::fs::read_to_string(&list)
        .map(|text| text.lines().map(str::to_string).collect())
        .map_err(|_| {
            format!(
                "no facts about {repo} at {git_ref} (tests/fixtures/upstream/files/{repo}@{git_ref}.txt): add the ref to tests/fixtures/upstream/regenerate and run it"
            )
        })
}

// ---------------------------------------------------------------------------------------------
// Running the steps

/// A stand-in for bosh, credhub and curl: records its name, working directory and arguments
/// (NUL-separated, so quoting is kept) and its environment's variable names, one file per call;
/// answers `bosh int ... --path X` with a dummy value.
const STAND_IN: &str = r#"#!/usr/bin/env bash
dir=$CFCR_TEST_RECORD
n=$(find "$dir" -maxdepth 1 -name '*.call' | wc -l)
id=$(printf '%06d' "$n")
printf '%s\0' "${0##*/}" "$PWD" "$@" >"$dir/$id.call"
compgen -e >"$dir/$id.env"
if [[ ${0##*/} == bosh ]]; then
  previous=
  for arg in "$@"; do
    if [[ $previous == --path ]]; then echo "stand-in-value-of-$arg"; fi
    if [[ $arg == --path=* ]]; then echo "stand-in-value-of-${arg#--path=}"; fi
    previous=$arg
  done
fi
exit 0
"#;

/// Runs `steps` of the bundle in `bundle` with the stand-ins; the calls, in order.
fn run_steps(bundle: &Path, steps: &[&[&str]], problems: &mut Vec<String>) -> Vec<Call> {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    let home = root.path().join("home");
    let record = root.path().join("record");
    for dir in [&bin, &home.join("bin"), &record] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let stand_in = root.path().join("stand-in");
    std::fs::write(&stand_in, STAND_IN).unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    // env.sh puts ~/bin first; the stand-ins are there too.
    for tool in ["bosh", "credhub", "curl"] {
        std::os::unix::fs::symlink(&stand_in, bin.join(tool)).unwrap();
        std::os::unix::fs::symlink(&stand_in, home.join("bin").join(tool)).unwrap();
    }
    let mut calls = Vec::new();
    for step in steps {
        let script = bundle.join(step[0]);
        let out = Command::new(&script)
            .args(&step[1..])
            .current_dir(root.path())
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            )
            .env("HOME", &home)
            .env("CFCR_TEST_RECORD", &record)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        if !out.status.success() {
            problems.push(format!(
                "{} exited with {}: {}",
                step.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let mut names: Vec<PathBuf> = std::fs::read_dir(&record)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "call"))
            .collect();
        names.sort();
        for path in names {
            let bytes = std::fs::read(&path).unwrap();
            let mut fields: Vec<String> = bytes
                .split(|b| *b == 0)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            fields.pop(); // after the last NUL
            let env = std::fs::read_to_string(path.with_extension("env"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect();
            calls.push(Call {
                script: step.join(" "),
                tool: fields[0].clone(),
                cwd: PathBuf::from(&fields[1]),
                args: fields[2..].to_vec(),
                env,
            });
            std::fs::remove_file(&path).unwrap();
            let _ = std::fs::remove_file(path.with_extension("env"));
        }
    }
    calls
}

// ---------------------------------------------------------------------------------------------
// The checks

/// What a checked bosh command produced.
struct Evaluated {
    call: Call,
    bosh: Bosh,
    /// The manifest with every ops-file applied; None when that failed.
    doc: Option<Value>,
}

/// The cluster's step scripts: never run with a line whose cluster the tool refuses.
const CLUSTER_SCRIPTS: [&str; 3] = [
    "upload-stemcell.sh",
    "deploy-kubernetes.sh",
    "apply-addons.sh",
];

/// (a) Every path into an upstream checkout that a rendered file names exists at its ref (without
/// the cluster, in every file but the cluster's scripts).
fn check_named_paths(bundle: &Bundle, cluster: bool, problems: &mut Vec<String>) {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![bundle.dir.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let name = file
            .strip_prefix(&bundle.dir)
            .unwrap()
            .display()
            .to_string();
        if !cluster && CLUSTER_SCRIPTS.contains(&name.as_str()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for word in text.split(|c: char| c.is_whitespace() || "\"'=;()`".contains(c)) {
            let word = word.trim_end_matches(['\\', ',']);
            for (dir, (repo, git_ref)) in &bundle.checkouts {
                let Some(path) = word.strip_prefix(&format!("{dir}/")) else {
                    continue;
                };
                if path.is_empty() || path.contains(['$', '*', '{']) {
                    continue;
                }
                match upstream_files(repo, git_ref) {
                    Ok(list) if list.contains(path) => {}
                    Ok(_) => problems.push(format!(
                        "(a) {name} names {dir}/{path}, which {repo} does not have at {git_ref}"
                    )),
                    Err(e) => problems.push(format!("(a) {name}: {e}")),
                }
            }
        }
    }
}

/// (b) and (c) for one bosh call: the manifest, every ops-file applied, every variable provided.
fn evaluate(bundle: &Bundle, call: &Call, problems: &mut Vec<String>) -> Option<Evaluated> {
    let bosh = match parse_bosh(&call.args) {
        Ok(bosh) => bosh,
        Err(e) => {
            problems.push(format!("{}: `{}`: {e}", call.script, call.line()));
            return None;
        }
    };
    let checked = MANIFEST_COMMANDS.contains(&bosh.command.as_str());
    let interpolated = matches!(bosh.command.as_str(), "int" | "interpolate");
    if !checked && !interpolated {
        return None;
    }
    let what = format!("{}: bosh {}", call.script, bosh.command);
    let Some(base) = bosh.positional.first() else {
        problems.push(format!("(b) {what}: no manifest on `{}`", call.line()));
        return None;
    };
    let base_source = bundle.source(&call.cwd, base);
    // `bosh int` of a file outside the checkouts reads the vars store: nothing to check.
    if interpolated && matches!(base_source, Source::Bundle(_)) {
        return None;
    }
    let mut doc = match bundle.load(&base_source) {
        Ok(doc) => Some(doc),
        Err(e) => {
            problems.push(format!("(b) {what}: its manifest {base}: {e}"));
            None
        }
    };
    for file in &bosh.ops_files {
        let ops = match bundle.load(&bundle.source(&call.cwd, file)) {
            Ok(ops) => ops,
            Err(e) => {
                problems.push(format!("(b) {what}: -o {file}: {e}"));
                continue;
            }
        };
        let ops = match gopatch::ops_from(file, &ops) {
            Ok(ops) => ops,
            Err(e) => {
                problems.push(format!("(b) {what}: {e}"));
                continue;
            }
        };
        if let Some(current) = doc.take() {
            match gopatch::apply(current, &ops) {
                Ok(next) => doc = Some(next),
                Err(e) => problems.push(format!("(b) {what} {base}: {e}")),
            }
        }
    }
    if interpolated {
        if let (Some(doc), Some(path)) = (&doc, &bosh.path)
            && let Err(e) = gopatch::find(doc, path)
        {
            problems.push(format!("(b) {what} {base} --path {path}: {e}"));
        }
        return None;
    }
    if let Some(doc) = &doc {
        check_variables(bundle, call, &bosh, doc, &what, problems);
    }
    Some(Evaluated {
        call: call.clone(),
        bosh,
        doc,
    })
}

/// (c) Every variable left in the result is declared or given by the command.
fn check_variables(
    bundle: &Bundle,
    call: &Call,
    bosh: &Bosh,
    doc: &Value,
    what: &str,
    problems: &mut Vec<String>,
) {
    let mut given: BTreeSet<String> = doc["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    given.extend(bosh.vars.keys().cloned());
    given.extend(bosh.var_files.keys().cloned());
    for prefix in &bosh.var_envs {
        let prefix = format!("{prefix}_");
        given.extend(
            call.env
                .iter()
                .filter_map(|name| name.strip_prefix(&prefix).map(str::to_string)),
        );
    }
    for file in &bosh.vars_files {
        match bundle.load(&bundle.source(&call.cwd, file)) {
            Ok(Value::Object(map)) => given.extend(map.keys().cloned()),
            Ok(_) => problems.push(format!("(c) {what}: -l {file} is not a map of variables")),
            Err(e) => problems.push(format!("(c) {what}: -l {file}: {e}")),
        }
    }
    for (name, at) in references(doc) {
        if !given.contains(&name) {
            problems.push(format!(
                "(c) {what}: (({name})) at {at} is neither declared under variables: nor given by the command (-v, --var-file, -l, --var-env)"
            ));
        }
    }
}

/// A value the command gives for a `((variable))`, or the value itself.
fn resolved<'a>(value: &'a Value, vars: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let text = value.as_str()?;
    if let [reference] = &variables_in(text)[..]
        && text == format!("(({reference}))")
    {
        return vars.get(variable_name(reference)).map(String::as_str);
    }
    Some(text)
}

/// `text` with every variable the command gives filled in, as BOSH interpolates names.
fn interpolated(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for reference in variables_in(text) {
        if let Some(value) = vars.get(variable_name(&reference)) {
            out = out.replace(&format!("(({reference}))"), value);
        }
    }
    out
}

fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    gopatch::find(doc, path).ok().flatten()
}

/// `metadata_options` as a map (absent: empty).
fn metadata_options(value: Option<&Value>) -> serde_json::Map<String, Value> {
    value
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn tokens_of(options: &serde_json::Map<String, Value>, vars: &BTreeMap<String, String>) -> String {
    match options.get("http_tokens") {
        None => "optional".into(), // AWS's default for an instance launched without metadata options
        Some(v) => resolved(v, vars)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{v} (unresolved)")),
    }
}

/// (d) The effective IMDS http_tokens of the director, its default, and every cluster VM: every
/// instance group of the deploy and compilation, or without a deploy every VM type of the cloud
/// config.
fn check_imds(
    evaluated: &[Evaluated],
    cluster: bool,
    cluster_expected: &str,
    why: &str,
    problems: &mut Vec<String>,
) {
    let of = |command: &'static str| {
        evaluated
            .iter()
            .filter(move |e| e.bosh.command == command && e.doc.is_some())
    };
    let Some(director) = of("create-env").next() else {
        problems.push("(d) IMDS: no bosh create-env whose manifest could be built".into());
        return;
    };
    let doc = director.doc.as_ref().unwrap();
    let vars = &director.bosh.vars;
    let vm = metadata_options(at(doc, "/cloud_provider/properties/aws/metadata_options"));
    let default = metadata_options(at(
        doc,
        "/instance_groups/name=bosh/properties/aws/metadata_options",
    ));
    for (what, options) in [
        ("the director's VM (create-env's cloud_provider)", &vm),
        (
            "the director's default for the VMs it creates (instance_groups/name=bosh/properties/aws/metadata_options)",
            &default,
        ),
    ] {
        let tokens = tokens_of(options, vars);
        if tokens != "required" {
            problems.push(format!(
                "(d) IMDS: {what}: http_tokens {tokens}, expected required"
            ));
        }
    }
    // The cloud config: every `update-cloud-config` and `update-config --type cloud`.
    let clouds: Vec<&Evaluated> = evaluated
        .iter()
        .filter(|e| {
            e.doc.is_some()
                && (e.bosh.command == "update-cloud-config"
                    || (e.bosh.command == "update-config"
                        && e.bosh.config_type.as_deref() == Some("cloud")))
        })
        .collect();
    let deploy = of("deploy").next();
    if cluster && deploy.is_none() {
        problems.push("(d) IMDS: no bosh deploy whose manifest could be built".into());
        return;
    }
    if clouds.is_empty() {
        problems.push(
            "(d) IMDS: no cloud config could be built: the cluster's VM types are unknown".into(),
        );
        return;
    }
    // Names as the director sees them: each config's and the deploy's variables filled in.
    let find_named = |section: &str, name: &str| -> Option<(&Value, &BTreeMap<String, String>)> {
        clouds.iter().find_map(|c| {
            let doc = c.doc.as_ref().unwrap();
            doc[section]
                .as_array()?
                .iter()
                .find(|item| {
                    item["name"]
                        .as_str()
                        .is_some_and(|n| interpolated(n, &c.bosh.vars) == name)
                })
                .map(|item| (item, &c.bosh.vars))
        })
    };
    let deploy_vars = deploy.map(|d| d.bosh.vars.clone()).unwrap_or_default();
    let instance_groups = match deploy {
        Some(deploy) => deploy.doc.as_ref().unwrap()["instance_groups"].clone(),
        // The director alone: every VM type the cluster could be deployed with.
        None => Value::Array(
            clouds
                .iter()
                .flat_map(|c| {
                    c.doc.as_ref().unwrap()["vm_types"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .map(|t| json!({"name": format!("of vm_type {}", t["name"].as_str().unwrap_or("?")), "vm_type": t["name"]}))
                .collect(),
        ),
    };
    let mut groups: Vec<(String, Option<String>, Vec<String>)> = instance_groups
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                format!(
                    "instance group {}",
                    g["name"].as_str().unwrap_or("(unnamed)")
                ),
                g["vm_type"].as_str().map(str::to_string),
                g["vm_extensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str().map(|e| interpolated(e, &deploy_vars)))
                    .collect(),
            )
        })
        .collect();
    for cloud in &clouds {
        let compilation = &cloud.doc.as_ref().unwrap()["compilation"];
        if let Some(vm_type) = compilation["vm_type"].as_str() {
            groups.push(("compilation".into(), Some(vm_type.into()), Vec::new()));
        }
    }
    for (group, vm_type, extensions) in groups {
        let Some(vm_type) = vm_type else {
            problems.push(format!("(d) IMDS: {group} has no vm_type"));
            continue;
        };
        let Some((item, vars)) = find_named("vm_types", &vm_type) else {
            problems.push(format!(
                "(d) {group}: vm_type {vm_type} is not in the cloud config"
            ));
            continue;
        };
        // The director merges the VM extensions' cloud properties into the VM type's; the CPI
        // merges the result's metadata_options over the director's default.
        let mut merged = default.clone();
        merged.extend(metadata_options(
            item["cloud_properties"].get("metadata_options"),
        ));
        for extension in &extensions {
            match find_named("vm_extensions", extension) {
                Some((ext, _)) => merged.extend(metadata_options(
                    ext["cloud_properties"].get("metadata_options"),
                )),
                None => problems.push(format!(
                    "(d) {group}: vm_extension {extension} is not in the cloud config"
                )),
            }
        }
        let tokens = tokens_of(&merged, vars);
        if tokens != cluster_expected {
            problems.push(format!(
                "(d) IMDS: {group} (vm_type {vm_type}): http_tokens {tokens} (the director's default {}, the VM type's {}), expected {cluster_expected}{why}",
                tokens_of(&default, &director.bosh.vars),
                item["cloud_properties"]
                    .get("metadata_options")
                    .map_or("none".to_string(), |m| m.to_string()),
            ));
        }
    }
}

/// The arguments of `a` that `b` lacks, an option with its value (`-o FILE`) as one.
fn difference(a: &[String], b: &[String]) -> Vec<String> {
    let group = |args: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            if args[i].starts_with('-') && !args[i].contains('=') && i + 1 < args.len() {
                out.push(format!("{} {}", args[i], args[i + 1]));
                i += 2;
            } else {
                out.push(args[i].clone());
                i += 1;
            }
        }
        out
    };
    let b = group(b);
    group(a).into_iter().filter(|x| !b.contains(x)).collect()
}

/// Every check on one rendered bundle, with the cluster's steps or the director's alone: the
/// problems found.
fn check_bundle(dir: &Path, cluster: bool, cluster_expected: &str, why: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let bundle = match Bundle::read(dir) {
        Ok(bundle) => bundle,
        Err(e) => return vec![e],
    };
    check_named_paths(&bundle, cluster, &mut problems);
    let steps: &[&[&str]] = if cluster { &STEPS } else { &DIRECTOR_STEPS };
    let calls = run_steps(dir, steps, &mut problems);
    let evaluated: Vec<Evaluated> = calls
        .iter()
        .filter(|c| c.tool == "bosh")
        .filter_map(|c| evaluate(&bundle, c, &mut problems))
        .collect();
    let expected: &[&str] = if cluster {
        &["create-env", "update-cloud-config", "deploy", "delete-env"]
    } else {
        &["create-env", "update-cloud-config", "delete-env"]
    };
    for command in expected {
        if !evaluated.iter().any(|e| e.bosh.command == *command) {
            problems.push(format!("no step ran `bosh {command}`"));
        }
    }
    // The teardown deletes exactly the director that was created.
    let env_args = |command: &str| {
        evaluated
            .iter()
            .find(|e| e.bosh.command == command)
            .map(|e| -> Vec<String> {
                let mut args = e.call.args.clone();
                args.retain(|a| a != "-n" && a != "--non-interactive");
                if let Some(i) = args.iter().position(|a| a == command) {
                    args.remove(i);
                }
                args
            })
    };
    if let (Some(create), Some(delete)) = (env_args("create-env"), env_args("delete-env"))
        && create != delete
    {
        let lacks: Vec<String> = difference(&create, &delete);
        let adds: Vec<String> = difference(&delete, &create);
        let mut what = Vec::new();
        if !lacks.is_empty() {
            what.push(format!("it lacks {}", lacks.join(" ")));
        }
        if !adds.is_empty() {
            what.push(format!("it adds {}", adds.join(" ")));
        }
        if what.is_empty() {
            what.push("the same arguments in another order".into());
        }
        problems.push(format!(
            "teardown's bosh delete-env has other arguments than deploy-bosh's create-env: {}",
            what.join("; ")
        ));
    }
    check_imds(&evaluated, cluster, cluster_expected, why, &mut problems);
    problems
}

// ---------------------------------------------------------------------------------------------
// Environments

/// One paved environment in a credential mode, re-paved with each line's settings.
struct Paved {
    env: Env,
    base_config: String,
}

impl Paved {
    fn new(label: &str, mode: &str) -> Paved {
        Paved::with(label, &format!("director_credentials = \"{mode}\""))
    }

    fn with(label: &str, config: &str) -> Paved {
        let env = Env::new(label, config);
        let base_config = std::fs::read_to_string(env.path().join("cfcr-aws.toml")).unwrap();
        env.pave();
        Paved { env, base_config }
    }

    /// Unpaves, with the config it was paved with (a later one may not even parse).
    fn unpave(&self) {
        std::fs::write(self.env.path().join("cfcr-aws.toml"), &self.base_config).unwrap();
        self.env.unpave();
    }

    /// Re-paves with the hand-off settings of a line, then renders; the bundle's directory.
    fn render(&self, line: &str, cluster_http_tokens: Option<&str>) -> Result<PathBuf, String> {
        let mut config = format!("{}kubo_deployment_ref = \"{line}\"\n", self.base_config);
        if let Some(tokens) = cluster_http_tokens {
            writeln!(config, "cluster_http_tokens = \"{tokens}\"").unwrap();
        }
        std::fs::write(self.env.path().join("cfcr-aws.toml"), config).unwrap();
        let run = self.env.run(&["pave", "--yes", "--no-bootstrap"]);
        if run.code != 0 {
            let first = run.stderr.lines().next().unwrap_or_default();
            let cut: String = first.chars().take(160).collect();
            return Err(format!(
                "pave --no-bootstrap refused the settings (exit {}): {cut}{}",
                run.code,
                if cut.len() < first.len() { "..." } else { "" }
            ));
        }
        let label = format!("bundle-{line}-{}", cluster_http_tokens.unwrap_or("default"));
        let out = self.env.path().join(label);
        let run = self.env.run(&["render", "--out", out.to_str().unwrap()]);
        if run.code != 0 {
            return Err(format!(
                "render failed (exit {}): {}",
                run.code,
                run.stderr.trim()
            ));
        }
        Ok(out)
    }
}

impl Paved {
    /// The line's cluster is refused before the hand-off runs anything (`bootstrap` checks it
    /// before it connects): what is wrong if not.
    fn cluster_refused(&self, line: &str) -> Option<String> {
        let run = self.env.run(&["bootstrap"]);
        (run.code != 2 || !run.stderr.contains("api_version 2")).then(|| {
            format!(
                "kubo {line}'s cluster was not refused before the hand-off (exit {}): {}",
                run.code,
                run.stderr.trim()
            )
        })
    }
}

/// Why a line's cluster VMs must allow IMDSv1 unless `cluster_http_tokens` says otherwise.
fn cluster_default_reason(line: &str) -> &'static str {
    match line {
        "v0.16.0" => "kubo v0.16.0: Kubernetes 1.9.6 cannot do IMDSv2",
        "v0.44.0" => {
            "kubo v0.44.0: Kubernetes 1.17.9 vendors aws-sdk-go v1.16.26, and its manifest pins ubuntu-xenial 621.76, whose bosh-agent has no IMDSv2"
        }
        _ => "a kubo line this test does not know",
    }
}

fn case_name(mode: &str, line: &str, tokens: Option<&str>) -> String {
    match tokens {
        Some(t) => format!("kubo {line}, {mode}, cluster_http_tokens = \"{t}\""),
        None => format!("kubo {line}, {mode}, cluster_http_tokens unset"),
    }
}

fn summary(results: &[(String, Vec<String>)]) -> String {
    let mut text = String::new();
    for (case, problems) in results {
        if problems.is_empty() {
            writeln!(text, "{case}: ok").unwrap();
        } else {
            writeln!(text, "{case}: {} problem(s)", problems.len()).unwrap();
            for problem in problems {
                writeln!(text, "  - {problem}").unwrap();
            }
        }
    }
    text
}

fn bundles_match_upstream(label: &str, mode: &str, extra: &str) {
    let paved = Paved::with(
        label,
        &format!("director_credentials = \"{mode}\"\n{extra}"),
    );
    let mut results = Vec::new();
    for (line, cluster) in LINES {
        for tokens in CLUSTER_HTTP_TOKENS {
            let (expected, why) = match tokens {
                Some(forced) => (forced, " (cluster_http_tokens)".to_string()),
                None => ("optional", format!(" ({})", cluster_default_reason(line))),
            };
            let mut problems = match paved.render(line, tokens) {
                Ok(dir) => check_bundle(&dir, cluster, expected, &why),
                Err(e) => vec![e],
            };
            if !cluster {
                problems.extend(paved.cluster_refused(line));
            }
            results.push((case_name(mode, line, tokens), problems));
        }
    }
    paved.unpave();
    assert!(
        results.iter().all(|(_, p)| p.is_empty()),
        "the rendered bundles do not match upstream:\n{}",
        summary(&results)
    );
}

#[test]
fn instance_profile_bundles_match_upstream() {
    bundles_match_upstream("upip", "instance-profile", "");
}

#[test]
fn access_key_bundles_match_upstream() {
    // With a downloads mirror: every release the line's deploy names is taken from it.
    bundles_match_upstream(
        "upak",
        "access-key",
        "downloads_mirror = \"https://mirror.example.com/cfcr\"",
    );
}

/// shellcheck's path, installed by tests/harness/shellcheck.sh.
fn shellcheck() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/shellcheck.sh");
    let out = Command::new("bash").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "tests/harness/shellcheck.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The shellcheck warnings of every `.sh` in a bundle, one line each.
fn shellcheck_bundle(shellcheck: &Path, dir: &Path) -> Vec<String> {
    let mut scripts: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sh"))
        .collect();
    scripts.sort();
    let mut warnings = Vec::new();
    for script in scripts {
        let text = std::fs::read_to_string(dir.join(&script)).unwrap();
        let mut command = Command::new(shellcheck);
        command
            .current_dir(dir)
            .args(["-S", "warning", "-x", "-f", "gcc"]);
        // Sourced files have no shebang: they are bash, like every script that sources them.
        if !text.starts_with("#!") {
            command.arg("--shell=bash");
        }
        let out = command.arg(&script).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        warnings.extend(stdout.lines().map(str::to_string));
        if !out.status.success() && stdout.trim().is_empty() {
            warnings.push(format!(
                "{script}: shellcheck failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    warnings
}

#[test]
fn rendered_scripts_pass_shellcheck() {
    let shellcheck = shellcheck();
    let mut results = Vec::new();
    for (label, mode) in [("upsi", "instance-profile"), ("upsa", "access-key")] {
        let paved = Paved::new(label, mode);
        for (line, _) in LINES {
            let warnings = match paved.render(line, None) {
                Ok(dir) => shellcheck_bundle(&shellcheck, &dir),
                Err(e) => vec![e],
            };
            results.push((format!("kubo {line}, {mode}"), warnings));
        }
        paved.unpave();
    }
    assert!(
        results.iter().all(|(_, w)| w.is_empty()),
        "shellcheck -S warning on the rendered scripts:\n{}",
        summary(&results)
    );
}

/// The checks themselves find what they are for: a bundle made here (no LocalStack, no
/// templates) whose steps name a missing upstream file, leave variables unset, carry an op that
/// cannot apply, read a path cfcr.yml lacks, tear down another director than they create, and
/// leave some cluster VMs at the director's IMDSv2 default.
#[test]
fn the_checks_find_what_they_are_for() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let files: [(&str, &str); 11] = [
        (
            "install-tools.sh",
            "checkout bosh-deployment https://github.com/cloudfoundry/bosh-deployment c3b2109\n\
             checkout kubo-deployment https://github.com/cloudfoundry-incubator/kubo-deployment v0.16.0\n",
        ),
        (
            "deploy-bosh.sh",
            "export dv_access_key_id=x\n\
             bosh create-env bosh-deployment/bosh.yml -o bosh-deployment/aws/cpi.yml -o imds.yml \\\n\
             --var-env=dv -v director_name=d -v internal_cidr=c -v internal_gw=g -v internal_ip=i \\\n\
             -v region=r -v az=z -v default_key_name=k -v 'default_security_groups=[s]' -v subnet_id=s\n",
        ),
        (
            "update-cloud-config.sh",
            "bosh -n update-cloud-config kubo-deployment/configurations/aws/cloud-config.yml \\\n\
             -o vm-types.yml -v az=z -v internal_cidr=c -v dns_recursor_ip=d -v subnet_id=s \\\n\
             -v master_iam_instance_profile=m -v worker_iam_instance_profile=w -v tokens=optional\n",
        ),
        (
            "upload-stemcell.sh",
            "bosh int kubo-deployment/manifests/cfcr.yml --path /stemcells/0/flavour\n",
        ),
        (
            "deploy-kubernetes.sh",
            "bosh -n update-runtime-config --name dns bosh-deployment/runtime-configs/dns.yml -o broken.yml\n\
             bosh -n -d cfcr deploy kubo-deployment/manifests/cfcr.yml \\\n\
             -o kubo-deployment/manifests/ops-files/iaas/aws/lb.yml \\\n\
             -o kubo-deployment/manifests/ops-files/iaas/aws/elb.yml\n",
        ),
        (
            "apply-addons.sh",
            "bosh -n -d cfcr run-errand apply-addons\n",
        ),
        (
            "teardown.sh",
            "export dv_access_key_id=x\n\
             bosh -n delete-env bosh-deployment/bosh.yml -o bosh-deployment/aws/cpi.yml \\\n\
             --var-env=dv -v director_name=d -v internal_cidr=c -v internal_gw=g -v internal_ip=i \\\n\
             -v region=r -v az=z -v default_key_name=k -v 'default_security_groups=[s]' -v subnet_id=s\n",
        ),
        (
            "imds.yml",
            "- {type: replace, path: /cloud_provider/properties/aws/metadata_options?, value: {http_tokens: required}}\n\
             - {type: replace, path: /instance_groups/name=bosh/properties/aws/metadata_options?, value: {http_tokens: required}}\n",
        ),
        (
            "vm-types.yml",
            "- {type: replace, path: /vm_types/name=master/name, value: small}\n\
             - {type: replace, path: /vm_types/name=worker/name, value: small-highmem}\n\
             - {type: replace, path: /vm_types/name=small/cloud_properties/metadata_options?, value: {http_tokens: ((tokens))}}\n\
             - {type: replace, path: /compilation/vm_type, value: small-highmem}\n",
        ),
        (
            "broken.yml",
            "- {type: replace, path: /addons/name=bosh-dns/jobs/name=bosh-dns/properties/cache/size, value: 1}\n",
        ),
        ("README", "see kubo-deployment/docs/nowhere.md\n"),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        if name.ends_with(".sh") {
            std::fs::write(
                &path,
                format!("#!/usr/bin/env bash\nset -eu\ncd \"$(dirname \"$0\")\"\n{text}"),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        } else {
            std::fs::write(&path, text).unwrap();
        }
    }
    let problems = check_bundle(dir.path(), true, "optional", "");
    let expected = [
        "(a) README names kubo-deployment/docs/nowhere.md, which kubo-deployment does not have at v0.16.0",
        "(a) deploy-kubernetes.sh names kubo-deployment/manifests/ops-files/iaas/aws/elb.yml, which kubo-deployment does not have at v0.16.0",
        "(b) deploy-kubernetes.sh: bosh deploy: -o kubo-deployment/manifests/ops-files/iaas/aws/elb.yml: not in kubo-deployment at v0.16.0",
        "(c) deploy-bosh.sh: bosh create-env: ((secret_access_key)) at /cloud_provider/properties/aws/secret_access_key (\"((secret_access_key))\") is neither declared under variables: nor given by the command (-v, --var-file, -l, --var-env)",
        "(c) update-cloud-config.sh: bosh update-cloud-config: ((internal_gw)) at /networks/name=default/subnets/0/gateway (\"((internal_gw))\") is neither declared under variables: nor given by the command (-v, --var-file, -l, --var-env)",
        "(b) upload-stemcell.sh: bosh int kubo-deployment/manifests/cfcr.yml --path /stemcells/0/flavour: Expected to find a map key 'flavour' for path '/stemcells/0/flavour' (found map keys: 'alias', 'os', 'version')",
        "(b) deploy-kubernetes.sh: bosh update-runtime-config bosh-deployment/runtime-configs/dns.yml: operation [0] in broken.yml failed (path /addons/name=bosh-dns/jobs/name=bosh-dns/properties/cache/size): Expected to find a map key 'size' for path '/addons/name=bosh-dns/jobs/name=bosh-dns/properties/cache/size' (found map keys: 'enabled')",
        "(c) deploy-kubernetes.sh: bosh deploy: ((kubernetes_cluster_tag)) at /tags/KubernetesCluster (\"((kubernetes_cluster_tag))\") is neither declared under variables: nor given by the command (-v, --var-file, -l, --var-env)",
        "(c) teardown.sh --deployment --clean-up: bosh delete-env: ((secret_access_key)) at /cloud_provider/properties/aws/secret_access_key (\"((secret_access_key))\") is neither declared under variables: nor given by the command (-v, --var-file, -l, --var-env)",
        "(d) IMDS: instance group apply-addons (vm_type minimal): http_tokens required (the director's default required, the VM type's none), expected optional",
        "(d) IMDS: instance group worker (vm_type small-highmem): http_tokens required (the director's default required, the VM type's none), expected optional",
        "(d) IMDS: compilation (vm_type small-highmem): http_tokens required (the director's default required, the VM type's none), expected optional",
    ];
    for problem in expected {
        assert!(
            problems.iter().any(|p| p == problem),
            "not found: {problem}\namong:\n{}",
            problems.join("\n")
        );
    }
    assert!(
        problems.iter().any(|p| p
            == "teardown's bosh delete-env has other arguments than deploy-bosh's create-env: it lacks -o imds.yml"),
        "{problems:#?}"
    );
    // The master's VM type says optional (through a variable the command gives).
    assert!(
        !problems.iter().any(|p| p.contains("instance group master")),
        "{problems:#?}"
    );
    assert_eq!(problems.len(), expected.len() + 1, "{problems:#?}");
}

// ---------------------------------------------------------------------------------------------
// The facts themselves

#[test]
fn facts_are_consistent() {
    // Every skeleton is of a file the same ref's list has, and parses.
    let lists = facts().join("files");
    let sources = std::fs::read_to_string(facts().join("SOURCES")).unwrap();
    let mut skeletons = 0;
    for entry in std::fs::read_dir(facts().join("skeletons")).unwrap() {
        let entry = entry.unwrap();
        let at = entry.file_name().to_string_lossy().into_owned();
        let list = std::fs::read_to_string(lists.join(format!("{at}.txt")))
            .unwrap_or_else(|_| panic!("skeletons/{at} has no files/{at}.txt"));
        let mut dirs = vec![entry.path()];
        while let Some(dir) = dirs.pop() {
            for file in std::fs::read_dir(&dir).unwrap() {
                let path = file.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let relative = path.strip_prefix(entry.path()).unwrap().to_string_lossy();
                let upstream = relative.strip_suffix(".json").unwrap();
                assert!(
                    list.lines().any(|l| l == upstream),
                    "skeletons/{at}/{relative}: {upstream} is not in files/{at}.txt"
                );
                let fact = format!("skeletons/{at}/{relative}");
                assert!(
                    sources.lines().any(|l| l.starts_with(&format!("{fact} |"))),
                    "{fact} is not in SOURCES"
                );
                let text = std::fs::read_to_string(&path).unwrap();
                let _: Value = serde_json::from_str(&text).unwrap();
                skeletons += 1;
            }
        }
    }
    assert!(skeletons > 100, "{skeletons} skeletons");
    // The file lists are sorted and hold the files the tool's lines rest on.
    for (list, files) in [
        (
            "bosh-deployment@c3b2109",
            &["bosh.yml", "aws/cpi.yml", "runtime-configs/dns.yml"][..],
        ),
        (
            "kubo-deployment@v0.16.0",
            &["manifests/cfcr.yml", "configurations/aws/cloud-config.yml"][..],
        ),
        (
            "kubo-deployment@v0.44.0",
            &[
                "manifests/cfcr.yml",
                "manifests/cloud-config/iaas/aws/use-vm-extensions.yml",
            ][..],
        ),
    ] {
        let text = std::fs::read_to_string(lists.join(format!("{list}.txt"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted, "files/{list}.txt is not sorted");
        for file in files {
            assert!(lines.contains(file), "files/{list}.txt lacks {file}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// go-patch, against the cases the BOSH documentation gives (bosh.io "Creating Ops Files",
// go-patch's docs/examples.md) and the CLI's messages.

fn patched(doc: &str, ops: &str) -> Result<Value, String> {
    let doc = parse_yaml(doc).unwrap();
    let ops = gopatch::ops_from("ops.yml", &parse_yaml(ops).unwrap()).map_err(|e| e.to_string())?;
    gopatch::apply(doc, &ops).map_err(|e| e.to_string())
}

const EXAMPLE: &str = "
key: 1
key2:
  nested:
    super_nested: 2
  other: 3
array: [4, 5, 6]
items:
- name: item7
- name: item8
- name: item8
";

fn example_with(changes: &[(&str, Value)]) -> Value {
    let mut doc = parse_yaml(EXAMPLE).unwrap();
    for (key, value) in changes {
        doc[*key] = value.clone();
    }
    doc
}

#[test]
fn gopatch_replaces_map_keys_as_documented() {
    assert_eq!(
        patched(EXAMPLE, "- {type: replace, path: /key, value: 10}").unwrap(),
        example_with(&[("key", json!(10))])
    );
    assert_eq!(
        patched(
            EXAMPLE,
            "- {type: replace, path: /key_not_there, value: 10}"
        )
        .unwrap_err(),
        "operation [0] in ops.yml failed (path /key_not_there): Expected to find a map key 'key_not_there' for path '/key_not_there' (found map keys: 'array', 'items', 'key', 'key2')"
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: replace, path: /new_key?, value: 10}").unwrap()["new_key"],
        json!(10)
    );
    assert_eq!(
        patched(
            EXAMPLE,
            "- {type: replace, path: /key2/nested/super_nested, value: 10}"
        )
        .unwrap()["key2"],
        json!({"nested": {"super_nested": 10}, "other": 3})
    );
    // `?` carries over to the keys on its right.
    assert_eq!(
        patched(
            EXAMPLE,
            "- {type: replace, path: /key2/nested?/another_nested/super_nested, value: 10}"
        )
        .unwrap()["key2"],
        json!({"nested": {"another_nested": {"super_nested": 10}, "super_nested": 2}, "other": 3})
    );
    assert_eq!(
        patched(
            EXAMPLE,
            "- {type: replace, path: /key2/missing/super_nested, value: 10}"
        )
        .unwrap_err(),
        "operation [0] in ops.yml failed (path /key2/missing/super_nested): Expected to find a map key 'missing' for path '/key2/missing' (found map keys: 'nested', 'other')"
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: replace, path: '', value: {a: 1}}").unwrap(),
        json!({"a": 1})
    );
}

#[test]
fn gopatch_replaces_array_items_as_documented() {
    let array = |ops: &str| patched(EXAMPLE, ops).map(|d| d["array"].clone());
    assert_eq!(
        array("- {type: replace, path: /array/0, value: 10}").unwrap(),
        json!([10, 5, 6])
    );
    assert_eq!(
        array("- {type: replace, path: /array/-1, value: 10}").unwrap(),
        json!([4, 5, 10])
    );
    assert_eq!(
        array("- {type: replace, path: /array/-, value: 10}").unwrap(),
        json!([4, 5, 6, 10])
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: replace, path: /array2?/-, value: 10}").unwrap()["array2"],
        json!([10])
    );
    assert_eq!(
        array("- {type: replace, path: '/array/1:prev', value: 10}").unwrap(),
        json!([10, 5, 6])
    );
    assert_eq!(
        array("- {type: replace, path: '/array/0:next', value: 10}").unwrap(),
        json!([4, 10, 6])
    );
    assert_eq!(
        array("- {type: replace, path: '/array/0:after', value: 10}").unwrap(),
        json!([4, 10, 5, 6])
    );
    assert_eq!(
        array("- {type: replace, path: '/array/0:before', value: 10}").unwrap(),
        json!([10, 4, 5, 6])
    );
    assert_eq!(
        array("- {type: replace, path: '/array/2:after', value: 10}").unwrap(),
        json!([4, 5, 6, 10])
    );
    assert_eq!(
        array("- {type: replace, path: /array/3, value: 10}").unwrap_err(),
        "operation [0] in ops.yml failed (path /array/3): Expected to find array index '3' but found array of length '3' for path '/array/3'"
    );
    assert_eq!(
        array("- {type: replace, path: /key/0, value: 10}").unwrap_err(),
        "operation [0] in ops.yml failed (path /key/0): Expected to find an array at path '/key/0' but found 'int'"
    );
    assert_eq!(
        array("- {type: replace, path: /array/x, value: 10}").unwrap_err(),
        "operation [0] in ops.yml failed (path /array/x): Expected to find a map at path '/array/x' but found '[]interface {}'"
    );
}

#[test]
fn gopatch_selects_array_items_by_key_as_documented() {
    let items = |ops: &str| patched(EXAMPLE, ops).map(|d| d["items"].clone());
    // go-patch's examples say this adds `count`; the CLI (go-patch v0.2.0) wants the key to
    // exist unless it is optional, as its own tests do, and as every upstream ops-file writes it.
    assert_eq!(
        items("- {type: replace, path: /items/name=item7/count, value: 10}").unwrap_err(),
        "operation [0] in ops.yml failed (path /items/name=item7/count): Expected to find a map key 'count' for path '/items/name=item7/count' (found map keys: 'name')"
    );
    assert_eq!(
        items("- {type: replace, path: /items/name=item7/count?, value: 10}").unwrap(),
        json!([{"name": "item7", "count": 10}, {"name": "item8"}, {"name": "item8"}])
    );
    assert_eq!(
        items("- {type: replace, path: /items/name=item8/count, value: 10}").unwrap_err(),
        "operation [0] in ops.yml failed (path /items/name=item8/count): Expected to find exactly one matching array item for path '/items/name=item8' but found 2"
    );
    assert_eq!(
        items("- {type: replace, path: /items/name=item9?/count, value: 10}").unwrap(),
        json!([{"name": "item7"}, {"name": "item8"}, {"name": "item8"}, {"name": "item9", "count": 10}])
    );
    assert_eq!(
        items("- {type: replace, path: /items/name=item9/count, value: 10}").unwrap_err(),
        "operation [0] in ops.yml failed (path /items/name=item9/count): Expected to find exactly one matching array item for path '/items/name=item9' but found 0"
    );
    assert_eq!(
        items("- {type: replace, path: '/items/name=item7:after', value: {name: new}}").unwrap(),
        json!([{"name": "item7"}, {"name": "new"}, {"name": "item8"}, {"name": "item8"}])
    );
    assert_eq!(
        items("- {type: replace, path: '/items/name=item7:next/count?', value: 1}").unwrap(),
        json!([{"name": "item7"}, {"name": "item8", "count": 1}, {"name": "item8"}])
    );
    // The value must be the string: a number does not match.
    assert!(patched("a: [{name: 1}]", "- {type: remove, path: /a/name=1}").is_err());
}

#[test]
fn gopatch_inserts_around_selected_items() {
    // The scenario of go-patch's integration test: insertions before and after selected items,
    // and `:next` reaching the item after one.
    let doc = "
releases: [{name: capi, version: 0.1}]
instance_groups:
- {name: cloud_controller, instances: 0, jobs: [{name: cloud_controller, release: capi}]}
- {name: uaa, instances: 0}
";
    let ops = "
- {type: replace, path: /instance_groups/name=cloud_controller/instances, value: 1}
- type: replace
  path: /instance_groups/name=cloud_controller/jobs/name=cloud_controller/consumes?/db
  value: {instances: [{address: some-db.local}]}
- {type: replace, path: /instance_groups/name=uaa/instances, value: 1}
- {type: replace, path: /instance_groups/-, value: {name: uaadb, instances: 2}}
- {type: replace, path: '/instance_groups/name=cloud_controller:before', value: {name: cc-before, instances: 2}}
- {type: replace, path: '/instance_groups/name=cloud_controller:after', value: {name: cc-after, instances: 1}}
- {type: replace, path: '/instance_groups/name=uaadb:after', value: {name: uaadb-after, instances: 1}}
- {type: replace, path: '/instance_groups/name=uaadb:next/instances', value: 4}
- {type: replace, path: /releases/name=capi/version, value: latest}
";
    let expected = parse_yaml(
        "
releases: [{name: capi, version: latest}]
instance_groups:
- {name: cc-before, instances: 2}
- name: cloud_controller
  instances: 1
  jobs:
  - name: cloud_controller
    release: capi
    consumes: {db: {instances: [{address: some-db.local}]}}
- {name: cc-after, instances: 1}
- {name: uaa, instances: 1}
- {name: uaadb, instances: 2}
- {name: uaadb-after, instances: 4}
",
    )
    .unwrap();
    assert_eq!(patched(doc, ops).unwrap(), expected);
    assert_eq!(
        patched(
            doc,
            "- {type: replace, path: '/instance_groups/name=uaa:next', value: 1}"
        )
        .unwrap_err(),
        "operation [0] in ops.yml failed (path /instance_groups/name=uaa:next): Expected to find array index '2' but found array of length '2' for path '/instance_groups/name=uaa:next'"
    );
    assert_eq!(
        patched(doc, "- {type: replace, path: /releases?/0, value: 1}").unwrap(),
        parse_yaml(
            "{releases: [1], instance_groups: [{name: cloud_controller, instances: 0, jobs: [{name: cloud_controller, release: capi}]}, {name: uaa, instances: 0}]}"
        )
        .unwrap()
    );
    assert_eq!(
        patched("{}", "- {type: replace, path: /abc?/0, value: 1}").unwrap_err(),
        "operation [0] in ops.yml failed (path /abc?/0): Expected to find key, matching index or after last index token at path '/abc?/0'"
    );
}

#[test]
fn gopatch_removes_as_documented() {
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: /key2/nested}").unwrap()["key2"],
        json!({"other": 3})
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: /array/1}").unwrap()["array"],
        json!([4, 6])
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: /items/name=item7}").unwrap()["items"],
        json!([{"name": "item8"}, {"name": "item8"}])
    );
    // Optional: nothing to remove is no error.
    let unchanged = parse_yaml(EXAMPLE).unwrap();
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: /missing?/deeper}").unwrap(),
        unchanged
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: /items/name=item9?/count}").unwrap(),
        unchanged
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: /key3}").unwrap_err(),
        "operation [0] in ops.yml failed (path /key3): Expected to find a map key 'key3' for path '/key3' (found map keys: 'array', 'items', 'key', 'key2')"
    );
    assert_eq!(
        patched(EXAMPLE, "- {type: remove, path: ''}").unwrap_err(),
        "operation [0] in ops.yml failed (path ): Cannot remove entire document"
    );
    assert!(patched(EXAMPLE, "- {type: remove, path: /array/-}").is_err());
}

#[test]
fn gopatch_applies_in_order_and_names_the_failing_op() {
    let ops = "
- type: replace
  path: /items/name=item7/name
  value: renamed
- type: replace
  path: /items/name=renamed/count?
  value: 1
- type: replace
  path: /items/name=item7/count
  value: 2
";
    assert_eq!(
        patched(EXAMPLE, ops).unwrap_err(),
        "operation [2] in ops.yml failed (path /items/name=item7/count): Expected to find exactly one matching array item for path '/items/name=item7' but found 0"
    );
    assert_eq!(
        patched("{}", "[]").unwrap(),
        json!({}),
        "an empty ops-file changes nothing"
    );
    assert!(
        patched("{}", "- {type: test, path: /a, value: 1}")
            .unwrap_err()
            .contains("Unknown operation with type 'test'")
    );
    assert!(
        patched("{}", "- {type: replace, path: /a}")
            .unwrap_err()
            .contains("Missing value")
    );
    assert!(
        patched("{}", "- {type: replace, path: a, value: 1}")
            .unwrap_err()
            .contains("Expected to start with '/'")
    );
    // `~1` is a `/` inside a key; `?` is printed once in the paths of messages.
    assert_eq!(
        patched("{a/b: 1}", "- {type: replace, path: /a~1b, value: 2}").unwrap(),
        json!({"a/b": 2})
    );
    assert_eq!(
        patched("{a: 1}", "- {type: replace, path: /b?/c/d, value: 2}").unwrap(),
        json!({"a": 1, "b": {"c": {"d": 2}}})
    );
    assert_eq!(
        patched("{a: 1}", "- {type: replace, path: /a?/c, value: 2}").unwrap_err(),
        "operation [0] in ops.yml failed (path /a?/c): Expected to find a map at path '/a?/c' but found 'int'"
    );
}

#[test]
fn gopatch_finds_paths_like_bosh_interpolate() {
    let doc = parse_yaml(EXAMPLE).unwrap();
    assert_eq!(
        gopatch::find(&doc, "/items/name=item7/name").unwrap(),
        Some(&json!("item7"))
    );
    assert_eq!(gopatch::find(&doc, "/array/-1").unwrap(), Some(&json!(6)));
    assert_eq!(gopatch::find(&doc, "/missing?/x").unwrap(), None);
    assert!(gopatch::find(&doc, "/missing").is_err());
}

#[test]
fn variables_are_read_as_bosh_reads_them() {
    assert_eq!(
        variables_in("https://((ip)):25555 ((a.b)) ((!c)) (not) ((/abs/x))"),
        ["ip", "a.b", "!c", "/abs/x"]
    );
    assert_eq!(variable_name("!a.b"), "a");
    let bosh = parse_bosh(
        &[
            "-n",
            "-d",
            "cfcr",
            "deploy",
            "m.yml",
            "-o",
            "a.yml",
            "--ops-file=b.yml",
            "-v",
            "x=1=2",
            "--var-file=f=p.yml",
            "--var-env=pre",
            "-l",
            "vars.yml",
        ]
        .map(String::from),
    )
    .unwrap();
    assert_eq!(bosh.command, "deploy");
    assert_eq!(bosh.positional, ["m.yml"]);
    assert_eq!(bosh.ops_files, ["a.yml", "b.yml"]);
    assert_eq!(bosh.vars["x"], "1=2");
    assert_eq!(bosh.var_files["f"], "p.yml");
    assert_eq!(bosh.var_envs, ["pre"]);
    assert_eq!(bosh.vars_files, ["vars.yml"]);
    assert!(parse_bosh(&["deploy".into(), "--unknown".into()]).is_err());
}
