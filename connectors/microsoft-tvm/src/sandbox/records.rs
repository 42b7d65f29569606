//! Synthetic `/api/machines` records: a device profile drawn from
//! `(seed, position)` and its JSON for one day. Values mimic what upstream
//! really sends, warts included: null and empty names, mixed-case enums,
//! `rbacGroupId` as number or string, IPv6 and garbage IPs, 0-7 fraction
//! digits, year-1 dates and stale devices.

use jiff::Timestamp;
use serde::Serialize;

use super::clock::{self, DAY_SECS};
use super::mix::Draw;
use super::tenant::tag;

/// An OS family decides which software a device runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Windows,
    Linux,
    Apple,
}

#[derive(Debug)]
pub(crate) struct Platform {
    pub(crate) name: &'static str,
    pub(crate) family: Family,
    versions: &'static [&'static str],
    build: Option<u32>,
    /// `osVersion` in vulnerability rows.
    pub(crate) kernel: &'static str,
    host_prefix: &'static str,
}

const PLATFORMS: &[(Platform, u32)] = &[
    (
        platform(
            "Windows10",
            Family::Windows,
            &["22H2", "21H2", "1909"],
            Some(19045),
            "10.0.19045.4291",
            "desktop",
        ),
        35,
    ),
    (
        platform(
            "Windows11",
            Family::Windows,
            &["23H2", "22H2"],
            Some(22631),
            "10.0.22631.3447",
            "laptop",
        ),
        25,
    ),
    (
        platform(
            "WindowsServer2019",
            Family::Windows,
            &["1809"],
            Some(17763),
            "10.0.17763.5696",
            "srv",
        ),
        12,
    ),
    (
        platform(
            "WindowsServer2022",
            Family::Windows,
            &["21H2"],
            Some(20348),
            "10.0.20348.2402",
            "srv",
        ),
        10,
    ),
    (
        platform(
            "Linux",
            Family::Linux,
            &["22.04", "20.04", "9.3"],
            None,
            "5.15.0",
            "linux",
        ),
        10,
    ),
    (
        platform(
            "macOS",
            Family::Apple,
            &["14.4", "13.6"],
            None,
            "14.4.1",
            "mac",
        ),
        5,
    ),
    (
        platform(
            "iOS",
            Family::Apple,
            &["17.4", "16.7"],
            None,
            "17.4.1",
            "iphone",
        ),
        3,
    ),
];

const fn platform(
    name: &'static str,
    family: Family,
    versions: &'static [&'static str],
    build: Option<u32>,
    kernel: &'static str,
    host_prefix: &'static str,
) -> Platform {
    Platform {
        name,
        family,
        versions,
        build,
        kernel,
        host_prefix,
    }
}

const HEALTH: &[(&str, u32)] = &[
    ("Active", 84),
    ("Inactive", 6),
    ("ImpairedCommunication", 3),
    ("NoSensorData", 3),
    ("NoSensorDataImpairedCommunication", 2),
    ("Unknown", 2),
];
const ONBOARDING: &[(&str, u32)] = &[
    ("Onboarded", 72),
    ("onboarded", 10),
    ("CanBeOnboarded", 9),
    ("Unsupported", 6),
    ("InsufficientInfo", 3),
];
const RISK: &[(Option<&str>, u32)] = &[
    (None, 8),
    (Some("None"), 20),
    (Some("Informational"), 10),
    (Some("Low"), 25),
    (Some("Medium"), 25),
    (Some("High"), 12),
];
const EXPOSURE: &[(Option<&str>, u32)] = &[
    (None, 8),
    (Some("None"), 10),
    (Some("Low"), 35),
    (Some("Medium"), 35),
    (Some("High"), 12),
];
const DEVICE_VALUE: &[(Option<&str>, u32)] = &[
    (None, 10),
    (Some("Normal"), 75),
    (Some("Low"), 5),
    (Some("High"), 10),
];
const TAGS: &[&str] = &["prod", "finance", "vip", "kiosk", "lab", "Tier 0", "pci"];
const GROUPS: &[(u32, &str)] = &[
    (140, "Workstations"),
    (141, "Servers - Production"),
    (142, "Servers - Lab"),
    (143, "Executives"),
    (144, "Mobile"),
];
const MANAGED_BY: &[(&str, &str)] = &[
    ("Intune", "Managed"),
    ("MicrosoftDefenderForEndpoint", "Managed"),
    ("Unknown", "Unknown"),
];

