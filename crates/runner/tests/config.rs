//! Config validation through the real registry: exact pointers and messages
//! for bad files, and secrets that never reach `Debug` output.

use std::path::Path;

use inlet_core::config::parse_config;
use inlet_core::ConfigIssue;

// Link the connector so its registration is present.
use inlet_microsoft_tvm as _;

const VALID_CONFIG: &str = r#"
[[instance]]
name = "contoso"
connector = "microsoft-tvm"

[instance.config]
tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "11111111-1111-1111-1111-111111111111"
client_secret = "literal-secret-value-42"
"#;

/// The issues of a config text, as `(pointer, message)` pairs.
fn issues(text: &str) -> Vec<(String, String)> {
    let _ = inlet_microsoft_tvm::KIND;
    match parse_config(text, "inlet.toml", Path::new(".")) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .issues
            .into_iter()
            .map(|ConfigIssue { pointer, message }| (pointer, message))
            .collect(),
    }
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .collect()
}

#[test]
fn a_valid_config_loads_with_defaults() {
    let config = parse_config(VALID_CONFIG, "inlet.toml", Path::new(".")).expect("valid");
    let settings = &config.instances[0].settings;
    assert_eq!(settings.name, "contoso");
    assert_eq!(settings.asset_retention_days, 30);
    assert_eq!(settings.full_sync_every_days, 7);
    assert_eq!(settings.max_archive_percent, 50.0);
}

#[test]
fn invalid_toml_names_line_and_column() {
    let found = issues("[[instance]]\nname = \"a\"\nconnector = \n");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "");
    assert!(
        found[0].1.starts_with("invalid TOML: line 3, column 13:"),
        "{}",
        found[0].1
    );
}

#[test]
fn unknown_keys_are_named_at_every_level() {
    let text = "log_level = \"debug\"\n".to_string()
        + &VALID_CONFIG
            .replace("name = \"contoso\"", "name = \"contoso\"\nretention = 3")
            .replace("client_secret =", "tenant = \"x\"\nclient_secret =");
    assert_eq!(
        issues(&text),
        pairs(&[
            ("/log_level", "unknown field `log_level`"),
            ("/instance/0/config/tenant", "unknown field `tenant`"),
            ("/instance/0/retention", "unknown field `retention`"),
        ])
    );
}

#[test]
fn wrong_types_say_what_was_expected_and_found() {
    let text = VALID_CONFIG
        .replace("\"11111111-1111-1111-1111-111111111111\"", "11")
        .replace(
            "[instance.config]",
            "asset_retention_days = \"30\"\n[instance.config]\nmap_external_ip = \"yes\"",
        );
    assert_eq!(
        issues(&text),
        pairs(&[
            (
                "/instance/0/asset_retention_days",
                "expected an integer, found the string \"30\""
            ),
            (
                "/instance/0/config/client_id",
                "expected a string, found the number 11"
            ),
            (
                "/instance/0/config/map_external_ip",
                "expected a boolean, found the string \"yes\""
            ),
        ])
    );
}

#[test]
fn missing_required_fields_point_at_the_field() {
    let text = VALID_CONFIG.replace("tenant_id = \"00000000-0000-0000-0000-000000000001\"\n", "");
    assert_eq!(
        issues(&text),
        pairs(&[("/instance/0/config/tenant_id", "required field is missing")])
    );
    let text = "[[instance]]\nconnector = \"microsoft-tvm\"\n";
    assert_eq!(
        issues(text),
        pairs(&[
            ("/instance/0/config", "required field is missing"),
            ("/instance/0/name", "required field is missing"),
        ])
    );
}

#[test]
fn malformed_ids_and_out_of_range_values_are_explained() {
    let text = VALID_CONFIG
        .replace("00000000-0000-0000-0000-000000000001", "not a tenant")
        .replace(
            "11111111-1111-1111-1111-111111111111",
            "contoso.onmicrosoft.com",
        )
        .replace(
            "[instance.config]",
            "max_fix_percent = 150\n[instance.config]\npage_size = 0",
        );
    assert_eq!(
        issues(&text),
        pairs(&[
            (
                "/instance/0/config/client_id",
                "expected a GUID such as `00000000-0000-0000-0000-000000000000`, found the string \"contoso.onmicrosoft.com\""
            ),
            ("/instance/0/config/page_size", "expected at least 1, found the number 0"),
            (
                "/instance/0/config/tenant_id",
                "expected a GUID or a domain name such as `contoso.onmicrosoft.com`, found the string \"not a tenant\""
            ),
            ("/instance/0/max_fix_percent", "expected at most 100.0, found the number 150"),
        ])
    );
}

#[test]
fn a_domain_tenant_id_is_accepted() {
    let text = VALID_CONFIG.replace(
        "00000000-0000-0000-0000-000000000001",
        "contoso.onmicrosoft.com",
    );
    assert_eq!(issues(&text), Vec::new());
}

