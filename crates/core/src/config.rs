//! The config file: its common instance settings, the whole-instance JSON
//! Schema each connector publishes, and validation that reports every problem
//! at once with a JSON pointer from the file's root.
//!
//! Loading runs in three passes so one mistake does not hide the next: the
//! TOML syntax, then every instance against its connector's schema, then the
//! typed build (secrets resolved) of the instances that passed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::connector::Connector;
use crate::error::{ConfigErrors, ConfigIssue};
use crate::registry::{self, BuildContext, ConnectorRegistration};

/// Pattern of an instance name.
pub const INSTANCE_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// Pattern of a GUID such as a Microsoft Entra tenant or client id.
pub const GUID_PATTERN: &str =
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";
/// Pattern of a GUID or a DNS domain name (e.g. `contoso.onmicrosoft.com`).
pub const GUID_OR_DOMAIN_PATTERN: &str = "^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63})$";
/// Pattern of a 24-hour time of day, `HH:MM`.
pub const TIME_OF_DAY_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// What each pattern means, for error messages a person can act on.
const PATTERN_MEANINGS: [(&str, &str); 4] = [
    (
        INSTANCE_NAME_PATTERN,
        "a name of 1 to 64 letters, digits, `-` or `_`",
    ),
    (
        GUID_PATTERN,
        "a GUID such as `00000000-0000-0000-0000-000000000000`",
    ),
    (
        GUID_OR_DOMAIN_PATTERN,
        "a GUID or a domain name such as `contoso.onmicrosoft.com`",
    ),
    (TIME_OF_DAY_PATTERN, "a time of day as `HH:MM` (24-hour)"),
];

/// Default days an asset may go unobserved before it is archived.
pub fn default_asset_retention_days() -> u32 {
    30
}

/// Default days between full syncs.
pub fn default_full_sync_every_days() -> u32 {
    7
}

/// Default share of active records a sync may remove before it is held.
pub fn default_max_removal_percent() -> f64 {
    50.0
}

fn default_schedule_days() -> Vec<Weekday> {
    Weekday::ALL.to_vec()
}

fn default_timezone() -> String {
    "UTC".into()
}

/// A day of the week in a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Self::Mon,
        Self::Tue,
        Self::Wed,
        Self::Thu,
        Self::Fri,
        Self::Sat,
        Self::Sun,
    ];
}

/// When `inlet run` syncs an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Days of the week to sync on; every day when omitted.
    #[serde(default = "default_schedule_days")]
    #[schemars(length(min = 1))]
    pub days: Vec<Weekday>,
    /// Time of day to start the sync, `HH:MM` in 24-hour form.
    #[schemars(regex(pattern = TIME_OF_DAY_PATTERN))]
    pub at: String,
    /// IANA time zone of `at`, e.g. `Europe/Berlin`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

/// The settings every instance has, whatever its connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceSettings {
    /// Unique name of the instance, used on the command line (`inlet sync NAME`): letters, digits, `-` and `_`.
    #[schemars(regex(pattern = INSTANCE_NAME_PATTERN))]
    pub name: String,
    /// Kind of connector this instance uses, as listed by `inlet connectors`.
    pub connector: String,
    /// When `inlet run` syncs this instance; without a schedule it syncs only when asked.
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Archive an asset that the upstream has not observed for this many days.
    #[serde(default = "default_asset_retention_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub asset_retention_days: u32,
    /// Archive an asset at once when its upstream status is one of these.
    #[serde(default)]
    pub remove_assets_with_status: Vec<String>,
    /// Days between full syncs; the syncs in between are delta syncs where the connector supports them.
    #[serde(default = "default_full_sync_every_days")]
    #[schemars(range(min = 1, max = 365))]
    pub full_sync_every_days: u32,
    /// Hold a sync (outcome `held`) that would archive more than this percentage of the active assets.
    #[serde(default = "default_max_removal_percent")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub max_archive_percent: f64,
    /// Hold a sync (outcome `held`) that would fix more than this percentage of the active findings.
    #[serde(default = "default_max_removal_percent")]
    #[schemars(range(min = 0.0, max = 100.0))]
    pub max_fix_percent: f64,
}