/// `rbacGroupId`: a number in samples, a string in the docs' table.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum RbacId {
    Number(u32),
    Text(String),
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IpAddressEntry {
    ip_address: String,
    mac_address: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    operational_status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VmMetadata {
    vm_id: String,
    cloud_provider: &'static str,
    resource_id: String,
    subscription_id: String,
}

/// Everything about one device that does not change from day to day.
#[derive(Debug, Clone)]
pub(crate) struct DeviceProfile {
    pub(crate) id: String,
    host: String,
    dns_name: Option<String>,
    pub(crate) platform: &'static Platform,
    version: Option<&'static str>,
    os_build: Option<u32>,
    os_version: Option<String>,
    health: &'static str,
    pub(crate) onboarding: &'static str,
    risk: Option<&'static str>,
    exposure: Option<&'static str>,
    device_value: Option<&'static str>,
    tags: Vec<&'static str>,
    last_ip: Option<String>,
    external_ip: Option<String>,
    rbac_id: RbacId,
    rbac_name: Option<&'static str>,
    ip_addresses: Vec<IpAddressEntry>,
    vm: Option<VmMetadata>,
    aad_device_id: Option<String>,
    managed_by: (&'static str, &'static str),
    architecture: &'static str,
    /// Stale devices were last seen this many days before day 0.
    stale_days: Option<u32>,
    first_seen_days: u32,
    first_seen_unknown: bool,
    first_seen_nanos: u64,
    /// Fraction digits of this device's timestamps (0-7).
    time_digits: u8,
}

/// The id of the device at `position` (the first draw of its profile).
pub(crate) fn device_id(seed: u64, position: u32) -> String {
    Draw::new(seed, &[tag::DEVICE, u64::from(position)]).hex(40)
}

impl DeviceProfile {
    pub(crate) fn generate(seed: u64, position: u32) -> Self {
        let mut draw = Draw::new(seed, &[tag::DEVICE, u64::from(position)]);
        let id = draw.hex(40);
        let platform = draw.weighted(PLATFORMS);
        let host = format!("{}-{}", platform.host_prefix, draw.hex(6));
        let dns_name = match draw.below(100) {
            0..=59 => Some(format!("{host}.corp.contoso.com")),
            60..=89 => Some(host.clone()),
            90..=94 => None,
            _ => Some(String::new()),
        };
        let stale_days = draw.chance(0.12).then(|| draw.between(8, 60) as u32);
        let health = if stale_days.is_some() {
            "Inactive"
        } else {
            *draw.weighted(HEALTH)
        };
        let (rbac_id, rbac_name) = group(&mut draw);
        let (last_ip, external_ip, ip_addresses) = network(&mut draw);
        let mut profile = Self {
            id,
            host,
            dns_name,
            platform,
            version: (!draw.chance(0.05)).then(|| *draw.pick(platform.versions)),
            os_build: platform.build.filter(|_| !draw.chance(0.05)),
            os_version: draw.chance(0.15).then(|| platform.kernel.to_owned()),
            health,
            onboarding: *draw.weighted(ONBOARDING),
            risk: *draw.weighted(RISK),
            exposure: *draw.weighted(EXPOSURE),
            device_value: *draw.weighted(DEVICE_VALUE),
            tags: Vec::new(),
            last_ip,
            external_ip,
            rbac_id,
            rbac_name,
            ip_addresses,
            vm: None,
            aad_device_id: draw.chance(0.6).then(|| draw.guid()),
            managed_by: *draw.pick(MANAGED_BY),
            architecture: if draw.chance(0.03) {
                "32-bit"
            } else {
                "64-bit"
            },
            first_seen_days: stale_days.unwrap_or(0) + draw.between(30, 900) as u32,
            stale_days,
            first_seen_unknown: draw.chance(0.01),
            first_seen_nanos: draw.below(DAY_SECS as u64 * 1_000_000_000),
            time_digits: draw.below(8) as u8,
        };
        profile.tags = (0..draw.below(4)).map(|_| *draw.pick(TAGS)).collect();
        profile.tags.dedup();
        profile.vm = vm_metadata(&mut draw, &profile.host);
        profile
    }

    /// `deviceName` of vulnerability rows: the DNS name, else the host name.
    pub(crate) fn device_name(&self) -> &str {
        match self.dns_name.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => &self.host,
        }
    }

    /// `rbacGroupName` of vulnerability rows.
    pub(crate) fn export_group_name(&self) -> &'static str {
        self.rbac_name.unwrap_or("Unassigned")
    }

    pub(crate) fn is_onboarded(&self) -> bool {
        self.onboarding.eq_ignore_ascii_case("onboarded")
    }

    fn last_seen(&self, seed: u64, position: u32, day: u32, day_start: Timestamp) -> Timestamp {
        // A stale device's report time is fixed; an active one reports daily.
        let draw_day = if self.stale_days.is_some() { 0 } else { day };
        let mut draw = Draw::new(
            seed,
            &[tag::DEVICE_DAY, u64::from(position), u64::from(draw_day)],
        );
        let within_day = draw.below(DAY_SECS as u64) as i64;
        let nanos = draw.below(1_000_000_000);
        let days_back = match self.stale_days {
            // A stale device's last report recedes a day with every day.
            Some(stale) => i64::from(stale) + i64::from(day),
            None => 0,
        };
        let at = clock::minus_secs(day_start, days_back * DAY_SECS + within_day);
        clock::minus_nanos(at, nanos)
    }

    fn first_seen(&self, first_day_start: Timestamp) -> String {
        if self.first_seen_unknown {
            return "0001-01-01T00:00:00Z".to_owned();
        }
        let at = clock::minus_secs(first_day_start, i64::from(self.first_seen_days) * DAY_SECS);
        clock::iso(
            clock::minus_nanos(at, self.first_seen_nanos),
            self.time_digits,
        )
    }

    /// The device's `/api/machines` record on `day` as JSON.
    pub(crate) fn write_machine(
        &self,
        out: &mut Vec<u8>,
        seed: u64,
        position: u32,
        days: &[Timestamp],
    ) {
        let day = days.len().saturating_sub(1) as u32;
        let day_start = days.last().copied().unwrap_or_else(Timestamp::now);
        let first_day = days.first().copied().unwrap_or(day_start);
        let last_seen = self.last_seen(seed, position, day, day_start);
        let record = MachineRecord {
            id: &self.id,
            merged_into_machine_id: None,
            is_potential_duplication: false,
            is_excluded: false,
            exclusion_reason: None,
            computer_dns_name: self.dns_name.as_deref(),
            first_seen: self.first_seen(first_day),
            last_seen: clock::iso(last_seen, self.time_digits),
            os_platform: self.platform.name,
            os_version: self.os_version.as_deref(),
            os_processor: "x64",
            version: self.version,
            last_ip_address: self.last_ip.as_deref(),
            last_external_ip_address: self.external_ip.as_deref(),
            agent_version: "10.8760.19041.4355",
            os_build: self.os_build,
            health_status: self.health,
            device_value: self.device_value,
            rbac_group_id: &self.rbac_id,
            rbac_group_name: self.rbac_name,
            risk_score: self.risk,
            exposure_level: self.exposure,
            is_aad_joined: self.aad_device_id.is_some(),
            aad_device_id: self.aad_device_id.as_deref(),
            machine_tags: &self.tags,
            defender_av_status: "Updated",
            onboarding_status: self.onboarding,
            os_architecture: self.architecture,
            managed_by: self.managed_by.0,
            managed_by_status: self.managed_by.1,
            ip_addresses: &self.ip_addresses,
            vm_metadata: self.vm.as_ref(),
        };
        // Writing plain structs into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &record);
    }
}

