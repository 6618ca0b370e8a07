//! The tray: an icon for the worst state of all accounts, and a menu with
//! each account (its state, *Retry now*, *Sign out*), *Show*, *Settings…*
//! and *Quit*, in the app's language. Rebuilt only when what it shows changes.

use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use vestibule_app::AppCore;
use vestibule_app::i18n::tr;
use vestibule_app::settings::Locale;
use vestibule_app::view::SessionView;
use vestibule_client::{NetState, Status};

/// What the tray icon shows: the worst of the accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrayLevel {
    /// Every account is online.
    Connected,
    /// Some account is trying to get back online.
    Reconnecting,
    /// Some account is offline, signed out or without a network (or there is none).
    Offline,
}

/// One account as the tray lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayAccount {
    /// The account id (for the menu's commands).
    pub id: String,
    /// "alice: connected".
    pub label: String,
    /// Whether *Retry now* can do something.
    pub can_retry: bool,
    /// Whether *Sign out* can do something.
    pub can_sign_out: bool,
}

/// Everything the tray shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayState {
    /// The icon.
    pub level: TrayLevel,
    /// The tooltip.
    pub tooltip: String,
    /// The accounts in the menu.
    pub accounts: Vec<TrayAccount>,
    /// The language it is in.
    pub locale: Locale,
}

fn level_of(status: Status, net: NetState) -> TrayLevel {
    match status {
        Status::Connected => TrayLevel::Connected,
        Status::Connecting | Status::Reconnecting if net == NetState::Disconnected => {
            TrayLevel::Offline
        }
        Status::Connecting | Status::Reconnecting => TrayLevel::Reconnecting,
        Status::SignedOut | Status::NeedsToken | Status::Idle | Status::Destroyed => {
            TrayLevel::Offline
        }
    }
}

fn status_key(status: Status, net: NetState) -> &'static str {
    match status {
        Status::Connecting | Status::Reconnecting if net == NetState::Disconnected => {
            "status.no_network"
        }
        Status::Connected => "status.connected",
        Status::Connecting => "status.connecting",
        Status::Reconnecting => "status.reconnecting",
        Status::SignedOut => "status.signed_out",
        Status::NeedsToken => "status.session_expired",
        Status::Idle | Status::Destroyed => "status.offline",
    }
}

/// The tray's state for a view, in `locale`.
pub fn tray_state(view: &SessionView, locale: Locale) -> TrayState {
    let accounts: Vec<(&str, &str, Status, NetState)> = view
        .accounts
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                a.account.as_str(),
                a.session.status,
                a.session.net_state,
            )
        })
        .collect();
    tray_state_of(&accounts, locale)
}

/// The tray's state for `(id, account, status, network)` of each account.
pub fn tray_state_of(accounts: &[(&str, &str, Status, NetState)], locale: Locale) -> TrayState {
    let level = accounts
        .iter()
        .map(|&(_, _, status, net)| level_of(status, net))
        .max()
        .unwrap_or(TrayLevel::Offline);
    let accounts: Vec<TrayAccount> = accounts
        .iter()
        .map(|&(id, account, status, net)| {
            let status_text = tr(locale, status_key(status, net), &[]);
            TrayAccount {
                id: id.to_owned(),
                label: tr(
                    locale,
                    "tray.account",
                    &[("account", account), ("status", &status_text)],
                ),
                can_retry: matches!(
                    status,
                    Status::Connecting | Status::Reconnecting | Status::Idle
                ),
                can_sign_out: !matches!(status, Status::Destroyed),
            }
        })
        .collect();
    let mut lines = vec!["Vestibule".to_owned()];
    if accounts.is_empty() {
        lines.push(tr(locale, "tray.no_accounts", &[]));
    }
    lines.extend(accounts.iter().map(|a| a.label.clone()));
    TrayState {
        level,
        tooltip: lines.join("\n"),
        accounts,
        locale,
    }
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

/// The menu for `state`. Item ids: `show`, `settings`, `quit`,
/// `retry:<account id>`, `signout:<account id>`.
fn menu<R: Runtime>(app: &AppHandle<R>, state: &TrayState) -> tauri::Result<Menu<R>> {
    let l = state.locale;
    let mut accounts = Vec::new();
    for account in &state.accounts {
        let retry = MenuItem::with_id(
            app,
            format!("retry:{}", account.id),
            tr(l, "tray.retry_now", &[]),
            account.can_retry,
            None::<&str>,
        )?;
        let sign_out = MenuItem::with_id(
            app,
            format!("signout:{}", account.id),
            tr(l, "tray.sign_out", &[]),
            account.can_sign_out,
            None::<&str>,
        )?;
        accounts.push(Submenu::with_items(
            app,
            &account.label,
            true,
            &[&retry, &sign_out],
        )?);
    }
    let none = MenuItem::with_id(
        app,
        "none",
        tr(l, "tray.no_accounts", &[]),
        false,
        None::<&str>,
    )?;
    let separator = PredefinedMenuItem::separator(app)?;
    let show = MenuItem::with_id(app, "show", tr(l, "tray.show", &[]), true, None::<&str>)?;
    let settings = MenuItem::with_id(
        app,
        "settings",
        tr(l, "tray.settings", &[]),
        true,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", tr(l, "tray.quit", &[]), true, None::<&str>)?;
    let mut items: Vec<&dyn IsMenuItem<R>> = Vec::new();
    if accounts.is_empty() {
        items.push(&none);
    }
    for account in &accounts {
        items.push(account);
    }
    items.extend([&separator as &dyn IsMenuItem<R>, &show, &settings, &quit]);
    Menu::with_items(app, &items)
}

/// What a menu item does.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let core = app.state::<AppCore>().inner().clone();
    match id {
        "show" => show_main(app),
        "settings" => {
            show_main(app);
            let _ = app.emit("vestibule://open-settings", ());
        }
        "quit" => app.exit(0),
        other => {
            if let Some(account) = other.strip_prefix("retry:") {
                if let Err(e) = core.retry_now(account) {
                    tracing::debug!(error = %e, "retry from the tray");
                }
            } else if let Some(account) = other.strip_prefix("signout:") {
                let account = account.to_owned();
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = core.logout(&account).await {
                        tracing::warn!(error = %e, "sign out from the tray");
                    }
                });
            }
        }
    }
}