/// One configured instance, its connector built and ready.
#[derive(Debug, Clone)]
pub struct Instance {
    pub settings: InstanceSettings,
    pub connector: Arc<dyn Connector>,
}

/// A config file that passed validation.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The sled database folder, relative paths resolved against the file's folder.
    pub data_dir: Option<PathBuf>,
    pub instances: Vec<Instance>,
}

impl LoadedConfig {
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|instance| instance.settings.name == name)
    }
}

/// The JSON Schema of a whole `[[instance]]` table for one connector: the
/// common settings and the connector's `config`, as a UI form needs it.
pub fn instance_schema(registration: &ConnectorRegistration) -> Value {
    let mut root =
        serde_json::to_value(schemars::schema_for!(InstanceSettings)).unwrap_or_else(|_| json!({}));
    let mut config =
        serde_json::to_value((registration.config_schema)()).unwrap_or_else(|_| json!({}));

    // The connector's definitions move to the root, where its `$ref`s point.
    if let Some(Value::Object(definitions)) = config.as_object_mut().and_then(|c| c.remove("$defs"))
    {
        let root_definitions = root
            .as_object_mut()
            .map(|r| r.entry("$defs").or_insert_with(|| json!({})));
        if let Some(Value::Object(target)) = root_definitions {
            target.extend(definitions);
        }
    }
    if let Some(config) = config.as_object_mut() {
        config.remove("$schema");
        config.insert(
            "description".into(),
            json!("Settings of the connector itself."),
        );
    }

    root["title"] = json!(registration.title);
    root["description"] = json!(registration.description);
    root["properties"]["connector"]["const"] = json!(registration.kind);
    if !registration.source_statuses.is_empty() {
        root["properties"]["remove_assets_with_status"]["items"] =
            json!({ "type": "string", "enum": registration.source_statuses });
    }
    root["properties"]["config"] = config;
    if let Some(Value::Array(required)) = root.get_mut("required") {
        required.push(json!("config"));
    }
    root
}

/// The schema of the file around the instances.
fn file_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "data_dir": { "type": "string", "minLength": 1 },
            "instance": { "type": "array", "items": { "type": "object" } }
        },
        "additionalProperties": false
    })
}

/// Validates a config file's text and builds every instance's connector.
/// `base_dir` is the file's folder: relative `data_dir` and secret files are
/// resolved against it.
pub fn parse_config(
    text: &str,
    source_name: &str,
    base_dir: &Path,
) -> Result<LoadedConfig, ConfigErrors> {
    let fail = |issues: Vec<ConfigIssue>| ConfigErrors {
        source_name: source_name.into(),
        issues,
    };
    let document = parse_toml(text).map_err(|issue| fail(vec![issue]))?;

    let mut issues = schema_issues(&file_schema(), &document, "");
    let no_instances = Vec::new();
    let tables = document
        .get("instance")
        .and_then(Value::as_array)
        .unwrap_or(&no_instances);
    let mut instances = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();

    for (index, table) in tables.iter().enumerate() {
        let prefix = format!("/instance/{index}");
        if let Some(name) = table.get("name").and_then(Value::as_str) {
            if let Some(first) = names.insert(name, index) {
                names.insert(name, first);
                issues.push(ConfigIssue {
                    pointer: format!("{prefix}/name"),
                    message: format!(
                        "duplicate instance name `{name}` (first at /instance/{first})"
                    ),
                });
            }
        }
        match load_instance(table, &prefix, base_dir) {
            Ok(instance) => instances.push(instance),
            Err(instance_issues) => issues.extend(instance_issues),
        }
    }
    if !issues.is_empty() {
        return Err(fail(issues));
    }

    let data_dir = document
        .get("data_dir")
        .and_then(Value::as_str)
        .map(|dir| base_dir.join(dir));
    Ok(LoadedConfig {
        data_dir,
        instances,
    })
}

