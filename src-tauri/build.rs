//! Declares the app's commands so Tauri generates one `allow-<command>`
//! permission each; `capabilities/default.json` grants exactly these.

const COMMANDS: &[&str] = &[
    "subscribe",
    "subscribe_timeline",
    "login",
    "login_demo",
    "logout",
    "kick",
    "kick_others",
    "rename_device",
    "start_pairing",
    "cancel_pairing",
    "lookup_pair",
    "approve_pair",
    "retry_now",
    "switch_account",
    "forget_account",
    "start_demo",
    "demo_add_device",
    "demo_kick_me",
    "export_diagnostics",
    "update_settings",
    "about",
    "open_folder",
    "autostart",
    "set_autostart",
    "update_status",
    "check_for_updates",
    "install_update",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .unwrap_or_else(|e| panic!("tauri-build failed: {e:#}"));
}
