//! Synthetic vulnerability rows (full and delta export) and catalog records.
//! A row's static fields are drawn from `(seed, device, slot)`; its
//! `lastSeenTimestamp` from the day too. CVSS scores come from the catalog
//! entry of the row's CVE, then get upstream's mixed spellings (number,
//! numeric string, null, out of range).

use jiff::Timestamp;
use serde::Serialize;

use super::clock::{self, DAY_SECS};
use super::mix::Draw;
use super::records::{DeviceProfile, Family};
use super::tenant::{tag, ChangeStatus, SlotKey, SyntheticTenant};

struct Software {
    vendor: &'static str,
    name: &'static str,
    family: Family,
    major: u64,
    disk: &'static str,
    registry: &'static str,
}

const fn software(
    vendor: &'static str,
    name: &'static str,
    family: Family,
    major: u64,
    disk: &'static str,
    registry: &'static str,
) -> Software {
    Software {
        vendor,
        name,
        family,
        major,
        disk,
        registry,
    }
}

use Family::{Apple, Linux, Windows};

const SOFTWARE: &[Software] = &[
    software(
        "microsoft",
        "edge",
        Windows,
        124,
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\Microsoft Edge",
    ),
    software(
        "google",
        "chrome",
        Windows,
        123,
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\Google Chrome",
    ),
    software(
        "mozilla",
        "firefox",
        Windows,
        125,
        r"C:\Program Files\Mozilla Firefox\firefox.exe",
        r"SOFTWARE\Mozilla\Mozilla Firefox",
    ),
    software(
        "microsoft",
        ".net_framework",
        Windows,
        4,
        r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll",
        r"SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full",
    ),
    software(
        "microsoft",
        "office",
        Windows,
        16,
        r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        r"SOFTWARE\Microsoft\Office\ClickToRun\Configuration",
    ),
    software(
        "adobe",
        "acrobat_reader_dc",
        Windows,
        24,
        r"C:\Program Files\Adobe\Acrobat DC\Acrobat\Acrobat.exe",
        r"SOFTWARE\Adobe\Adobe Acrobat\DC",
    ),
    software(
        "oracle",
        "jre",
        Windows,
        8,
        r"C:\Program Files\Java\jre-1.8\bin\java.exe",
        r"SOFTWARE\JavaSoft\Java Runtime Environment",
    ),
    software(
        "7-zip",
        "7-zip",
        Windows,
        23,
        r"C:\Program Files\7-Zip\7z.exe",
        r"SOFTWARE\7-Zip",
    ),
    software(
        "notepad++",
        "notepad++",
        Windows,
        8,
        r"C:\Program Files\Notepad++\notepad++.exe",
        r"SOFTWARE\Notepad++",
    ),
    software(
        "zoom",
        "zoom",
        Windows,
        5,
        r"C:\Users\user\AppData\Roaming\Zoom\bin\Zoom.exe",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\ZoomUMX",
    ),
    software(
        "openssl",
        "openssl",
        Linux,
        3,
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "",
    ),
    software("python", "python", Linux, 3, "/usr/bin/python3.10", ""),
    software("haxx", "curl", Linux, 7, "/usr/bin/curl", ""),
    software("openbsd", "openssh", Linux, 8, "/usr/sbin/sshd", ""),
    software("sudo_project", "sudo", Linux, 1, "/usr/bin/sudo", ""),
    software(
        "gnu",
        "glibc",
        Linux,
        2,
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "",
    ),
    software("apple", "safari", Apple, 17, "/Applications/Safari.app", ""),
    software(
        "google",
        "chrome",
        Apple,
        123,
        "/Applications/Google Chrome.app",
        "",
    ),
    software(
        "mozilla",
        "firefox",
        Apple,
        125,
        "/Applications/Firefox.app",
        "",
    ),
    software(
        "microsoft",
        "office",
        Apple,
        16,
        "/Applications/Microsoft Word.app",
        "",
    ),
    software("zoom", "zoom", Apple, 5, "/Applications/zoom.us.app", ""),
];

const EXPLOITABILITY: &[(&str, u32)] = &[
    ("NoExploit", 70),
    ("ExploitIsPublic", 18),
    ("ExploitIsVerified", 8),
    ("ExploitIsInKit", 4),
];
const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEAKNESSES: &[&str] = &[
    "remote code execution",
    "elevation of privilege",
    "information disclosure",
    "denial of service",
    "security feature bypass",
    "spoofing",
];
const VECTORS: &[&str] = &[
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N",
];