/// Parses TOML into JSON, or one issue naming the line and column.
fn parse_toml(text: &str) -> Result<Value, ConfigIssue> {
    let table: toml::Table = toml::from_str(text).map_err(|error| {
        let place = error.span().map(|span| line_and_column(text, span.start));
        let message = error.message().trim_end_matches('\n').to_string();
        let message = match place {
            Some((line, column)) => format!("line {line}, column {column}: {message}"),
            None => message,
        };
        ConfigIssue {
            pointer: String::new(),
            message: format!("invalid TOML: {message}"),
        }
    })?;
    serde_json::to_value(table).map_err(|error| ConfigIssue {
        pointer: String::new(),
        message: format!("unsupported TOML value: {error}"),
    })
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |newline| newline + 1) + 1;
    (line, column)
}

fn load_instance(
    table: &Value,
    prefix: &str,
    base_dir: &Path,
) -> Result<Instance, Vec<ConfigIssue>> {
    // Which connector decides the schema; without one only that is reported.
    let kind = match table.get("connector") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(vec![issue(prefix, "/connector", "expected a string")]),
        None => {
            return Err(vec![issue(
                prefix,
                "/connector",
                "required field is missing",
            )])
        }
    };
    let registration = registry::lookup(kind)
        .map_err(|unknown| vec![issue(prefix, "/connector", &unknown.to_string())])?;

    let issues = schema_issues(&instance_schema(registration), table, prefix);
    if !issues.is_empty() {
        return Err(issues);
    }

    // The schema passed: build the typed settings and the connector.
    let mut settings_table = table.clone();
    let config = settings_table
        .as_object_mut()
        .and_then(|t| t.remove("config"));
    let config = config.unwrap_or_else(|| json!({}));
    let settings: InstanceSettings =
        registry::deserialize_config(&settings_table).map_err(|issues| prefixed(prefix, issues))?;
    check_timezone(&settings)
        .map_err(|message| vec![issue(prefix, "/schedule/timezone", &message)])?;
    let context = BuildContext {
        instance: &settings.name,
        config: &config,
    };
    let connector = crate::secret::with_base_dir(base_dir, || (registration.build)(context))
        .map_err(|issues| prefixed(&format!("{prefix}/config"), issues))?;
    Ok(Instance {
        settings,
        connector,
    })
}

fn check_timezone(settings: &InstanceSettings) -> Result<(), String> {
    let Some(schedule) = &settings.schedule else {
        return Ok(());
    };
    jiff::tz::TimeZone::get(&schedule.timezone)
        .map(|_| ())
        .map_err(|_| {
            format!(
                "unknown time zone `{}`; expected an IANA name such as `Europe/Berlin`",
                schedule.timezone
            )
        })
}

fn issue(prefix: &str, suffix: &str, message: &str) -> ConfigIssue {
    ConfigIssue {
        pointer: format!("{prefix}{suffix}"),
        message: message.into(),
    }
}

fn prefixed(prefix: &str, issues: Vec<ConfigIssue>) -> Vec<ConfigIssue> {
    issues
        .into_iter()
        .map(|issue| ConfigIssue {
            pointer: format!("{prefix}{}", issue.pointer),
            ..issue
        })
        .collect()
}

/// Every error of `instance` against `schema`, as issues under `prefix`.
pub fn schema_issues(schema: &Value, instance: &Value, prefix: &str) -> Vec<ConfigIssue> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(validator) => validator,
        Err(error) => {
            return vec![ConfigIssue {
                pointer: prefix.into(),
                message: format!("the connector's schema does not compile: {error}"),
            }]
        }
    };
    let mut issues: Vec<ConfigIssue> = validator
        .iter_errors(instance)
        .flat_map(|error| describe(&error, prefix))
        .collect();
    issues.sort_by(|a, b| a.pointer.cmp(&b.pointer));
    issues.dedup();
    issues
}

/// Turns one validation error into sentences, at the most precise pointer.
fn describe(error: &jsonschema::ValidationError<'_>, prefix: &str) -> Vec<ConfigIssue> {
    let at = format!("{prefix}{}", error.instance_path().as_str());
    let found = if looks_secret(&at) {
        "a value (not shown: this field is a secret)".to_string()
    } else {
        describe_value(error.instance())
    };
    let one = |message: String| {
        vec![ConfigIssue {
            pointer: at.clone(),
            message,
        }]
    };

    // Errors about other places than the value itself, or several at once.
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            return vec![issue(&at, &format!("/{name}"), "required field is missing")];
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            return unexpected
                .iter()
                .map(|key| issue(&at, &format!("/{key}"), &format!("unknown field `{key}`")))
                .collect();
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            return describe_alternatives(context, error, prefix)
                .unwrap_or_else(|| one(format!("{found} matches none of the allowed forms")));
        }
        _ => {}
    }
    match expectation(error.kind(), error.instance()) {
        Some(expected) if expected.is_empty() => one("must not be empty".into()),
        Some(expected) => one(format!("expected {expected}, found {found}")),
        None => one(error.to_string()),
    }
}

