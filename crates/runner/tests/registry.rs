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
    let _ = inlet_microsoft_tvm::KIND;
    let kinds: Vec<_> = registry::registrations().iter().map(|r| r.kind).collect();
    let unique: HashSet<_> = kinds.iter().collect();
    assert_eq!(unique.len(), kinds.len(), "duplicate kinds in {kinds:?}");
    assert!(kinds.contains(&"microsoft-tvm"), "{kinds:?}");
}

#[test]
fn every_schema_compiles_and_documents_every_property() {
    let _ = inlet_microsoft_tvm::KIND;
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
    std::env::set_var("TVM_CLIENT_SECRET", "example-secret");
    for registration in registry::registrations() {
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