/// One pool entry: a CVE (or `TVM-` advisory) and its catalog facts.
pub(crate) struct CveInfo {
    pub(crate) id: String,
    score: f64,
    year: u64,
    published: (u64, u64),
    software: &'static Software,
    weakness: &'static str,
    vector: &'static str,
    exploitability: &'static str,
}

fn severity_of(score: f64) -> &'static str {
    match score {
        s if s >= 9.0 => "Critical",
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    }
}

pub(crate) fn cve_info(seed: u64, index: u32) -> CveInfo {
    let mut draw = Draw::new(seed, &[tag::CVE, u64::from(index)]);
    let year = draw.between(2016, 2025);
    // Numbers grow with the index so ids never collide.
    let number = 10_000 + u64::from(index) * 7 + draw.below(7);
    let id = if index % 25 == 24 {
        format!("TVM-{year}-{index:04}")
    } else {
        format!("CVE-{year}-{number}")
    };
    let tenths = match draw.below(100) {
        0..=14 => draw.between(90, 100),
        15..=49 => draw.between(70, 89),
        50..=89 => draw.between(40, 69),
        _ => draw.between(1, 39),
    };
    CveInfo {
        id,
        score: tenths as f64 / 10.0,
        year,
        published: (draw.between(1, 12), draw.between(1, 28)),
        software: draw.pick(SOFTWARE),
        weakness: draw.pick::<&str>(WEAKNESSES),
        vector: draw.pick::<&str>(VECTORS),
        exploitability: draw.weighted::<&str>(EXPLOITABILITY),
    }
}

pub(crate) fn cve_id(seed: u64, index: u32) -> String {
    cve_info(seed, index).id
}

#[derive(Serialize)]
#[serde(untagged)]
enum Score {
    Number(f64),
    Text(String),
}

/// How a row spells upstream's fields, fixed per row.
struct Draft {
    id: String,
    software: &'static Software,
    version: String,
    cve_id: Option<String>,
    score: Option<Score>,
    severity: Option<String>,
    exploitability: &'static str,
    update: Option<(String, Option<String>, Option<String>)>,
    update_available: bool,
    disk_paths: Vec<String>,
    registry_paths: Vec<String>,
    /// How long before day 0 an initial slot was first seen.
    first_seen_nanos: u64,
    fraction: bool,
}

fn family_software(draw: &mut Draw, family: Family) -> &'static Software {
    let count = SOFTWARE
        .iter()
        .filter(|software| software.family == family)
        .count();
    let pick = draw.below(count as u64) as usize;
    SOFTWARE
        .iter()
        .filter(|software| software.family == family)
        .nth(pick)
        .unwrap_or(&SOFTWARE[0])
}

/// The score and severity spellings of a row about `cve`.
fn score_and_severity(draw: &mut Draw, cve: &CveInfo) -> (Option<Score>, Option<String>) {
    let score = match draw.below(100) {
        0..=79 => Some(Score::Number(cve.score)),
        80..=89 => Some(Score::Text(format!("{:.1}", cve.score))),
        90..=96 => None,
        _ => Some(Score::Number(11.0)),
    };
    let level = severity_of(cve.score);
    let severity = match draw.below(100) {
        0..=84 => Some(level.to_owned()),
        85..=89 => Some(level.to_lowercase()),
        90..=94 => Some(level.to_uppercase()),
        _ => None,
    };
    (score, severity)
}

fn paths(draw: &mut Draw, software: &Software) -> (Vec<String>, Vec<String>) {
    let disk = match draw.below(10) {
        0 => Vec::new(),
        1 => vec![
            software.disk.to_owned(),
            software
                .disk
                .replace("Program Files", "Program Files (x86)"),
        ],
        _ => vec![software.disk.to_owned()],
    };
    if software.registry.is_empty() {
        return (disk, Vec::new());
    }
    let registry = match draw.below(10) {
        0 | 1 => Vec::new(),
        2 | 3 => vec![software.registry.to_owned()],
        _ => vec![format!(r"HKEY_LOCAL_MACHINE\{}", software.registry)],
    };
    (disk, registry)
}

fn update(
    draw: &mut Draw,
    software: &Software,
) -> Option<(String, Option<String>, Option<String>)> {
    if draw.chance(0.35) {
        return None;
    }
    if software.family != Family::Windows {
        return Some((
            format!("Update {} to {}.0", software.name, software.major + 1),
            None,
            None,
        ));
    }
    let kb = format!("50{:05}", draw.below(100_000));
    let name = format!(
        "{} {} Security Updates",
        draw.pick(MONTHS),
        draw.between(2020, 2025)
    );
    let url = draw
        .chance(0.5)
        .then(|| format!("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{kb}"));
    Some((name, Some(kb), url))
}