/// What a keyword expected, as the words after "expected"; empty for an
/// empty string that must not be; `None` for keywords without a sentence.
fn expectation(kind: &ValidationErrorKind, found: &Value) -> Option<String> {
    Some(match kind {
        ValidationErrorKind::Type { kind } => type_names(kind),
        ValidationErrorKind::Enum { options } => format!("one of {}", list_values(options)),
        ValidationErrorKind::Constant { expected_value } => expected_value.to_string(),
        ValidationErrorKind::Pattern { pattern } => PATTERN_MEANINGS
            .iter()
            .find(|(known, _)| known == pattern)
            .map_or_else(
                || format!("a value matching `{pattern}`"),
                |(_, m)| m.to_string(),
            ),
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("at least {limit}")
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("at most {limit}")
        }
        ValidationErrorKind::MinLength { .. } if found.as_str() == Some("") => String::new(),
        ValidationErrorKind::MinItems { limit } => format!("at least {limit} item(s)"),
        _ => return None,
    })
}

/// Explains a failed `oneOf`/`anyOf` by the one alternative meant for the
/// value's type (e.g. the table branch of an optional table), or by listing
/// the constants when every alternative is one.
fn describe_alternatives(
    branches: &[Vec<jsonschema::ValidationError<'static>>],
    error: &jsonschema::ValidationError<'_>,
    prefix: &str,
) -> Option<Vec<ConfigIssue>> {
    let here = error.instance_path().as_str();
    let constants: Option<Vec<String>> = branches
        .iter()
        .map(|errors| match errors.as_slice() {
            [only] => match only.kind() {
                ValidationErrorKind::Constant { expected_value } => {
                    Some(expected_value.to_string())
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    if let Some(constants) = constants.filter(|c| !c.is_empty()) {
        let at = format!("{prefix}{here}");
        let message = if looks_secret(&at) {
            format!("expected one of {}", constants.join(", "))
        } else {
            format!(
                "expected one of {}, found {}",
                constants.join(", "),
                describe_value(error.instance())
            )
        };
        return Some(vec![ConfigIssue {
            pointer: at,
            message,
        }]);
    }

    // Keep the branches that accept the value's type; describe one if it is alone.
    let mut typed = branches.iter().filter(|errors| {
        !errors.iter().any(|e| {
            e.instance_path().as_str() == here
                && matches!(e.kind(), ValidationErrorKind::Type { .. })
        })
    });
    match (typed.next(), typed.next()) {
        (Some(errors), None) if !errors.is_empty() => {
            Some(errors.iter().flat_map(|e| describe(e, prefix)).collect())
        }
        _ => None,
    }
}

/// Whether the field at `pointer` holds a secret, whose value no message may quote.
fn looks_secret(pointer: &str) -> bool {
    let field = pointer
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    ["secret", "password", "token", "key"]
        .iter()
        .any(|word| field.contains(word))
}

fn type_names(kind: &TypeKind) -> String {
    let names: Vec<String> = match kind {
        TypeKind::Single(single) => vec![single.to_string()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    names
        .into_iter()
        .map(|name| article(&name))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn article(type_name: &str) -> String {
    match type_name {
        "integer" | "object" | "array" => format!("an {type_name}"),
        "null" => "null".into(),
        other => format!("a {other}"),
    }
}

/// A short description of a found value: its type and, for scalars, the value.
fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) if text.chars().count() > 80 => "a long string".into(),
        Value::String(text) => format!("the string \"{text}\""),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "a table".into(),
    }
}

fn list_values(options: &Value) -> String {
    match options.as_array() {
        Some(values) => values
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        None => options.to_string(),
    }
}
