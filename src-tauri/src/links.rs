//! `vestibule://login?…` links, from the OS: at start (the link is the only
//! argument) and from a second launch, which the single-instance guard hands
//! to this process. Each fills the login form and shows the window.

use tauri::{AppHandle, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;
use vestibule_app::AppCore;

fn open<R: Runtime>(app: &AppHandle<R>, core: &AppCore, link: &str) {
    match core.open_login_link(link) {
        Ok(()) => crate::tray::show_main(app),
        // Never the link itself in the log: a pasted link may carry a secret.
        Err(e) => tracing::warn!(code = ?e.code, field = ?e.field, "link not opened"),
    }
}

/// Opens the link the app was started with, and every later one.
pub fn install<R: Runtime>(app: &AppHandle<R>, core: &AppCore) {
    let links = app.deep_link();
    if let Ok(Some(urls)) = links.get_current() {
        for url in urls {
            open(app, core, url.as_str());
        }
    }
    let handle = app.clone();
    let core = core.clone();
    links.on_open_url(move |event| {
        for url in event.urls() {
            open(&handle, &core, url.as_str());
        }
    });
}
