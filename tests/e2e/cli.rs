//! The command line's contract: exit codes, errors on stderr, data on stdout.

use std::process::Command;

use crate::harness::{describe, INLET};

fn inlet_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(INLET)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run inlet")
}

#[test]
fn validate_prints_every_error_with_its_pointer_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inlet.toml"),
        "[[instance]]\nname = \"bad name!\"\nconnector = \"microsoft-tvm\"\nfull_sync_every_days = 0\n[instance.config]\ntenant_id = \"nope\"\nclient_id = \"11111111-1111-1111-1111-111111111111\"\nclient_secret = \"x\"\npage_size = 500000\n",
    )
    .unwrap();
    let output = inlet_in(dir.path(), &["validate"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "inlet.toml has 4 problems:",
        "/instance/0/config/page_size: expected at most 200000, found the number 500000",
        "/instance/0/config/tenant_id: expected a GUID or a domain name",
        "/instance/0/full_sync_every_days: expected at least 1, found the number 0",
        "/instance/0/name: expected a name of 1 to 64 letters, digits, `-` or `_`, found the string \"bad name!\"",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(output.stdout.is_empty(), "errors belong on stderr");
    assert!(
        !dir.path().join("inlet-data").exists(),
        "nothing is written before the config validates"
    );
}

#[test]
fn a_valid_config_validates_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inlet.toml"),
        "[[instance]]\nname = \"contoso\"\nconnector = \"microsoft-tvm\"\n[instance.config]\ntenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-1111-1111-1111-111111111111\"\nclient_secret = \"x\"\n",
    )
    .unwrap();
    let output = inlet_in(dir.path(), &["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "inlet.toml is valid: 1 instance: contoso (microsoft-tvm)\n"
    );
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = inlet_in(dir.path(), &["validate", "--config", "nowhere.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("cannot read the config file `nowhere.toml`"));
}

#[test]
fn connectors_and_schema_list_the_registered_connector() {
    let dir = tempfile::tempdir().unwrap();
    let output = inlet_in(dir.path(), &["connectors", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let connectors = list.as_array().unwrap().iter();
    let kinds: Vec<_> = connectors.filter_map(|c| c["kind"].as_str()).collect();
    assert!(kinds.contains(&"microsoft-tvm"), "{kinds:?}");

    let output = inlet_in(dir.path(), &["schema", "microsoft-tvm"]);
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["properties"]["connector"]["const"], "microsoft-tvm");
    assert!(schema["properties"]["config"]["properties"]["client_secret"].is_object());

    let output = inlet_in(dir.path(), &["schema", "qualys"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn unknown_instances_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inlet.toml"), "").unwrap();
    let output = inlet_in(dir.path(), &["sync", "nobody"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no instance named `nobody`"));
    let output = inlet_in(dir.path(), &["sync", "--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}