#[test]
fn duplicate_names_and_unknown_kinds_are_reported_together() {
    let text = format!(
        "{VALID_CONFIG}{VALID_CONFIG}\n[[instance]]\nname = \"other\"\nconnector = \"qualys\"\n"
    );
    assert_eq!(
        issues(&text),
        pairs(&[
            (
                "/instance/1/name",
                "duplicate instance name `contoso` (first at /instance/0)"
            ),
            (
                "/instance/2/connector",
                "unknown connector kind `qualys`; known kinds: microsoft-tvm"
            ),
        ])
    );
}

#[test]
fn enums_list_the_allowed_values() {
    let text = VALID_CONFIG
        .replace(
            "connector = \"microsoft-tvm\"",
            "connector = \"microsoft-tvm\"\nremove_assets_with_status = [\"inactive\"]",
        )
        .replace("client_secret =", "cloud = \"azure\"\nclient_secret =");
    assert_eq!(
        issues(&text),
        pairs(&[
            (
                "/instance/0/config/cloud",
                "expected one of \"commercial\", \"gcc\", \"gcc-high\", \"dod\", found the string \"azure\""
            ),
            (
                "/instance/0/remove_assets_with_status/0",
                "expected one of \"Active\", \"Inactive\", \"ImpairedCommunication\", \"NoSensorData\", \"NoSensorDataImpairedCommunication\", \"Unknown\", found the string \"inactive\""
            ),
        ])
    );
}

#[test]
fn schedules_are_checked() {
    let text = VALID_CONFIG.replace(
        "connector = \"microsoft-tvm\"",
        "connector = \"microsoft-tvm\"\nschedule = { days = [\"monday\"], at = \"25:00\" }",
    );
    assert_eq!(
        issues(&text),
        pairs(&[
            ("/instance/0/schedule/at", "expected a time of day as `HH:MM` (24-hour), found the string \"25:00\""),
            (
                "/instance/0/schedule/days/0",
                "expected one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\", found the string \"monday\""
            ),
        ])
    );
    let text = VALID_CONFIG.replace(
        "connector = \"microsoft-tvm\"",
        "connector = \"microsoft-tvm\"\nschedule = { at = \"02:00\", timezone = \"Mars/Olympus\" }",
    );
    assert_eq!(
        issues(&text),
        pairs(&[(
            "/instance/0/schedule/timezone",
            "unknown time zone `Mars/Olympus`; expected an IANA name such as `Europe/Berlin`"
        )])
    );
}

#[test]
fn unresolvable_secrets_name_the_variable_or_file() {
    let text = VALID_CONFIG.replace(
        "\"literal-secret-value-42\"",
        "{ env = \"INLET_TEST_DEFINITELY_UNSET\" }",
    );
    assert_eq!(
        issues(&text),
        pairs(&[(
            "/instance/0/config/client_secret",
            "environment variable `INLET_TEST_DEFINITELY_UNSET` is not set"
        )])
    );
    let text = VALID_CONFIG.replace(
        "\"literal-secret-value-42\"",
        "{ file = \"no/such/secret\" }",
    );
    let found = issues(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "/instance/0/config/client_secret");
    assert!(
        found[0]
            .1
            .starts_with("cannot read secret file `./no/such/secret`"),
        "{}",
        found[0].1
    );
}

#[test]
fn a_mistyped_secret_is_not_quoted() {
    let text = VALID_CONFIG.replace("\"literal-secret-value-42\"", "424242");
    let found = issues(&text);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "/instance/0/config/client_secret");
    assert!(!found[0].1.contains("424242"), "{}", found[0].1);
}

#[test]
fn debug_of_a_loaded_config_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "file-secret-value-77\n").unwrap();
    std::env::set_var("INLET_TEST_ENV_SECRET", "env-secret-value-99");
    let text = format!(
        "{VALID_CONFIG}\n[[instance]]\nname = \"b\"\nconnector = \"microsoft-tvm\"\n[instance.config]\ntenant_id = \"contoso.com\"\nclient_id = \"11111111-1111-1111-1111-111111111111\"\nclient_secret = {{ env = \"INLET_TEST_ENV_SECRET\" }}\n\n[[instance]]\nname = \"c\"\nconnector = \"microsoft-tvm\"\n[instance.config]\ntenant_id = \"contoso.com\"\nclient_id = \"11111111-1111-1111-1111-111111111111\"\nclient_secret = {{ file = \"secret.txt\" }}\n"
    );
    let config = parse_config(&text, "inlet.toml", dir.path()).expect("valid");
    assert_eq!(config.instances.len(), 3);
    let debug = format!("{config:?} {config:#?}");
    for secret in [
        "literal-secret-value-42",
        "env-secret-value-99",
        "file-secret-value-77",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(debug.contains("[redacted]"));
}
