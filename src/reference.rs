//! The reference pages of the documentation site (`docs/reference/`), generated from the code: the
//! configuration from its JSON Schema (the types that parse the file), the command line from the
//! `clap` definitions, the metrics from the registry, the annotations, Event reasons, exit statuses,
//! requirement table and the requests built to be refused from the tables the code uses. `make
//! docs-reference` writes them (`scopegate-docs`, in the test kit); `tests/docs.rs` fails when a page
//! on disk is not what this module makes.

use std::fmt::Write as _;

use clap::CommandFactory;
use serde_json::Value;

/// Every generated page: its path under `docs/reference/`, and its Markdown.
pub fn pages() -> Vec<(&'static str, String)> {
    vec![
        ("configuration.md", configuration()),
        ("command-line.md", command_line()),
        ("annotations.md", annotations()),
        ("metrics.md", metrics()),
        ("events.md", events()),
        ("exit-codes.md", exit_codes()),
        ("requirements.md", requirements()),
        ("requests.md", requests()),
    ]
}

const GENERATED: &str =
    "<!-- Generated from the code by `make docs-reference` (src/reference.rs): do not edit. -->\n\n";

/// A table cell: no line breaks, `|` escaped.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

// --- configuration ------------------------------------------------------------------------------

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| root["$defs"].get(name))
            .unwrap_or(s),
        None => s,
    }
}

/// `Option<T>` is `anyOf: [T, null]` (or `type: [T, "null"]`): the `T`.
fn non_null<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    let s = resolve(root, s);
    match s["anyOf"].as_array() {
        Some(a) if a.iter().any(|v| v["type"] == "null") && a.len() == 2 => a
            .iter()
            .find(|v| v["type"] != "null")
            .map(|v| resolve(root, v))
            .unwrap_or(s),
        _ => s,
    }
}

fn type_name(root: &Value, s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str)
        && r.ends_with("/Duration")
    {
        return "duration".into();
    }
    let s = non_null(root, s);
    if s.get("$ref")
        .is_some_and(|r| r.as_str().is_some_and(|r| r.ends_with("/Duration")))
    {
        return "duration".into();
    }
    if s["pattern"].is_string() && s["type"] == "string" && s["examples"].is_array() {
        return "duration".into();
    }
    if let Some(options) = s["oneOf"].as_array() {
        let values: Vec<String> = options.iter().filter_map(|o| o["const"].as_str()).map(code).collect();
        if !values.is_empty() {
            return format!("one of {}", values.join(", "));
        }
    }
    if let Some(values) = s["enum"].as_array() {
        let values: Vec<String> = values.iter().filter_map(Value::as_str).map(code).collect();
        return format!("one of {}", values.join(", "));
    }
    if s["anyOf"].is_array() {
        return "scopes: a list, a map of permission to level, or one".into();
    }
    let t = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => String::new(),
    };
    match t.as_str() {
        "array" => format!("list of {}", type_name(root, &s["items"])),
        "object" if s["properties"].is_object() => "object".into(),
        "object" => "map".into(),
        "integer" => {
            let (min, max) = (s["minimum"].as_u64(), s["maximum"].as_u64());
            match (min, max) {
                (Some(a), Some(b)) => format!("integer, {a} to {b}"),
                (Some(a), None) if a > 0 => format!("integer, at least {a}"),
                _ => "integer".into(),
            }
        }
        "" => "any".into(),
        other => other.into(),
    }
}

fn default_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(Value::Array(a)) if a.is_empty() => "none".into(),
        Some(Value::String(s)) => code(s),
        Some(other) => code(&other.to_string()),
    }
}

/// Every key under `s`, depth first: (path, schema), a required key's schema marked `x-required`.
fn config_keys(root: &Value, s: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let s = non_null(root, s);
    let (props, items) = (s["properties"].as_object(), &s["items"]);
    if let Some(props) = props {
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (k, v) in props {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let mut v = v.clone();
            if required.contains(&k.as_str())
                && let Some(o) = v.as_object_mut()
            {
                o.insert("x-required".into(), Value::Bool(true));
            }
            out.push((p.clone(), v.clone()));
            config_keys(root, &v, &p, out);
        }
    } else if items.is_object() {
        let item = non_null(root, items);
        if item["properties"].is_object() {
            config_keys(root, item, &format!("{path}[]"), out);
        }
    }
}