fn group(draw: &mut Draw) -> (RbacId, Option<&'static str>) {
    let (id, name) = *draw.pick(GROUPS);
    match draw.below(10) {
        0 => (RbacId::Number(0), None),
        1 | 2 => (RbacId::Text(id.to_string()), Some(name)),
        _ => (RbacId::Number(id), Some(name)),
    }
}

/// `lastIpAddress`, `lastExternalIpAddress` and `ipAddresses`.
fn network(draw: &mut Draw) -> (Option<String>, Option<String>, Vec<IpAddressEntry>) {
    let v4 = format!(
        "10.{}.{}.{}",
        draw.below(256),
        draw.below(256),
        draw.between(1, 254)
    );
    let v6 = format!(
        "fd00:{:x}::{:x}",
        draw.below(0xffff),
        draw.between(1, 0xffff)
    );
    let last_ip = match draw.below(100) {
        0..=84 => Some(v4.clone()),
        85..=92 => Some(v6.clone()),
        93..=95 => Some("unknown".to_owned()),
        96..=97 => Some(String::new()),
        _ => None,
    };
    let external_ip = match draw.below(10) {
        0 => None,
        1 => Some(format!("2001:db8::{:x}", draw.between(1, 0xffff))),
        _ => Some(format!("203.0.113.{}", draw.between(1, 254))),
    };
    let mac = draw.hex(12).to_ascii_uppercase();
    let mut entries = Vec::new();
    for address in [v4, v6].into_iter().take(draw.below(3) as usize) {
        let mac_address = Some(mac.clone());
        entries.push(IpAddressEntry {
            ip_address: address,
            mac_address,
            kind: "Ethernet",
            operational_status: "Up",
        });
    }
    if !entries.is_empty() && draw.chance(0.5) {
        let loopback = "127.0.0.1".to_owned();
        entries.push(IpAddressEntry {
            ip_address: loopback,
            mac_address: None,
            kind: "SoftwareLoopback",
            operational_status: "Up",
        });
    }
    (last_ip, external_ip, entries)
}

