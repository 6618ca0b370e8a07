//! The person's settings (`settings.json` in the config directory): language,
//! theme, what closing the window does, which notifications to show, update
//! checks. Unknown or missing fields take their defaults, so an older or
//! newer file never stops the app from starting.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::accounts::{StorageError, write_atomically};
use crate::core::{AppCore, lock};
use crate::view::{CommandError, ErrorCode};

/// The settings file inside the config directory.
pub const SETTINGS_FILE: &str = "settings.json";

/// The language the app speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub enum Language {
    /// The OS's language (English unless it is Chinese).
    #[default]
    #[serde(rename = "system")]
    System,
    /// English.
    #[serde(rename = "en")]
    En,
    /// 简体中文.
    #[serde(rename = "zh-CN")]
    ZhCn,
}

/// The two languages the app has, once `System` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// English.
    En,
    /// 简体中文.
    ZhCn,
}

impl Locale {
    /// The BCP 47 tag (`en`, `zh-CN`).
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }

    /// The locale for an OS language tag (`zh_CN.UTF-8`, `zh-Hans`, `en-US`...).
    pub fn from_os(tag: Option<&str>) -> Self {
        match tag {
            Some(t) if t.to_ascii_lowercase().starts_with("zh") => Self::ZhCn,
            _ => Self::En,
        }
    }
}

impl Language {
    /// The locale to speak, with the OS's language for `System`.
    pub fn resolve(self, os: Option<&str>) -> Locale {
        match self {
            Self::System => Locale::from_os(os),
            Self::En => Locale::En,
            Self::ZhCn => Locale::ZhCn,
        }
    }
}

/// Light, dark, or as the OS says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Theme {
    /// As the OS says.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// What closing the main window does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum CloseAction {
    /// Hide the window; the app stays in the tray, connected.
    #[default]
    Tray,
    /// Quit the app.
    Quit,
}

/// Everything the person can set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The language.
    pub language: Language,
    /// The theme.
    pub theme: Theme,
    /// What closing the window does.
    pub close_action: CloseAction,
    /// The "Vestibule is still running in the tray" notice was shown once.
    pub close_notice_shown: bool,
    /// An OS notification when an account is signed out remotely.
    pub notify_signed_out: bool,
    /// An OS notification when a new device signs in to an account.
    pub notify_new_sign_in: bool,
    /// Check for updates once a day.
    pub check_updates: bool,
    /// When updates were last checked (ms since the epoch).
    #[ts(type = "number | null")]
    pub last_update_check: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            language: Language::System,
            theme: Theme::System,
            close_action: CloseAction::Tray,
            close_notice_shown: false,
            notify_signed_out: true,
            notify_new_sign_in: true,
            check_updates: true,
            last_update_check: None,
        }
    }
}

/// A change to some settings (absent fields stay as they are).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
#[ts(optional_fields)]
pub struct SettingsUpdate {
    /// The language.
    pub language: Option<Language>,
    /// The theme.
    pub theme: Option<Theme>,
    /// What closing the window does.
    pub close_action: Option<CloseAction>,
    /// Notify on remote sign-outs.
    pub notify_signed_out: Option<bool>,
    /// Notify on new sign-ins.
    pub notify_new_sign_in: Option<bool>,
    /// Check for updates once a day.
    pub check_updates: Option<bool>,
}

impl Settings {
    /// Reads the settings; a missing file is the defaults, and so is one that
    /// cannot be read as settings (it is kept aside as `settings.json.bad`).
    pub fn load(config_dir: &Path) -> Self {
        let path = config_dir.join(SETTINGS_FILE);
        let Ok(bytes) = std::fs::read(&path) else {
            return Self::default();
        };
        match serde_json::from_slice(&bytes) {
            Ok(settings) => settings,
            Err(e) => {
                tracing::warn!(error = %e, "settings unreadable; starting from the defaults");
                let _ = std::fs::rename(&path, config_dir.join("settings.json.bad"));
                Self::default()
            }
        }
    }

    /// Writes the settings (atomically).
    pub fn save(&self, config_dir: &Path) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        write_atomically(&config_dir.join(SETTINGS_FILE), &bytes)
    }

    /// `update` applied.
    pub fn with(mut self, update: SettingsUpdate) -> Self {
        let SettingsUpdate {
            language,
            theme,
            close_action,
            notify_signed_out,
            notify_new_sign_in,
            check_updates,
        } = update;
        self.language = language.unwrap_or(self.language);
        self.theme = theme.unwrap_or(self.theme);
        self.close_action = close_action.unwrap_or(self.close_action);
        self.notify_signed_out = notify_signed_out.unwrap_or(self.notify_signed_out);
        self.notify_new_sign_in = notify_new_sign_in.unwrap_or(self.notify_new_sign_in);
        self.check_updates = check_updates.unwrap_or(self.check_updates);
        self
    }
}

impl AppCore {
    /// The current settings.
    pub fn settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    /// Changes settings, saves them and publishes the view.
    pub fn update_settings(&self, update: SettingsUpdate) -> Result<Settings, CommandError> {
        self.change_settings(|s| s.with(update))
    }

    /// Changes settings with `f`, saves them and publishes the view.
    pub fn change_settings(
        &self,
        f: impl FnOnce(Settings) -> Settings,
    ) -> Result<Settings, CommandError> {
        let next = {
            let mut settings = lock(&self.inner.settings);
            let next = f(settings.clone());
            next.save(&self.inner.config.config_dir)
                .map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))?;
            *settings = next.clone();
            next
        };
        self.publish();
        Ok(next)
    }

    /// The locale the app speaks now.
    pub fn locale(&self) -> Locale {
        self.settings()
            .language
            .resolve(self.inner.config.os_locale.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_unknown_fields_are_ignored() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(Settings::load(dir.path()), Settings::default());
        let changed = Settings::default().with(SettingsUpdate {
            language: Some(Language::ZhCn),
            theme: Some(Theme::Dark),
            close_action: Some(CloseAction::Quit),
            notify_new_sign_in: Some(false),
            ..SettingsUpdate::default()
        });
        changed.save(dir.path()).expect("save");
        assert_eq!(Settings::load(dir.path()), changed);

        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            r#"{"language":"zh-CN","fromTheFuture":{"x":1}}"#,
        )
        .expect("write");
        let read = Settings::load(dir.path());
        assert_eq!(read.language, Language::ZhCn);
        assert_eq!(read.theme, Theme::System, "missing fields are the defaults");
    }

    #[test]
    fn an_unreadable_file_is_set_aside_and_the_defaults_used() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(SETTINGS_FILE), b"{ not json").expect("write");
        assert_eq!(Settings::load(dir.path()), Settings::default());
        assert!(dir.path().join("settings.json.bad").exists());
    }

    #[test]
    fn the_system_language_is_chinese_only_when_the_os_says_so() {
        assert_eq!(Language::System.resolve(Some("zh_CN.UTF-8")), Locale::ZhCn);
        assert_eq!(Language::System.resolve(Some("zh-Hans-CN")), Locale::ZhCn);
        assert_eq!(Language::System.resolve(Some("en-US")), Locale::En);
        assert_eq!(Language::System.resolve(Some("de-DE")), Locale::En);
        assert_eq!(Language::System.resolve(None), Locale::En);
        assert_eq!(Language::ZhCn.resolve(Some("en-US")), Locale::ZhCn);
        assert_eq!(Language::En.resolve(Some("zh-CN")), Locale::En);
    }
}
