//! The one sentence for how a connection ended, shared by every front end
//! (the CLI's lines, the desktop's login page, timeline and notifications).

use std::fmt;

use vestibule_protocol::Code;

use crate::model::{DisconnectInfo, DisconnectReason};

impl fmt::Display for DisconnectInfo {
    /// "signed out by phone-1 (iOS, iOS 18, 10.0.0.2): signed out by another of
    /// your devices", "login refused (302): wrong account or token (token expired)"...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            DisconnectReason::Kicked { reason } => {
                f.write_str("signed out")?;
                if let Some(by) = &self.by {
                    write!(f, " by {by}")?;
                }
                write!(f, ": {}", reason.describe())
            }
            // A session that had ended while this device was away: who and why
            // (the front end adds when, in the person's locale).
            DisconnectReason::Rejected { .. } if self.ended.is_some() => {
                let ended = self.ended.as_ref().map(|e| e.reason);
                f.write_str("signed out")?;
                if let Some(by) = &self.by {
                    write!(f, " by {by}")?;
                }
                if let Some(reason) = ended {
                    write!(f, ": {}", reason.describe())?;
                }
                Ok(())
            }
            DisconnectReason::Rejected { code } => {
                let described = Code::from_u16(*code).describe();
                write!(f, "login refused ({code}): {described}")?;
                if !self.message.is_empty() && self.message != described {
                    write!(f, " ({})", self.message)?;
                }
                Ok(())
            }
            DisconnectReason::Replaced => {
                f.write_str("signed out: this device logged in again elsewhere")
            }
            DisconnectReason::LoggedOut => f.write_str("logged out"),
            DisconnectReason::Destroyed => f.write_str("closed"),
            DisconnectReason::Lost {
                close_code: Some(close),
            } => write!(f, "connection lost (close {close}): {}", self.message),
            DisconnectReason::Lost { close_code: None } => {
                write!(f, "connection lost: {}", self.message)
            }
            DisconnectReason::Timeout => write!(f, "timed out: {}", self.message),
            DisconnectReason::NoNetwork => {
                f.write_str("no network: reconnecting as soon as it is back")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vestibule_protocol::{DeviceType, KickReason, KickedBy};

    use super::*;

    fn info(reason: DisconnectReason, message: &str, by: Option<KickedBy>) -> DisconnectInfo {
        DisconnectInfo {
            code: None,
            reason,
            message: message.into(),
            by,
            ended: None,
            at: 0,
            will_reconnect: false,
        }
    }

    #[test]
    fn every_reason_reads_as_a_sentence() {
        let phone = KickedBy {
            device_id: "phone-1".into(),
            device_type: DeviceType::Ios,
            os: "iOS 18".into(),
            ip: "10.0.0.2".into(),
        };
        let rows = [
            (
                info(
                    DisconnectReason::Kicked {
                        reason: KickReason::ByDevice,
                    },
                    "bye",
                    Some(phone),
                ),
                "signed out by phone-1 (iOS, iOS 18, 10.0.0.2): signed out by another of your devices",
            ),
            (
                info(
                    DisconnectReason::Kicked {
                        reason: KickReason::TokenExpired,
                    },
                    "",
                    None,
                ),
                "signed out: your session expired",
            ),
            (
                info(
                    DisconnectReason::Rejected { code: 302 },
                    "token expired",
                    None,
                ),
                "login refused (302): wrong account or token (token expired)",
            ),
            (
                info(
                    DisconnectReason::Rejected { code: 302 },
                    "wrong account or token",
                    None,
                ),
                "login refused (302): wrong account or token",
            ),
            (
                DisconnectInfo {
                    ended: Some(vestibule_protocol::SessionEnd {
                        reason: vestibule_protocol::EndReason::ByDevice,
                        by: None,
                        at: 1,
                    }),
                    ..info(
                        DisconnectReason::Rejected { code: 420 },
                        "this device was signed out",
                        Some(KickedBy {
                            device_id: "iphone".into(),
                            device_type: DeviceType::Ios,
                            os: "iOS 17.5".into(),
                            ip: "203.0.113.24".into(),
                        }),
                    )
                },
                "signed out by iphone (iOS, iOS 17.5, 203.0.113.24): signed out by another of your devices",
            ),
            (
                info(DisconnectReason::Replaced, "", None),
                "signed out: this device logged in again elsewhere",
            ),
            (info(DisconnectReason::LoggedOut, "", None), "logged out"),
            (info(DisconnectReason::Destroyed, "", None), "closed"),
            (
                info(
                    DisconnectReason::Lost {
                        close_code: Some(1006),
                    },
                    "reset",
                    None,
                ),
                "connection lost (close 1006): reset",
            ),
            (
                info(DisconnectReason::Lost { close_code: None }, "reset", None),
                "connection lost: reset",
            ),
            (
                info(DisconnectReason::Timeout, "no pong", None),
                "timed out: no pong",
            ),
        ];
        for (info, want) in rows {
            assert_eq!(info.to_string(), want);
        }
    }
}
