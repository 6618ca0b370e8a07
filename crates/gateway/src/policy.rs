//! Per-app multi-device policy (NIM's console modes, TIM's web-instance count)
//! and the pure function that applies it to a login.

use serde::{Deserialize, Serialize};
use vestibule_protocol::{Code, DeviceType, KickReason, UnixMillis};

/// Which devices of one account may be online together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "mode",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PolicyMode {
    /// One device at all.
    Single,
    /// One desktop-class device (PC, Mac, Web) and one mobile (Android, iOS).
    DesktopMobile,
    /// One device per type (the default).
    PerType,
    /// Any devices, up to `max_devices`.
    All {
        /// The most devices online at once.
        max_devices: u32,
    },
}

/// What happens when a login conflicts with the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnConflict {
    /// The older sessions are kicked (`loginElsewhere` / `instanceLimit`).
    #[default]
    KickOld,
    /// The new login is refused (417 for a type conflict, 419 over a limit).
    RejectNew,
}

/// An app's device policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevicePolicy {
    /// Which devices may coexist.
    #[serde(flatten)]
    pub mode: PolicyMode,
    /// How many Web sessions may be online at once (TIM's web-instance count), in every mode.
    #[serde(default = "one")]
    pub max_web_instances: u32,
    /// Kick the old sessions or refuse the new one.
    #[serde(default)]
    pub on_conflict: OnConflict,
    /// A session younger than this many seconds may not kick other devices
    /// (nor take over this device while it is online).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_session_guard_secs: Option<u64>,
    /// A device session unused this many days ends (0: never). Like WhatsApp
    /// and Signal, 30 by default.
    #[serde(default = "thirty")]
    pub session_idle_days: u32,
}

fn thirty() -> u32 {
    30
}

fn one() -> u32 {
    1
}

impl Default for DevicePolicy {
    fn default() -> Self {
        Self {
            mode: PolicyMode::PerType,
            max_web_instances: 1,
            on_conflict: OnConflict::KickOld,
            fresh_session_guard_secs: None,
            session_idle_days: 30,
        }
    }
}

/// Why a policy was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not a JSON object.
    #[error("a policy is a JSON object")]
    NotAnObject,
    /// A field this gateway does not know (a typo would otherwise be a silent default).
    #[error("unknown policy field {field:?}; known: {}", PolicyError::KNOWN.join(", "))]
    UnknownField {
        /// The field.
        field: String,
    },
    /// `maxDevices` with a mode other than `all`.
    #[error("maxDevices applies only to mode \"all\"")]
    MaxDevicesWithoutAll,
    /// A count outside what the gateway allows.
    #[error("{field} must be {min}–{max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The JSON does not describe a policy (wrong types, unknown mode...).
    #[error("{0}")]
    Invalid(#[from] serde_json::Error),
}

impl PolicyError {
    const KNOWN: [&'static str; 6] = [
        "mode",
        "maxDevices",
        "maxWebInstances",
        "onConflict",
        "freshSessionGuardSecs",
        "sessionIdleDays",
    ];
}

impl DevicePolicy {
    /// Rejects policies that could never let anyone in.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let max = vestibule_protocol::limits::MAX_DEVICES_PER_ACCOUNT;
        if !(1..=max).contains(&self.max_web_instances) {
            return Err(PolicyError::OutOfRange {
                field: "maxWebInstances",
                min: 1,
                max,
            });
        }
        if self.session_idle_days > 3650 {
            return Err(PolicyError::OutOfRange {
                field: "sessionIdleDays",
                min: 0,
                max: 3650,
            });
        }
        if let PolicyMode::All { max_devices } = self.mode
            && !(1..=max).contains(&max_devices)
        {
            return Err(PolicyError::OutOfRange {
                field: "maxDevices",
                min: 1,
                max,
            });
        }
        Ok(())
    }

    /// Parses a policy from JSON, refusing unknown fields (serde cannot with
    /// the flattened mode), so a typo is an error rather than a silent default.
    pub fn from_json(value: serde_json::Value) -> Result<Self, PolicyError> {
        let Some(object) = value.as_object() else {
            return Err(PolicyError::NotAnObject);
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !PolicyError::KNOWN.contains(&k.as_str()))
        {
            return Err(PolicyError::UnknownField {
                field: unknown.clone(),
            });
        }
        if object.contains_key("maxDevices")
            && object.get("mode").and_then(|m| m.as_str()) != Some("all")
        {
            return Err(PolicyError::MaxDevicesWithoutAll);
        }
        let policy: Self = serde_json::from_value(value)?;
        policy.validate()?;
        Ok(policy)
    }
}

/// What the policy needs to know about an online session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Present<'a> {
    /// The session's deviceId.
    pub device_id: &'a str,
    /// The session's device type.
    pub device_type: DeviceType,
    /// When it logged in.
    pub login_time: UnixMillis,
}