fn vm_metadata(draw: &mut Draw, host: &str) -> Option<VmMetadata> {
    if !draw.chance(0.2) {
        return None;
    }
    let subscription_id = draw.guid();
    let vm_id = if draw.chance(0.2) {
        String::new()
    } else {
        draw.guid()
    };
    let resource_group = format!("rg-{}", draw.hex(4));
    let resource_id = format!(
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/\
         Microsoft.Compute/virtualMachines/{host}"
    );
    Some(VmMetadata {
        vm_id,
        cloud_provider: "Azure",
        resource_id,
        subscription_id,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MachineRecord<'a> {
    id: &'a str,
    merged_into_machine_id: Option<&'a str>,
    is_potential_duplication: bool,
    is_excluded: bool,
    exclusion_reason: Option<&'a str>,
    computer_dns_name: Option<&'a str>,
    first_seen: String,
    last_seen: String,
    os_platform: &'a str,
    os_version: Option<&'a str>,
    os_processor: &'a str,
    version: Option<&'a str>,
    last_ip_address: Option<&'a str>,
    last_external_ip_address: Option<&'a str>,
    agent_version: &'a str,
    os_build: Option<u32>,
    health_status: &'a str,
    device_value: Option<&'a str>,
    rbac_group_id: &'a RbacId,
    rbac_group_name: Option<&'a str>,
    risk_score: Option<&'a str>,
    exposure_level: Option<&'a str>,
    is_aad_joined: bool,
    aad_device_id: Option<&'a str>,
    machine_tags: &'a [&'static str],
    defender_av_status: &'a str,
    onboarding_status: &'a str,
    os_architecture: &'a str,
    managed_by: &'a str,
    managed_by_status: &'a str,
    ip_addresses: &'a [IpAddressEntry],
    vm_metadata: Option<&'a VmMetadata>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn machines(count: u32, days: &[Timestamp]) -> Vec<serde_json::Value> {
        (0..count)
            .map(|position| {
                let mut out = Vec::new();
                DeviceProfile::generate(4, position).write_machine(&mut out, 4, position, days);
                serde_json::from_slice(&out).expect("machine JSON")
            })
            .collect()
    }

    #[test]
    fn records_carry_the_documented_fields_and_their_warts() {
        let start: Timestamp = "2025-03-01T12:00:00Z".parse().expect("timestamp");
        let records = machines(600, &[start]);
        let ids: HashSet<_> = records
            .iter()
            .map(|r| r["id"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(ids.len(), 600);
        assert!(ids.iter().all(|id| id.len() == 40));
        let seen = |field: &str, test: &dyn Fn(&serde_json::Value) -> bool| {
            records.iter().any(|record| test(&record[field]))
        };
        assert!(seen("computerDnsName", &|v| v.is_null()));
        assert!(seen("computerDnsName", &|v| v == ""));
        assert!(seen("rbacGroupId", &|v| v.is_string()));
        assert!(seen("rbacGroupId", &|v| v.is_number()));
        assert!(seen("lastIpAddress", &|v| v == "unknown"));
        assert!(seen("lastIpAddress", &|v| v
            .as_str()
            .is_some_and(|ip| ip.contains(':'))));
        assert!(seen("onboardingStatus", &|v| v == "onboarded"));
        assert!(seen("vmMetadata", &|v| v["vmId"] == ""));
        assert!(seen("firstSeen", &|v| v == "0001-01-01T00:00:00Z"));
        assert!(seen("osBuild", &|v| v.is_null()));
        assert!(seen("healthStatus", &|v| v == "Inactive"));
        // Most devices reported within the last day, some weeks ago.
        let recent = records
            .iter()
            .filter(|record| {
                let last_seen = record["lastSeen"].as_str().and_then(clock::parse_loose);
                last_seen.is_some_and(|at| start.duration_since(at).as_secs() <= DAY_SECS)
            })
            .count();
        assert!(recent > 450 && recent < 580, "recent {recent}");
    }

    #[test]
    fn stale_devices_age_by_a_day_per_day() {
        let start: Timestamp = "2025-03-01T12:00:00Z".parse().expect("timestamp");
        let next = clock::plus_millis(start, 5_000);
        let position = (0..200)
            .find(|position| DeviceProfile::generate(4, *position).stale_days.is_some())
            .expect("a stale device");
        let profile = DeviceProfile::generate(4, position);
        let day0 = profile.last_seen(4, position, 0, start);
        let day1 = profile.last_seen(4, position, 1, next);
        assert_eq!(day0.duration_since(day1).as_secs(), DAY_SECS - 5);
    }
}