/// Installs the tray icon and keeps it in step with the view and the language.
pub fn install<R: Runtime>(app: &AppHandle<R>, core: &AppCore) -> tauri::Result<()> {
    let first = tray_state(&core.view().borrow(), core.locale());
    let tray = TrayIconBuilder::with_id("status")
        .icon(icon(first.level)?)
        .tooltip(&first.tooltip)
        .menu(&menu(app, &first)?)
        .on_menu_event(|app, event| on_menu(app, event.id.as_ref()))
        .build(app)?;
    let mut views = core.view();
    let core = core.clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut shown = first;
        loop {
            if views.changed().await.is_err() {
                return;
            }
            let state = tray_state(&views.borrow_and_update(), core.locale());
            if state == shown {
                continue;
            }
            if state.level != shown.level
                && let Ok(image) = icon(state.level)
            {
                let _ = tray.set_icon(Some(image));
            }
            let _ = tray.set_tooltip(Some(&state.tooltip));
            if (&state.accounts, state.locale) != (&shown.accounts, shown.locale) {
                match menu(&app, &state) {
                    Ok(menu) => {
                        let _ = tray.set_menu(Some(menu));
                    }
                    Err(e) => tracing::warn!(error = %e, "tray menu not rebuilt"),
                }
            }
            shown = state;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_is_the_worst_state_of_all_accounts() {
        use NetState::{Connected as Up, Disconnected as Down};
        let level =
            |accounts: &[(&str, &str, Status, NetState)]| tray_state_of(accounts, Locale::En).level;
        assert_eq!(level(&[]), TrayLevel::Offline);
        assert_eq!(
            level(&[("a", "alice", Status::Connected, Up)]),
            TrayLevel::Connected
        );
        assert_eq!(
            level(&[
                ("a", "alice", Status::Connected, Up),
                ("b", "bob", Status::Reconnecting, Up)
            ]),
            TrayLevel::Reconnecting
        );
        assert_eq!(
            level(&[
                ("a", "alice", Status::Reconnecting, Up),
                ("b", "bob", Status::SignedOut, Up)
            ]),
            TrayLevel::Offline,
            "a signed-out account is worse than a reconnecting one"
        );
        assert_eq!(
            level(&[("a", "alice", Status::Reconnecting, Down)]),
            TrayLevel::Offline,
            "no network"
        );
    }

    #[test]
    fn the_menu_lists_each_account_with_its_state_in_the_apps_language() {
        let accounts = [
            ("a", "alice", Status::Connected, NetState::Connected),
            ("b", "bob", Status::Reconnecting, NetState::Disconnected),
        ];
        let en = tray_state_of(&accounts, Locale::En);
        assert_eq!(en.accounts[0].label, "alice: connected");
        assert_eq!(en.accounts[1].label, "bob: no network");
        assert!(!en.accounts[0].can_retry);
        assert!(en.accounts[1].can_retry);
        assert_eq!(en.tooltip, "Vestibule\nalice: connected\nbob: no network");
        let zh = tray_state_of(&accounts, Locale::ZhCn);
        assert_eq!(zh.accounts[0].label, "alice：已连接");
        assert_eq!(zh.accounts[1].label, "bob：网络不可用");
        let none = tray_state_of(&[], Locale::ZhCn);
        assert_eq!(none.tooltip, "Vestibule\n没有已登录的账号");
    }
}