/// The policy's verdict on a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let it in.
    Accept {
        /// Index of a session of the same deviceId, replaced silently.
        replace: Option<usize>,
        /// Indexes of sessions to kick, with the reason each one gets.
        evict: Vec<(usize, KickReason)>,
    },
    /// Refuse it with 417 or 419.
    Reject(Code),
}

fn type_conflict(mode: PolicyMode, a: DeviceType, b: DeviceType) -> bool {
    // Web tabs among themselves are governed by `max_web_instances` alone.
    let both_web = a == DeviceType::Web && b == DeviceType::Web;
    match mode {
        PolicyMode::Single => true,
        PolicyMode::DesktopMobile => !both_web && a.class() == b.class(),
        PolicyMode::PerType => !both_web && a == b,
        PolicyMode::All { .. } => false,
    }
}

/// Applies `policy` to a login of `device_id`/`device_type` while `present`
/// sessions are online. Pure: the registry (in-memory or Redis) carries out
/// the verdict atomically.
pub fn decide(
    policy: &DevicePolicy,
    present: &[Present<'_>],
    device_id: &str,
    device_type: DeviceType,
) -> Decision {
    let replace = present.iter().position(|p| p.device_id == device_id);
    // Oldest first, so count limits evict the longest-lived sessions.
    let mut others: Vec<usize> = (0..present.len()).filter(|&i| Some(i) != replace).collect();
    others.sort_by_key(|&i| (present[i].login_time, i));

    let mut evict: Vec<(usize, KickReason)> = Vec::new();
    let mut staying: Vec<usize> = Vec::new();
    for i in others {
        if type_conflict(policy.mode, present[i].device_type, device_type) {
            evict.push((i, KickReason::LoginElsewhere));
        } else {
            staying.push(i);
        }
    }
    if !evict.is_empty() && policy.on_conflict == OnConflict::RejectNew {
        return Decision::Reject(Code::DuplicateLogin);
    }

    let mut over_limit: Vec<usize> = Vec::new();
    if device_type == DeviceType::Web {
        let webs: Vec<usize> = staying
            .iter()
            .copied()
            .filter(|&i| present[i].device_type == DeviceType::Web)
            .collect();
        let allowed_old = policy.max_web_instances.saturating_sub(1) as usize;
        over_limit.extend(webs.iter().take(webs.len().saturating_sub(allowed_old)));
    }
    if let PolicyMode::All { max_devices } = policy.mode {
        let remaining: Vec<usize> = staying
            .iter()
            .copied()
            .filter(|i| !over_limit.contains(i))
            .collect();
        let allowed_old = max_devices.saturating_sub(1) as usize;
        over_limit.extend(
            remaining
                .iter()
                .take(remaining.len().saturating_sub(allowed_old)),
        );
    }
    if !over_limit.is_empty() {
        if policy.on_conflict == OnConflict::RejectNew {
            return Decision::Reject(Code::DeviceLimit);
        }
        evict.extend(
            over_limit
                .into_iter()
                .map(|i| (i, KickReason::InstanceLimit)),
        );
    }
    Decision::Accept { replace, evict }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceType::{Android, Ios, Mac, Pc, Web};

    fn present(list: &[(&'static str, DeviceType)]) -> Vec<Present<'static>> {
        list.iter()
            .enumerate()
            .map(|(i, &(device_id, device_type))| Present {
                device_id,
                device_type,
                login_time: 1000 + i as u64,
            })
            .collect()
    }

    fn policy(mode: PolicyMode) -> DevicePolicy {
        DevicePolicy {
            mode,
            ..DevicePolicy::default()
        }
    }

    fn accept(replace: Option<usize>, evict: &[(usize, KickReason)]) -> Decision {
        Decision::Accept {
            replace,
            evict: evict.to_vec(),
        }
    }

    use KickReason::{InstanceLimit, LoginElsewhere};

    #[test]
    fn out_of_range_errors_name_the_allowed_range() {
        let idle = |days| DevicePolicy {
            session_idle_days: days,
            ..DevicePolicy::default()
        };
        assert!(
            idle(0).validate().is_ok(),
            "0 days: sessions never idle out"
        );
        let e = idle(4000).validate().expect_err("too many days");
        assert_eq!(e.to_string(), "sessionIdleDays must be 0–3650");
        let web = DevicePolicy {
            max_web_instances: 0,
            ..DevicePolicy::default()
        };
        assert!(
            web.validate()
                .expect_err("no web")
                .to_string()
                .starts_with("maxWebInstances must be 1–")
        );
    }

    #[test]
    fn per_type_kicks_the_same_type_only() {
        let p = policy(PolicyMode::PerType);
        let on = present(&[("pc1", Pc), ("ios1", Ios), ("mac1", Mac)]);
        assert_eq!(
            decide(&p, &on, "pc2", Pc),
            accept(None, &[(0, LoginElsewhere)])
        );
        assert_eq!(decide(&p, &on, "and1", Android), accept(None, &[]));
        assert_eq!(decide(&p, &on, "web1", Web), accept(None, &[]));
    }

    #[test]
    fn same_device_id_is_replaced_not_kicked() {
        for mode in [
            PolicyMode::Single,
            PolicyMode::DesktopMobile,
            PolicyMode::PerType,
            PolicyMode::All { max_devices: 1 },
        ] {
            let on = present(&[("pc1", Pc)]);
            assert_eq!(
                decide(&policy(mode), &on, "pc1", Pc),
                accept(Some(0), &[]),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn single_allows_one_device_at_all() {
        let p = policy(PolicyMode::Single);
        let on = present(&[("pc1", Pc), ("ios1", Ios)]);
        assert_eq!(
            decide(&p, &on, "and1", Android),
            accept(None, &[(0, LoginElsewhere), (1, LoginElsewhere)])
        );
    }

    #[test]
    fn desktop_mobile_keeps_one_of_each_class() {
        let p = policy(PolicyMode::DesktopMobile);
        let on = present(&[("pc1", Pc), ("ios1", Ios)]);
        assert_eq!(
            decide(&p, &on, "mac1", Mac),
            accept(None, &[(0, LoginElsewhere)])
        );
        assert_eq!(
            decide(&p, &on, "web1", Web),
            accept(None, &[(0, LoginElsewhere)])
        );
        assert_eq!(
            decide(&p, &on, "and1", Android),
            accept(None, &[(1, LoginElsewhere)])
        );
    }

    #[test]
    fn web_instances_are_counted_in_every_mode() {
        let mut p = policy(PolicyMode::PerType);
        p.max_web_instances = 2;
        let on = present(&[("w1", Web), ("pc1", Pc), ("w2", Web)]);
        assert_eq!(
            decide(&p, &on, "w3", Web),
            accept(None, &[(0, InstanceLimit)])
        );
        p.max_web_instances = 3;
        assert_eq!(decide(&p, &on, "w3", Web), accept(None, &[]));
        p.max_web_instances = 1;
        assert_eq!(
            decide(&p, &on, "w3", Web),
            accept(None, &[(0, InstanceLimit), (2, InstanceLimit)])
        );
    }

    #[test]
    fn all_evicts_the_oldest_over_the_limit() {
        let p = policy(PolicyMode::All { max_devices: 3 });
        let on = present(&[("a", Pc), ("b", Pc), ("c", Ios)]);
        assert_eq!(
            decide(&p, &on, "d", Android),
            accept(None, &[(0, InstanceLimit)])
        );
        assert_eq!(decide(&p, &on, "b", Pc), accept(Some(1), &[]));
        let roomy = policy(PolicyMode::All { max_devices: 200 });
        assert_eq!(decide(&roomy, &on, "d", Pc), accept(None, &[]));
    }

    #[test]
    fn reject_new_refuses_with_417_or_419() {
        let mut p = policy(PolicyMode::PerType);
        p.on_conflict = OnConflict::RejectNew;
        let on = present(&[("pc1", Pc), ("w1", Web)]);
        assert_eq!(
            decide(&p, &on, "pc2", Pc),
            Decision::Reject(Code::DuplicateLogin)
        );
        assert_eq!(
            decide(&p, &on, "w2", Web),
            Decision::Reject(Code::DeviceLimit)
        );
        assert_eq!(decide(&p, &on, "pc1", Pc), accept(Some(0), &[]));
        p.mode = PolicyMode::All { max_devices: 2 };
        assert_eq!(
            decide(&p, &on, "x", Ios),
            Decision::Reject(Code::DeviceLimit)
        );
    }

    #[test]
    fn policy_json_is_flat_and_camel_case() {
        let p = DevicePolicy {
            mode: PolicyMode::All { max_devices: 200 },
            max_web_instances: 2,
            on_conflict: OnConflict::RejectNew,
            fresh_session_guard_secs: Some(30),
            session_idle_days: 7,
        };
        let json = serde_json::to_value(p).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"mode": "all", "maxDevices": 200, "maxWebInstances": 2,
                "onConflict": "rejectNew", "freshSessionGuardSecs": 30, "sessionIdleDays": 7})
        );
        let parsed: Result<DevicePolicy, _> = serde_json::from_str("{\"mode\":\"perType\"}");
        assert_eq!(parsed.ok(), Some(DevicePolicy::default()));
        assert!(serde_json::from_str::<DevicePolicy>("{\"mode\":\"all\"}").is_err());
        let typo =
            DevicePolicy::from_json(serde_json::json!({"mode": "perType", "maxWebInstance": 3}));
        assert!(typo.is_err_and(|e| e.to_string().contains("maxWebInstance")));
        let too_many =
            DevicePolicy::from_json(serde_json::json!({"mode": "all", "maxDevices": 100_000}));
        assert!(too_many.is_err_and(|e| e.to_string().contains("maxDevices")));
        let ok = DevicePolicy::from_json(
            serde_json::json!({"mode": "all", "maxDevices": 3, "onConflict": "rejectNew"}),
        );
        assert!(ok.is_ok());
    }
}