fn configuration() -> String {
    let schema = crate::config::schema();
    let mut out = String::from(GENERATED);
    out.push_str(
        "# Configuration\n\nThe file `--config` names (YAML; `SCOPEGATE_CONFIG`). Every key is optional; a key that is not \
         below is refused, and so is a bad value, with a message naming the key by its path \
         (`providers[0].caFile: …`). `scopegate config check FILE` validates a file; `scopegate config schema` \
         prints the JSON Schema this page is made from, for editors (`# yaml-language-server: \
         $schema=…`) and CI. Durations are written as `2s`, `500ms`, `5m`, `1h30m`, `7d`.\n\n\
         A commented example is in [Configuration file](../operations/configuration-file.md).\n",
    );
    let mut keys = Vec::new();
    config_keys(&schema, &schema, "", &mut keys);
    let top: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    // Plain keys first, then each section.
    let mut sections: Vec<(String, Vec<&(String, Value)>)> = vec![("Top level".into(), Vec::new())];
    for t in &top {
        let section: Vec<&(String, Value)> = keys
            .iter()
            .filter(|(p, _)| p.starts_with(&format!("{t}.")) || p.starts_with(&format!("{t}[]")))
            .collect();
        if section.is_empty() {
            if let Some(k) = keys.iter().find(|(p, _)| p == t) {
                sections[0].1.push(k);
            }
        } else {
            let mut all = vec![keys.iter().find(|(p, _)| p == t).unwrap_or(section[0])];
            all.extend(section);
            sections.push((t.clone(), all));
        }
    }
    for (title, keys) in sections {
        let _ = writeln!(out, "\n## {title}\n");
        if let Some((_, s)) = keys.first().filter(|(p, _)| *p == title) {
            let d = s["description"]
                .as_str()
                .or_else(|| non_null(&schema, s)["description"].as_str())
                .unwrap_or_default()
                .to_owned();
            if !d.is_empty() {
                let _ = writeln!(out, "{d}\n");
            }
        }
        out.push_str("| key | type | default | meaning |\n|-----|------|---------|---------|\n");
        for (path, s) in keys {
            if *path == title && title != "Top level" {
                continue;
            }
            let resolved = non_null(&schema, s);
            let description = s["description"]
                .as_str()
                .or_else(|| resolved["description"].as_str())
                .unwrap_or_default();
            let required = if s["x-required"] == true { " Required." } else { "" };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{required} |",
                code(path),
                cell(&type_name(&schema, s)),
                cell(&default_text(s.get("default"))),
                cell(description)
            );
        }
    }
    out
}

// --- command line ---------------------------------------------------------------------------------

fn arg_row(a: &clap::Arg) -> Option<String> {
    if a.is_hide_set() {
        return None;
    }
    let id = a.get_id().as_str();
    if id == "help" || id == "version" {
        return None;
    }
    let name = match (a.get_short(), a.get_long()) {
        (Some(s), Some(l)) => format!("`-{s}`, `--{l}`"),
        (None, Some(l)) => format!("`--{l}`"),
        (Some(s), None) => format!("`-{s}`"),
        (None, None) => format!(
            "`{}`",
            a.get_value_names()
                .and_then(|v| v.first())
                .map(|v| v.as_str())
                .unwrap_or(id)
                .to_uppercase()
        ),
    };
    let takes =
        a.get_num_args().is_none_or(|n| n.takes_values()) && !matches!(a.get_action(), clap::ArgAction::SetTrue);
    let value = if takes && a.get_long().is_some() {
        let v = a
            .get_value_names()
            .and_then(|v| v.first())
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|| id.to_uppercase());
        let possible: Vec<String> = a
            .get_possible_values()
            .iter()
            .map(|p| p.get_name().to_owned())
            .collect();
        if possible.is_empty() { v } else { possible.join(" \\| ") }
    } else {
        String::new()
    };
    let env = a
        .get_env()
        .map(|e| code(&e.to_string_lossy()))
        .unwrap_or_else(|| "—".into());
    let default: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    let default = if default.is_empty() {
        "—".into()
    } else {
        code(&default.join(","))
    };
    let help = sentence(
        &a.get_long_help()
            .or_else(|| a.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default(),
    );
    let repeat = if matches!(a.get_action(), clap::ArgAction::Append) {
        " Repeatable."
    } else {
        ""
    };
    let required = if a.is_required_set() { " Required." } else { "" };
    Some(format!(
        "| {name} | {} | {env} | {default} | {}{required}{repeat} |",
        if value.is_empty() { "—".into() } else { code(&value) },
        cell(&help)
    ))
}