fn draft(
    tenant: &SyntheticTenant,
    device_id: &str,
    position: u32,
    key: SlotKey,
    family: Family,
) -> Draft {
    let ordinal = tenant.ordinal(key);
    let mut draw = Draw::new(tenant.seed, &[tag::ROW, u64::from(position), ordinal]);
    let software = family_software(&mut draw, family);
    let version = format!(
        "{}.{}.{}.{}",
        software.major,
        draw.below(10),
        1000 + ordinal,
        draw.below(100)
    );
    let cve = (!draw.chance(0.06))
        .then(|| cve_info(tenant.seed, draw.below(u64::from(tenant.n_cves)) as u32));
    let (score, severity) = match &cve {
        Some(cve) => score_and_severity(&mut draw, cve),
        None => (None, None),
    };
    let (disk_paths, registry_paths) = paths(&mut draw, software);
    let update = update(&mut draw, software);
    let cve_id = cve.as_ref().map(|cve| cve.id.clone());
    let id = format!(
        "{device_id}_{}_{version}_{}_",
        software.name,
        cve_id.as_deref().unwrap_or("")
    );
    Draft {
        id,
        software,
        version,
        exploitability: cve.as_ref().map_or("NoExploit", |cve| cve.exploitability),
        cve_id,
        score,
        severity,
        update_available: update.is_some() && draw.chance(0.9),
        update,
        disk_paths,
        registry_paths,
        first_seen_nanos: draw.between(1, 500) * DAY_SECS as u64 * 1_000_000_000
            + draw.below(DAY_SECS as u64 * 1_000_000_000),
        fraction: draw.chance(0.5),
    }
}

/// The `id` of a row (tests compare paged ids with the generator's).
pub(crate) fn row_id(
    tenant: &SyntheticTenant,
    profile: &DeviceProfile,
    position: u32,
    key: SlotKey,
) -> String {
    draft(tenant, &profile.id, position, key, profile.platform.family).id
}

/// When a change event into `day` happened: within a second of the day's start.
pub(crate) fn event_time(
    seed: u64,
    position: u32,
    ordinal: u64,
    day: u32,
    day_start: Timestamp,
) -> Timestamp {
    let millis = Draw::new(
        seed,
        &[tag::EVENT, u64::from(position), ordinal, u64::from(day)],
    )
    .below(1000);
    clock::plus_millis(day_start, millis as i64)
}

/// Where one row is written from: its device and the sandbox's timeline.
pub(crate) struct RowContext<'a> {
    pub(crate) tenant: &'a SyntheticTenant,
    pub(crate) profile: &'a DeviceProfile,
    pub(crate) position: u32,
    /// Starts of days 0..=n, through every day this context writes.
    pub(crate) days: &'a [Timestamp],
}

