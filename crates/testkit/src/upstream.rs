//! The adapter a connector implements to run the kit, and the simulated
//! upstream days the scenarios describe in connector-neutral terms: devices,
//! their status, when they were last seen and which vulnerabilities they
//! have. The adapter turns a day into its sandbox's fixture files.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};

/// What the kit needs from a connector: how to write one day of its upstream
/// as fixtures its sandbox serves with `--fixtures DIR`, and a few values of
/// its own vocabulary.
pub trait ConformanceUpstream {
    /// The connector's registered kind, e.g. `microsoft-tvm`.
    fn kind(&self) -> &'static str;

    /// Writes `day` into `dir` in the upstream's own record shapes. `dir`
    /// exists; it is the fixtures root for day 1 and `dayN/` for day N.
    fn write_day(&self, dir: &Path, day: &UpstreamDay) -> std::io::Result<()>;

    /// An upstream device status that keeps a device active.
    fn active_status(&self) -> &'static str;

    /// An upstream device status the kit lists in the instance's
    /// `remove_assets_with_status` (so one of the connector's
    /// `source_statuses`).
    fn removable_status(&self) -> &'static str;

    /// Every secret value in the connector `config` the sandbox handed out
    /// (`SandboxHandle::instance_config()`), such as a client secret. The
    /// kit proves none of them reaches a log or the store.
    fn secret_values(&self, config: &serde_json::Value) -> Vec<String>;
}

/// The upstream as one sync sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamDay {
    pub devices: Vec<DeviceSpec>,
}

/// One device and its current vulnerabilities. The connector must store it
/// as an asset whose id is `id`, with `status` as its `source_status` and
/// `last_seen` as its `last_observed`, and one finding per vulnerability
/// whose `asset_id` is `id` and whose `cves` (or `name`) holds the
/// vulnerability id.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    pub id: String,
    pub status: String,
    pub last_seen: Timestamp,
    /// Vulnerability ids such as `CVE-2024-0001`.
    pub vulnerabilities: Vec<String>,
}

/// The devices of the scenarios' first day: four devices, six findings,
/// one vulnerability on two devices.
pub(crate) fn first_day(active_status: &str, now: Timestamp) -> UpstreamDay {
    let vulnerabilities: [&[u32]; 4] = [&[1, 2], &[3], &[1, 4], &[5]];
    let devices = vulnerabilities
        .iter()
        .enumerate()
        .map(|(index, numbers)| DeviceSpec {
            id: device_id(index + 1),
            status: active_status.to_owned(),
            // Minutes apart, so every device has its own time.
            last_seen: now - SignedDuration::from_mins(60 + index as i64),
            vulnerabilities: numbers.iter().map(|n| cve(*n)).collect(),
        })
        .collect();
    UpstreamDay { devices }
}

/// The id of the kit's `number`th device: 40 hex digits, as many upstreams
/// shape a device id.
pub(crate) fn device_id(number: usize) -> String {
    format!("{:02x}", number % 256).repeat(20)
}

/// The kit's `number`th vulnerability id.
pub(crate) fn cve(number: u32) -> String {
    format!("CVE-2024-{number:04}")
}

impl UpstreamDay {
    pub(crate) fn device(&self, id: &str) -> Option<&DeviceSpec> {
        self.devices.iter().find(|device| device.id == id)
    }

    /// How many findings the day holds.
    pub(crate) fn n_findings(&self) -> u64 {
        let n: usize = self.devices.iter().map(|d| d.vulnerabilities.len()).sum();
        n as u64
    }

    /// The day without the device `id`.
    pub(crate) fn without_device(&self, id: &str) -> UpstreamDay {
        let devices = self.devices.iter().filter(|d| d.id != id).cloned();
        UpstreamDay {
            devices: devices.collect(),
        }
    }

    /// The day with only the device `id`.
    pub(crate) fn only_device(&self, id: &str) -> UpstreamDay {
        let devices = self.devices.iter().filter(|d| d.id == id).cloned();
        UpstreamDay {
            devices: devices.collect(),
        }
    }

    /// The day with `change` applied to the device `id`.
    pub(crate) fn changing(&self, id: &str, change: impl Fn(&mut DeviceSpec)) -> UpstreamDay {
        let mut day = self.clone();
        day.devices
            .iter_mut()
            .filter(|device| device.id == id)
            .for_each(change);
        day
    }

    /// The day without the vulnerability `cve` on the device `id`.
    pub(crate) fn without_vulnerability(&self, id: &str, cve: &str) -> UpstreamDay {
        self.changing(id, |device| device.vulnerabilities.retain(|v| v != cve))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_day_has_four_devices_and_six_findings() {
        let day = first_day("Active", Timestamp::UNIX_EPOCH);
        assert_eq!(day.devices.len(), 4);
        assert_eq!(day.n_findings(), 6);
        assert_eq!(day.devices[0].id, "01".repeat(20));
        assert_eq!(
            day.devices[2].vulnerabilities,
            ["CVE-2024-0001", "CVE-2024-0004"]
        );
    }

    #[test]
    fn day_edits_touch_only_their_device() {
        let day = first_day("Active", Timestamp::UNIX_EPOCH);
        let (first, third) = (device_id(1), device_id(3));

        assert_eq!(day.without_device(&third).devices.len(), 3);
        assert_eq!(day.only_device(&first).devices.len(), 1);
        let fixed = day.without_vulnerability(&first, &cve(2));
        assert_eq!(fixed.n_findings(), 5);
        assert_eq!(fixed.device(&third), day.device(&third));
        let inactive = day.changing(&third, |device| device.status = "Inactive".into());
        assert_eq!(
            inactive.device(&third).map(|d| d.status.as_str()),
            Some("Inactive")
        );
        assert_eq!(inactive.device(&first), day.device(&first));
    }
}
