//! The tray icon: connected / reconnecting / offline, with a menu to show
//! the window or quit.

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use vestibule_app::AppCore;
use vestibule_app::view::SessionView;
use vestibule_client::Status;

/// What the tray shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayLevel {
    /// Every account that should be online is.
    Connected,
    /// Some account is trying to get back online.
    Reconnecting,
    /// No account is online.
    Offline,
}

/// The tray's level and tooltip for a view.
pub fn tray_state(view: &SessionView) -> (TrayLevel, String) {
    let trying = |s: Status| matches!(s, Status::Connecting | Status::Reconnecting);
    let level = if view.accounts.iter().any(|a| trying(a.session.status)) {
        TrayLevel::Reconnecting
    } else if view
        .accounts
        .iter()
        .any(|a| a.session.status == Status::Connected)
    {
        TrayLevel::Connected
    } else {
        TrayLevel::Offline
    };
    let mut lines = vec!["Vestibule".to_owned()];
    for account in &view.accounts {
        let no_network = account.session.net_state == vestibule_client::NetState::Disconnected;
        let status = match account.session.status {
            Status::Connecting | Status::Reconnecting if no_network => "no network",
            Status::Connected => "connected",
            Status::Connecting => "connecting",
            Status::Reconnecting => "reconnecting",
            Status::SignedOut => "signed out",
            Status::NeedsToken => "session expired",
            Status::Idle | Status::Destroyed => "offline",
        };
        lines.push(format!("{}: {status}", account.account));
    }
    (level, lines.join("\n"))
}

fn icon(level: TrayLevel) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match level {
        TrayLevel::Connected => include_bytes!("../../icons/tray-connected.png"),
        TrayLevel::Reconnecting => include_bytes!("../../icons/tray-reconnecting.png"),
        TrayLevel::Offline => include_bytes!("../../icons/tray-offline.png"),
    };
    Image::from_bytes(bytes)
}

/// Shows and focuses the main window.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Installs the tray icon and keeps it in step with the view.
pub fn install<R: Runtime>(app: &AppHandle<R>, core: &AppCore) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Vestibule", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &quit])?;
    let tray = TrayIconBuilder::with_id("status")
        .icon(icon(TrayLevel::Offline)?)
        .tooltip("Vestibule")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "show" => show_main(app),
            "quit" => app.exit(0),
            _ => {}
        })
        .build(app)?;
    let mut views = core.view();
    tauri::async_runtime::spawn(async move {
        let mut shown: Option<(TrayLevel, String)> = None;
        loop {
            let state = tray_state(&views.borrow_and_update());
            if shown.as_ref() != Some(&state) {
                if shown.as_ref().map(|s| s.0) != Some(state.0)
                    && let Ok(image) = icon(state.0)
                {
                    let _ = tray.set_icon(Some(image));
                }
                let _ = tray.set_tooltip(Some(&state.1));
                shown = Some(state);
            }
            if views.changed().await.is_err() {
                return;
            }
        }
    });
    Ok(())
}