impl RowContext<'_> {
    fn day_start(&self, day: u32) -> Timestamp {
        let start = self.days.get(day as usize).or(self.days.last());
        start.copied().unwrap_or_else(Timestamp::now)
    }

    /// Writes the full-export row of `key` on `day`.
    pub(crate) fn write_row(&self, out: &mut Vec<u8>, key: SlotKey, day: u32) {
        let row = draft(
            self.tenant,
            &self.profile.id,
            self.position,
            key,
            self.profile.platform.family,
        );
        let reference = format!("va-_-{}-_-{}", row.software.vendor, row.software.name);
        let record = self.record(&row, &reference, key, day);
        write_json(out, &record);
    }

    /// Writes the delta row of a change of `key` into `day`. A `Fixed` row
    /// shows the slot as it was on its last live day.
    pub(crate) fn write_change(
        &self,
        out: &mut Vec<u8>,
        key: SlotKey,
        day: u32,
        status: ChangeStatus,
    ) {
        let row = draft(
            self.tenant,
            &self.profile.id,
            self.position,
            key,
            self.profile.platform.family,
        );
        let reference = format!("va-_-{}-_-{}", row.software.vendor, row.software.name);
        let snapshot_day = match status {
            ChangeStatus::Fixed => day.saturating_sub(1),
            ChangeStatus::New | ChangeStatus::Updated => day,
        };
        let mut record = self.record(&row, &reference, key, snapshot_day);
        let ordinal = self.tenant.ordinal(key);
        let at = event_time(
            self.tenant.seed,
            self.position,
            ordinal,
            day,
            self.day_start(day),
        );
        let keys = [
            tag::EVENT,
            u64::from(self.position),
            ordinal,
            u64::from(day),
            1,
        ];
        let iso = Draw::new(self.tenant.seed, &keys).chance(0.2);
        record.status = Some(status.as_str());
        record.event_timestamp = Some(if iso {
            clock::iso(at, 3)
        } else {
            clock::spaced(at, true)
        });
        record.is_onboarded = Some(self.profile.is_onboarded());
        write_json(out, &record);
    }

    fn record<'r>(
        &'r self,
        row: &'r Draft,
        reference: &'r str,
        key: SlotKey,
        day: u32,
    ) -> VulnRecord<'r> {
        let (tenant, profile) = (self.tenant, self.profile);
        let ordinal = tenant.ordinal(key);

        // First seen: before day 0 for initial slots, when it appeared otherwise.
        let added_on = SyntheticTenant::added_on(key);
        let first_seen = if added_on > 0 {
            event_time(
                tenant.seed,
                self.position,
                ordinal,
                added_on,
                self.day_start(added_on),
            )
        } else {
            clock::minus_nanos(self.day_start(0), row.first_seen_nanos)
        };
        let keys = [
            tag::ROW_DAY,
            u64::from(self.position),
            ordinal,
            u64::from(day),
        ];
        let age_nanos = Draw::new(tenant.seed, &keys).below(DAY_SECS as u64 * 1_000_000_000);
        let last_seen = clock::minus_nanos(self.day_start(day), age_nanos).max(first_seen);
        let update = row.update.as_ref();
        VulnRecord {
            id: &row.id,
            device_id: &profile.id,
            rbac_group_name: profile.export_group_name(),
            device_name: profile.device_name(),
            os_platform: profile.platform.name,
            os_version: profile.platform.kernel,
            os_architecture: "x64",
            software_vendor: row.software.vendor,
            software_name: row.software.name,
            software_version: &row.version,
            cve_id: row.cve_id.as_deref(),
            cvss_score: row.score.as_ref(),
            vulnerability_severity_level: row.severity.as_deref(),
            recommended_security_update: update.map(|update| update.0.as_str()),
            recommended_security_update_id: update.and_then(|update| update.1.as_deref()),
            recommended_security_update_url: update.and_then(|update| update.2.as_deref()),
            security_update_available: row.update_available,
            exploitability_level: row.exploitability,
            disk_paths: &row.disk_paths,
            registry_paths: &row.registry_paths,
            first_seen_timestamp: clock::spaced(first_seen, row.fraction),
            last_seen_timestamp: clock::spaced(last_seen, row.fraction),
            recommendation_reference: reference,
            status: None,
            event_timestamp: None,
            is_onboarded: None,
        }
    }
}

fn write_json<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Writing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VulnRecord<'a> {
    id: &'a str,
    device_id: &'a str,
    rbac_group_name: &'a str,
    device_name: &'a str,
    os_platform: &'a str,
    os_version: &'a str,
    os_architecture: &'a str,
    software_vendor: &'a str,
    software_name: &'a str,
    software_version: &'a str,
    cve_id: Option<&'a str>,
    cvss_score: Option<&'a Score>,
    vulnerability_severity_level: Option<&'a str>,
    recommended_security_update: Option<&'a str>,
    recommended_security_update_id: Option<&'a str>,
    recommended_security_update_url: Option<&'a str>,
    security_update_available: bool,
    exploitability_level: &'a str,
    disk_paths: &'a [String],
    registry_paths: &'a [String],
    first_seen_timestamp: String,
    last_seen_timestamp: String,
    recommendation_reference: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_onboarded: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CatalogRecord<'a> {
    id: &'a str,
    name: &'a str,
    description: String,
    severity: &'a str,
    cvss_v3: f64,
    cvss_vector: &'a str,
    exposed_machines: u64,
    published_on: String,
    updated_on: String,
    first_detected: String,
    public_exploit: bool,
    exploit_verified: bool,
    exploit_in_kit: bool,
    exploit_types: Vec<&'a str>,
    exploit_uris: Vec<String>,
    cve_supportability: &'a str,
}

