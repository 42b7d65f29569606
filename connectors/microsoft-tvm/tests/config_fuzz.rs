//! The config loader under hostile input (`inlet_core::config::parse_config`
//! with the microsoft-tvm connector registered): arbitrary text and generated
//! TOML-ish documents whose instances mix known and unknown fields with
//! values of every type. It never panics; it returns a config or issues
//! that each carry a JSON pointer and a message, and no message quotes the
//! client secret.

use inlet_core::config::parse_config;
use proptest::prelude::*;
use serde_json::Value;

/// A literal secret; generated documents put it in the secret field and
/// elsewhere.
const SECRET: &str = "fuzz-Secret-9f8e7d6c";

fn check(text: &str) -> Result<(), TestCaseError> {
    // Linked, so its registration is in the registry.
    let _ = inlet_microsoft_tvm::KIND;
    let dir = tempfile::tempdir().expect("temp dir");
    match parse_config(text, "fuzz.toml", dir.path()) {
        Ok(config) => prop_assert!(config.instances.len() <= 4),
        Err(errors) => {
            prop_assert!(!errors.issues.is_empty(), "an error without issues");
            for issue in &errors.issues {
                let pointer = &issue.pointer;
                prop_assert!(
                    pointer.is_empty() || pointer.starts_with('/'),
                    "{pointer:?}"
                );
                prop_assert!(
                    !issue.message.trim().is_empty(),
                    "empty message at {pointer}"
                );
                // The generator also puts the secret's text in other fields,
                // where quoting it is right; a secret field's value never is.
                let field = pointer.rsplit('/').next().unwrap_or_default();
                if field.contains("secret") {
                    prop_assert!(!issue.message.contains(SECRET), "secret in {issue:?}");
                }
            }
        }
    }
    Ok(())
}

/// A TOML value of any type, written inline.
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-1e9f64..1e9).prop_map(|n| format!("{n:?}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        any::<bool>().prop_map(|flag| flag.to_string()),
        "(?s).{0,24}".prop_map(|text| Value::String(text).to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just(format!("\"{SECRET}\"")),
        Just("\"00000000-0000-0000-0000-000000000001\"".to_string()),
        Just("\"https://api.security.microsoft.com\"".to_string()),
        Just("\"microsoft-tvm\"".to_string()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((field_name(), inner), 0..4).prop_map(|pairs| {
                let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

/// Field names the loader knows, plus a few it does not.
fn field_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "name",
        "connector",
        "schedule",
        "days",
        "at",
        "timezone",
        "asset_retention_days",
        "remove_assets_with_status",
        "full_sync_every_days",
        "max_archive_percent",
        "max_fix_percent",
        "tenant_id",
        "client_id",
        "client_secret",
        "env",
        "file",
        "cloud",
        "api_url",
        "login_url",
        "page_size",
        "read_timeout_secs",
        "max_throttle_wait_secs",
        "\"quoted key\"",
        "unknown",
    ])
    .prop_map(str::to_owned)
}

/// `[[instance]]` tables with a `[instance.config]`, some fields right.
fn document() -> impl Strategy<Value = String> {
    let fields = || prop::collection::vec((field_name(), toml_value()), 0..8);
    let instance = (fields(), fields(), any::<bool>()).prop_map(|(top, config, valid)| {
        let mut text = String::from("[[instance]]\n");
        if valid {
            text.push_str("name = \"lab\"\nconnector = \"microsoft-tvm\"\n");
        }
        for (key, value) in dedup(top) {
            text.push_str(&format!("{key} = {value}\n"));
        }
        text.push_str("[instance.config]\n");
        if valid {
            text.push_str(&format!(
                "tenant_id = \"00000000-0000-0000-0000-000000000001\"\n\
                 client_id = \"11111111-1111-1111-1111-111111111111\"\n\
                 client_secret = \"{SECRET}\"\n"
            ));
        }
        for (key, value) in dedup(config) {
            text.push_str(&format!("{key} = {value}\n"));
        }
        text
    });
    (
        proptest::option::of(toml_value()),
        prop::collection::vec(instance, 0..3),
    )
        .prop_map(|(data_dir, instances)| {
            let head = data_dir
                .map(|v| format!("data_dir = {v}\n"))
                .unwrap_or_default();
            head + &instances.join("\n")
        })
}

/// Keeps the first of each key (and drops the ones the valid prefix set),
/// so most documents get past TOML's own duplicate-key rule.
fn dedup(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = vec!["name".to_string(), "connector".into(), "tenant_id".into()];
    seen.extend(["client_id".into(), "client_secret".into()]);
    pairs
        .into_iter()
        .filter(|(key, _)| {
            let fresh = !seen.contains(key);
            seen.push(key.clone());
            fresh
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn toml_soup_never_panics(text in "[\\[\\]{}=\",.a-z_0-9 \n#'-]{0,300}") {
        check(&text)?;
    }

    #[test]
    fn generated_documents_load_or_point_at_each_problem(text in document()) {
        check(&text)?;
    }
}

#[test]
fn a_valid_generated_document_loads() {
    let text = format!(
        "[[instance]]\nname = \"lab\"\nconnector = \"microsoft-tvm\"\n[instance.config]\n\
         tenant_id = \"00000000-0000-0000-0000-000000000001\"\n\
         client_id = \"11111111-1111-1111-1111-111111111111\"\nclient_secret = \"{SECRET}\"\n"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = parse_config(&text, "fuzz.toml", dir.path()).expect("valid");
    assert_eq!(config.instances.len(), 1);
}
