//! Exporting an account's diagnostics: its state and timeline as JSON, never a token.

use crate::accounts::write_atomically;
use crate::core::{AppCore, not_found, now};
use crate::view::{CommandError, ErrorCode, TimelineEvent};

impl AppCore {
    /// Writes the account's diagnostics (state and timeline, no token) to a
    /// JSON file in the export directory; returns its path.
    pub fn export_diagnostics(&self, id: &str) -> Result<String, CommandError> {
        let view = self.inner.view.borrow().clone();
        let account = view
            .accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| not_found(id))?;
        let timeline = self.timeline_of(id)?;
        let mut account_json = serde_json::to_value(account)
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        account_json["timeline"] = serde_json::to_value(&timeline)
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        let report = serde_json::json!({
            "exportedAt": now(),
            "app": {"name": "vestibule-desktop", "version": view.version},
            "install": view.install,
            "viewPublishes": self.view_publishes(),
            "account": account_json,
        });
        let text = serde_json::to_vec_pretty(&report)
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        let path = self.inner.config.export_dir.join(format!(
            "vestibule-diagnostics-{}-{}.json",
            file_safe(&account.account),
            now()
        ));
        write_atomically(&path, &text)
            .map_err(|e| CommandError::new(ErrorCode::Storage, e.to_string()))?;
        self.timeline(
            id,
            TimelineEvent::Exported {
                path: path.display().to_string(),
            },
            format!("diagnostics exported to {}", path.display()),
        );
        Ok(path.display().to_string())
    }
}

/// An account name as a file-name part: letters, digits, `-` and `_`; the rest become `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