/// Writes catalog entry `index` of the tenant's CVE pool.
pub(crate) fn write_catalog_record(out: &mut Vec<u8>, tenant: &SyntheticTenant, index: u32) {
    let cve = cve_info(tenant.seed, index);
    let (month, day) = cve.published;
    let exploit = cve.exploitability;
    let product = format!(
        "{} {}",
        cve.software.vendor,
        cve.software.name.replace('_', " ")
    );
    let exposed = Draw::new(tenant.seed, &[tag::CVE, u64::from(index), 1])
        .below(u64::from(tenant.n_devices) + 1);
    let record = CatalogRecord {
        id: &cve.id,
        name: &cve.id,
        description: format!(
            "A {} vulnerability exists in {product}. An attacker who exploited it could \
             affect the device.",
            cve.weakness
        ),
        severity: severity_of(cve.score),
        cvss_v3: cve.score,
        cvss_vector: cve.vector,
        exposed_machines: exposed,
        published_on: format!("{}-{month:02}-{day:02}T00:00:00Z", cve.year),
        // A month after publication (January of the next year for December).
        updated_on: format!(
            "{}-{:02}-{day:02}T00:00:00Z",
            cve.year + month / 12,
            month % 12 + 1
        ),
        first_detected: format!("{}-{month:02}-{day:02}T08:00:00Z", cve.year),
        public_exploit: exploit != "NoExploit",
        exploit_verified: matches!(exploit, "ExploitIsVerified" | "ExploitIsInKit"),
        exploit_in_kit: exploit == "ExploitIsInKit",
        exploit_types: if exploit == "NoExploit" {
            Vec::new()
        } else {
            vec!["RemoteCodeExecution"]
        },
        exploit_uris: Vec::new(),
        cve_supportability: if cve.id.starts_with("TVM-") {
            "NotSupported"
        } else {
            "Supported"
        },
    };
    write_json(out, &record);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::records::DeviceProfile;

    fn rows(tenant: &SyntheticTenant, days: &[Timestamp]) -> Vec<serde_json::Value> {
        let day = days.len() as u32 - 1;
        let mut values = Vec::new();
        for position in 0..tenant.n_devices {
            let profile = DeviceProfile::generate(tenant.seed, position);
            let context = RowContext {
                tenant,
                profile: &profile,
                position,
                days,
            };
            for key in tenant.export_slots(position, day) {
                let mut out = Vec::new();
                context.write_row(&mut out, key, day);
                values.push(serde_json::from_slice(&out).expect("row JSON"));
            }
        }
        values
    }

    #[test]
    fn rows_carry_upstreams_value_shapes() {
        let tenant = SyntheticTenant::new(3, 150, 10);
        let start: Timestamp = "2025-03-01T12:00:00Z".parse().expect("timestamp");
        let values = rows(&tenant, &[start]);
        let seen = |field: &str, test: &dyn Fn(&serde_json::Value) -> bool| {
            values.iter().any(|row| test(&row[field]))
        };
        assert!(seen("cveId", &|v| v.is_null()));
        assert!(seen("cveId", &|v| v
            .as_str()
            .is_some_and(|id| id.starts_with("TVM-"))));
        assert!(seen("cvssScore", &|v| v.is_string()));
        assert!(seen("cvssScore", &|v| v.as_f64() == Some(11.0)));
        assert!(seen("vulnerabilitySeverityLevel", &|v| v
            .as_str()
            .is_some_and(|s| s == s.to_lowercase())));
        assert!(seen("recommendedSecurityUpdateUrl", &|v| v.is_null()));
        assert!(seen("lastSeenTimestamp", &|v| v
            .as_str()
            .is_some_and(|s| s.len() == 19)));
        assert!(seen("lastSeenTimestamp", &|v| v
            .as_str()
            .is_some_and(|s| s.len() == 27)));
        for row in &values {
            let id = row["id"].as_str().unwrap_or_default();
            let device = row["deviceId"].as_str().unwrap_or_default();
            assert!(id.starts_with(device) && id.ends_with('_'), "{id}");
            let first = row["firstSeenTimestamp"]
                .as_str()
                .and_then(clock::parse_loose);
            let last = row["lastSeenTimestamp"]
                .as_str()
                .and_then(clock::parse_loose);
            assert!(first.is_some() && first <= last);
        }
    }

    #[test]
    fn the_catalog_covers_every_cve_rows_use() {
        let tenant = SyntheticTenant::new(3, 40, 5);
        let start: Timestamp = "2025-03-01T12:00:00Z".parse().expect("timestamp");
        let catalog: std::collections::HashSet<String> = tenant.catalog_ids().into_iter().collect();
        assert_eq!(catalog.len(), tenant.n_cves as usize);
        for row in rows(&tenant, &[start]) {
            if let Some(id) = row["cveId"].as_str() {
                assert!(catalog.contains(id), "{id}");
            }
        }
        let mut out = Vec::new();
        write_catalog_record(&mut out, &tenant, 0);
        let record: serde_json::Value = serde_json::from_slice(&out).expect("catalog JSON");
        assert!(record["cvssV3"].is_f64() && record["cvssVector"].is_string());
        assert!(record["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty()));
    }
}