/// clap drops a doc comment's last full stop: put it back.
fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() || s.ends_with('.') {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

fn command_section(out: &mut String, path: &str, cmd: &clap::Command) {
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
    if !subs.is_empty() && cmd.get_arguments().all(|a| a.get_id() == "help" || a.is_global_set()) && path != "scopegate"
    {
        let _ = writeln!(out, "\n## {path}\n");
        if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
            let _ = writeln!(out, "{}", sentence(&about.to_string()));
        }
        for sub in subs {
            command_section(out, &format!("{path} {}", sub.get_name()), sub);
        }
        return;
    }
    if path != "scopegate" {
        let level = if path.matches(' ').count() > 1 { "###" } else { "##" };
        let _ = writeln!(out, "\n{level} {path}\n");
        if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
            let _ = writeln!(out, "{}\n", sentence(&about.to_string()));
        }
        let rows: Vec<String> = cmd
            .get_arguments()
            .filter(|a| !a.is_global_set())
            .filter_map(arg_row)
            .collect();
        if !rows.is_empty() {
            out.push_str("| flag | value | environment | default | meaning |\n|------|-------|-------------|---------|---------|\n");
            for r in rows {
                let _ = writeln!(out, "{r}");
            }
        }
    }
    for sub in subs {
        command_section(out, &format!("{path} {}", sub.get_name()), sub);
    }
}

fn command_line() -> String {
    let mut cmd = crate::cli::Cli::command();
    cmd.build();
    let mut out = String::from(GENERATED);
    out.push_str("# Command line\n\n");
    if let Some(about) = cmd.get_about() {
        let _ = writeln!(out, "`scopegate`: {about}.\n");
    }
    out.push_str(
        "Every command takes the global flag below. Exit statuses: [Exit codes](exit-codes.md). Logging follows \
         `RUST_LOG` (default `info` for `serve` and `watch`, `warn` for the others); logs go to stderr, \
         never with a token in them.\n\n",
    );
    out.push_str(
        "| flag | value | environment | default | meaning |\n|------|-------|-------------|---------|---------|\n",
    );
    for a in cmd.get_arguments().filter(|a| a.is_global_set()) {
        if let Some(r) = arg_row(a) {
            let _ = writeln!(out, "{r}");
        }
    }
    command_section(&mut out, "scopegate", &cmd);
    out
}

// --- annotations, metrics, Events, exit codes -----------------------------------------------------

fn annotations() -> String {
    use crate::render::annotations::keys;
    let mut out = String::from(GENERATED);
    out.push_str(
        "# Annotations\n\nThe mutating webhook sets these on every credential Secret it reviews (the patch never holds \
         token material); every other `scopegate.dev/` annotation an author set is removed, so nobody can \
         forge a verdict — except the inputs below, which people write for scopegate to read.\n\n## Written by scopegate\n\n\
         | annotation | holds |\n|------------|-------|\n",
    );
    let values = |key: &str| -> String {
        let list: Vec<String> = match key {
            keys::VERDICT => crate::policy::Outcome::all()
                .filter(|o| *o != crate::policy::Outcome::Ignored)
                .map(|o| code(o.as_str()))
                .collect(),
            keys::PROVIDER => <crate::config::ProviderKind as strum::IntoEnumIterator>::iter()
                .map(|p| code(p.as_str()))
                .collect(),
            keys::TOKEN_KIND => <crate::credential::TokenKind as strum::IntoEnumIterator>::iter()
                .map(|k| code(k.as_str()))
                .chain(<crate::credential::NonToken as strum::IntoEnumIterator>::iter().map(|n| code(n.as_str())))
                .collect(),
            keys::ROLE => crate::credential::Role::secret_roles()
                .map(|r| code(r.as_str()))
                .collect(),
            _ => Vec::new(),
        };
        if list.is_empty() {
            String::new()
        } else {
            format!(" Values: {}.", list.join(", "))
        }
    };
    for (key, what) in keys::WRITTEN {
        let _ = writeln!(out, "| {} | {}{} |", code(key), cell(what), values(key));
    }
    out.push_str("\n## Read by scopegate\n\n| annotation | asks |\n|------------|------|\n");
    for (key, what) in keys::READ {
        let _ = writeln!(out, "| {} | {} |", code(key), cell(what));
    }
    out
}

fn metrics() -> String {
    let mut out = String::from(GENERATED);
    out.push_str(
        "# Metrics\n\nOn the admin port (`--admin-listen`, `/metrics`): the Prometheus text format 0.0.4, or \
         OpenMetrics when the scraper's `Accept` asks for it. `serve` exports the engine's and its own series, \
         `watch` the engine's and its own (per-Secret series from the leader only). Series that alerts watch for a \
         first increase exist from the start at zero. No label ever holds a token or a user name.\n\n\
         | metric | type | labels | served by | what |\n|--------|------|--------|-----------|------|\n",
    );
    for m in crate::metrics::catalogue() {
        let labels = if m.labels.is_empty() {
            "—".into()
        } else {
            m.labels.iter().map(|l| code(l)).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {labels} | {} | {} |",
            code(&m.name),
            m.kind,
            m.served_by,
            cell(&m.help)
        );
    }
    out
}

