//! The registry as linked into the runner: the expected connectors are there,
//! kinds are unique, every schema compiles and documents every property, and
//! every connector's example config validates.

use std::collections::HashSet;
use std::path::Path;

use inlet_core::config::{instance_schema, parse_config};
use inlet_core::registry;
use serde_json::Value;

#[test]
fn the_expected_connectors_are_registered_once() {
    let linked = inlet_connectors::linked();
    let kinds: Vec<_> = registry::registrations().iter().map(|r| r.kind).collect();
    let unique: HashSet<_> = kinds.iter().collect();
    assert_eq!(unique.len(), kinds.len(), "duplicate kinds in {kinds:?}");
    assert!(kinds.contains(&"microsoft-tvm"), "{kinds:?}");
    for kind in linked {
        assert!(
            kinds.contains(&kind),
            "`{kind}` is not registered: {kinds:?}"
        );
    }
}

#[test]
fn every_schema_compiles_and_documents_every_property() {
    inlet_connectors::linked();
    for registration in registry::registrations() {
        let schema = instance_schema(registration);
        jsonschema::validator_for(&schema).unwrap_or_else(|error| {
            panic!("{}: schema does not compile: {error}", registration.kind)
        });
        let mut undocumented = Vec::new();
        find_undocumented(&schema, "", &mut undocumented);
        assert!(
            undocumented.is_empty(),
            "{}: no description on {undocumented:?}",
            registration.kind
        );
    }
}

#[test]
fn secret_fields_are_write_only() {
    let registration = registry::find(inlet_microsoft_tvm::KIND).unwrap();
    let schema = instance_schema(registration);
    let secret = &schema["$defs"]["Secret"];
    assert_eq!(secret["writeOnly"], Value::Bool(true));
    assert_eq!(
        schema["properties"]["config"]["properties"]["client_secret"]["$ref"],
        "#/$defs/Secret"
    );
}

#[test]
fn every_example_config_validates() {
    inlet_connectors::linked();
    for registration in registry::registrations() {
        set_secret_variables(registration.example_config);
        let text = format!(
            "[[instance]]\nname = \"example\"\nconnector = \"{}\"\n\n[instance.config]\n{}",
            registration.kind, registration.example_config
        );
        if let Err(errors) = parse_config(&text, "example.toml", Path::new(".")) {
            panic!(
                "{}: example config does not validate: {errors}",
                registration.kind
            );
        }
    }
}

/// Sets every variable an example config reads a secret from
/// (`{ env = "VAR" }`), so that the example validates.
fn set_secret_variables(example_config: &str) {
    const OPENING: &str = "env = \"";
    let mut rest = example_config;
    while let Some(start) = rest.find(OPENING) {
        rest = &rest[start + OPENING.len()..];
        let Some(end) = rest.find('"') else { break };
        std::env::set_var(&rest[..end], "example-secret");
        rest = &rest[end..];
    }
}

/// Collects the pointers of properties without a description.
fn find_undocumented(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Some(object) = schema.as_object() else {
        return;
    };
    if let Some(Value::Object(properties)) = object.get("properties") {
        for (name, property) in properties {
            let path = format!("{at}/{name}");
            if property.get("description").is_none() {
                found.push(path.clone());
            }
            find_undocumented(property, &path, found);
        }
    }
    if let Some(Value::Object(definitions)) = object.get("$defs") {
        for (name, definition) in definitions {
            find_undocumented(definition, &format!("{at}/$defs/{name}"), found);
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(options)) = object.get(key) {
            for option in options {
                find_undocumented(option, at, found);
            }
        }
    }
}
