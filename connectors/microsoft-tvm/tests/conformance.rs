//! The conformance kit against the microsoft-tvm sandbox: every sync rule
//! of the product spec, end to end over 127.0.0.1. The adapter below writes
//! each simulated day as the fixtures the sandbox serves with `--fixtures`:
//! `machines.json`, `vulnerabilities.json` and `catalog.json`, shaped like
//! Defender's own records.

use std::path::Path;

use inlet_microsoft_tvm::KIND;
use inlet_testkit::{ConformanceUpstream, DeviceSpec, UpstreamDay};
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

/// Software a vulnerability is found in: vendor, name, version.
const SOFTWARE: [(&str, &str, &str); 4] = [
    ("microsoft", "edge", "120.0.2210.91"),
    ("openssl", "openssl", "3.0.11"),
    ("google", "chrome", "119.0.6045.160"),
    ("7-zip", "7-zip", "23.01"),
];

struct TvmUpstream;

impl ConformanceUpstream for TvmUpstream {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn write_day(&self, dir: &Path, day: &UpstreamDay) -> std::io::Result<()> {
        let machines: Vec<Value> = day.devices.iter().enumerate().map(machine).collect();
        let rows: Vec<Value> = day.devices.iter().flat_map(vulnerability_rows).collect();
        let mut cves: Vec<&str> = day
            .devices
            .iter()
            .flat_map(|device| device.vulnerabilities.iter().map(String::as_str))
            .collect();
        cves.sort_unstable();
        cves.dedup();
        let catalog: Vec<Value> = cves.into_iter().map(catalog_entry).collect();

        write_json(&dir.join("machines.json"), &machines)?;
        write_json(&dir.join("vulnerabilities.json"), &rows)?;
        write_json(&dir.join("catalog.json"), &catalog)
    }

    fn active_status(&self) -> &'static str {
        "Active"
    }

    fn removable_status(&self) -> &'static str {
        "Inactive"
    }

    fn secret_values(&self, config: &Value) -> Vec<String> {
        let secret = config["client_secret"].as_str();
        secret.map(str::to_owned).into_iter().collect()
    }
}

fn write_json(path: &Path, records: &[Value]) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(records)?)
}

/// A `/api/machines` record, as Defender returns one.
fn machine((index, device): (usize, &DeviceSpec)) -> Value {
    let name = format!("ws-{:03}.contoso.local", index + 1);
    let first_seen = device.last_seen - SignedDuration::from_hours(24 * 200);
    json!({
        "id": device.id,
        "computerDnsName": name,
        "firstSeen": first_seen.to_string(),
        "lastSeen": device.last_seen.to_string(),
        "osPlatform": "Windows11",
        "version": "23H2",
        "osProcessor": "x64",
        "osBuild": 22631,
        "lastIpAddress": format!("10.20.0.{}", index + 10),
        "lastExternalIpAddress": "203.0.113.40",
        "healthStatus": device.status,
        "onboardingStatus": "Onboarded",
        "deviceValue": "Normal",
        "rbacGroupId": 140,
        "rbacGroupName": "Workstations",
        "riskScore": "Medium",
        "exposureLevel": "Medium",
        "isAadJoined": true,
        "aadDeviceId": null,
        "managedBy": "Intune",
        "machineTags": ["conformance"],
        "vmMetadata": null
    })
}

/// The rows of the full export for one device, one per vulnerability.
fn vulnerability_rows(device: &DeviceSpec) -> Vec<Value> {
    device
        .vulnerabilities
        .iter()
        .map(|cve| vulnerability_row(device, cve))
        .collect()
}

/// The software a CVE is found in; the same for a CVE on every device.
fn software_of(cve: &str) -> (&'static str, &'static str, &'static str) {
    let sum: usize = cve.bytes().map(usize::from).sum();
    SOFTWARE[sum % SOFTWARE.len()]
}

fn vulnerability_row(device: &DeviceSpec, cve: &str) -> Value {
    let (vendor, software, version) = software_of(cve);
    let timestamp = |at: Timestamp| at.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let first_seen = device.last_seen - SignedDuration::from_hours(24 * 30);
    json!({
        "id": format!("{}_{software}_{version}_{cve}_", device.id),
        "deviceId": device.id,
        "rbacGroupName": "Workstations",
        "deviceName": format!("{}.contoso.local", &device.id[..8]),
        "osPlatform": "Windows11",
        "osVersion": "23H2",
        "osArchitecture": "x64",
        "softwareVendor": vendor,
        "softwareName": software,
        "softwareVersion": version,
        "cveId": cve,
        "cvssScore": 7.8,
        "vulnerabilitySeverityLevel": "High",
        "recommendedSecurityUpdate": format!("Update {software} to the latest version"),
        "recommendedSecurityUpdateId": null,
        "recommendedSecurityUpdateUrl": null,
        "diskPaths": [format!("C:\\Program Files\\{software}\\{software}.exe")],
        "registryPaths": [],
        "exploitabilityLevel": "NoExploit",
        "recommendationReference": format!("va-_-{vendor}-_-{software}"),
        "firstSeenTimestamp": timestamp(first_seen),
        "lastSeenTimestamp": timestamp(device.last_seen)
    })
}

/// A `/api/vulnerabilities` record.
fn catalog_entry(cve: &str) -> Value {
    json!({
        "id": cve,
        "name": cve,
        "description": format!("A vulnerability of the conformance kit, {cve}."),
        "severity": "High",
        "cvssV3": 7.8,
        "cvssVector": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        "exposedMachines": 1,
        "publishedOn": "2024-01-09T00:00:00Z",
        "updatedOn": "2024-02-01T00:00:00Z"
    })
}

inlet_testkit::conformance_tests!(TvmUpstream);