fn events() -> String {
    use strum::EnumMessage as _;
    let mut out = String::from(GENERATED);
    out.push_str(
        "# Events\n\n`scopegate watch` writes `events.k8s.io/v1` Events (`reportingController: scopegate.dev/watch`, \
         action `CheckToken`) on the Secret, on a change of verdict only, from the leader; the note is what the \
         webhook's denial or warning would say, cut to 1 KiB, never the token. `kubectl events --for \
         secret/NAME -n NAMESPACE` lists them.\n\n| reason | type | when |\n|--------|------|------|\n",
    );
    for r in <crate::watch::EventReason as strum::IntoEnumIterator>::iter() {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            code(r.as_str()),
            if r.is_warning() { "Warning" } else { "Normal" },
            cell(r.get_documentation().unwrap_or_default().trim())
        );
    }
    out
}

fn exit_codes() -> String {
    let mut out = String::from(GENERATED);
    out.push_str("# Exit codes\n\n| command | status | means |\n|---------|--------|-------|\n");
    for (command, codes) in crate::cli::EXIT_STATUS {
        for (status, what) in *codes {
            let _ = writeln!(out, "| `scopegate {command}` | {status} | {} |", cell(what));
        }
    }
    out.push_str("\nA start-up error of any command (an unreadable configuration, a bad flag) is 2, said on stderr.\n");
    out
}

// --- the requirement table and the requests built to be refused ----------------------------------

fn requirements() -> String {
    use crate::requirements::{REQUIREMENTS, Role, ScopeFamily};
    let mut out = String::from(GENERATED);
    out.push_str(
        "# Requirement table\n\nWhat each role needs, per token family, as the code holds it (`src/requirements/mod.rs`; \
         the [custom requirements](../how-to/custom-requirements.md) of a configuration replace cells). Implied \
         scopes count: see [Providers and token kinds](../concepts/providers-and-token-kinds.md).\n\n",
    );
    let families: Vec<ScopeFamily> = <ScopeFamily as strum::IntoEnumIterator>::iter().collect();
    out.push_str("| family |");
    for role in Role::all().collect::<Vec<_>>().into_iter().rev() {
        let _ = write!(out, " {role} |");
    }
    out.push_str("\n|--------|");
    for _ in Role::all() {
        out.push_str("------|");
    }
    out.push('\n');
    for f in families {
        let _ = write!(out, "| `{}` |", f.as_str());
        for role in Role::all().collect::<Vec<_>>().into_iter().rev() {
            let cellv: Vec<String> = REQUIREMENTS
                .iter()
                .filter(|r| r.family == f && r.role == role)
                .flat_map(|r| r.scopes.iter().map(|s| code(s)))
                .collect();
            let _ = write!(
                out,
                " {} |",
                if cellv.is_empty() {
                    "—".into()
                } else {
                    cellv.join(", ")
                }
            );
        }
        out.push('\n');
    }
    let _ = write!(out, "| `gitlab-access-level` |");
    for role in Role::all().collect::<Vec<_>>().into_iter().rev() {
        let level = crate::requirements::Requirements::default().gitlab_access(role);
        let _ = write!(out, " `{}` |", crate::requirements::gitlab_access_name(level));
    }
    out.push('\n');
    out.push_str(
        "\nThe `scm` role is an ApplicationSet generator's token's ([Uses of credentials](../concepts/uses.md)); the \
         other four are a credential Secret's, by its name and label ([Secrets and roles](../concepts/secrets-and-roles.md)).\n\n\
         ## With pull requests\n\nWhat a role needs besides its row when its use involves pull requests: the Pull Request \
         generator lists them (`scm`); Argo CD Image Updater's pull-request mode opens them (`write`). Families not \
         listed need nothing more (their row already covers it). An override of a role's row keeps these.\n\n\
         | role | family | also needs |\n|------|--------|------------|\n",
    );
    for (role, family, extra) in crate::requirements::PULL_REQUESTS {
        let _ = writeln!(
            out,
            "| {role} | `{}` | {} |",
            family.as_str(),
            extra.iter().map(|e| code(e)).collect::<Vec<_>>().join(", ")
        );
    }
    out
}

fn requests() -> String {
    use crate::providers::refusal::{BODY, RefusalProbe};
    let mut out = String::from(GENERATED);
    out.push_str(
        "# Requests other than GET\n\nEvery request scopegate can send that is not a `GET` is in this table; there is \
         no other, and a test fails if scopegate sends any method, path or body not listed here. Why each \
         exists, when it is sent and how its answer is read: [What scopegate sends](../concepts/what-scopegate-sends.md).\n\n\
         | method | path (under the provider's `apiUrl`) | body | the write level held | read only | why it cannot change anything |\n\
         |---|---|---|---|---|---|\n",
    );
    for p in RefusalProbe::all() {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | `{BODY}` | {} | 403 \"Resource not accessible by …\" | {} |",
            p.method(),
            p.path_template(),
            p.write_status(),
            cell(p.harmless_because())
        );
    }
    out
}
