//! The [`SessionView`] the UI renders, projected from the core's state. It is
//! rebuilt and published (only when it changed) after each change.

use crate::core::{AppCore, lock};
use crate::view::{AccountView, InstallView, KeychainView, LoginDefaults, SessionView};

/// The view before anything is loaded.
pub(crate) fn initial(
    keychain: &KeychainView,
    install: &InstallView,
    settings: &crate::settings::Settings,
) -> SessionView {
    SessionView {
        accounts: Vec::new(),
        active: None,
        demo: None,
        keychain: keychain.clone(),
        defaults: LoginDefaults::default(),
        install: install.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pairing: None,
        settings: settings.clone(),
    }
}

impl AppCore {
    /// Rebuilds the view from the accounts and publishes it if it changed.
    pub(crate) fn publish(&self) {
        // Before a view can show an ended session's login page.
        self.forget_ended_sessions();
        let state = lock(&self.inner.state);
        let accounts: Vec<AccountView> = state
            .accounts
            .iter()
            .map(|a| AccountView {
                id: a.id.clone(),
                url: a.url.clone(),
                app_key: a.app_key.clone(),
                account: a.account.clone(),
                remembered: a.remembered,
                demo: a.demo,
                proxy: crate::core::proxy_text(&a.proxy),
                session: a.client.snapshot(),
                demo_devices: a.demo_devices.clone(),
            })
            .collect();
        let active = state.active.clone();
        drop(state);
        let demo = lock(&self.inner.demo_view).clone();
        let link = lock(&self.inner.link_prefill).clone();
        let defaults = if let Some((seq, link)) = link {
            LoginDefaults {
                url: link.url,
                app_key: link.app_key,
                account: link.account,
                from_link: seq,
            }
        } else {
            let store = lock(&self.inner.store);
            match (store.last_used(), &demo) {
                (Some(last), _) => LoginDefaults {
                    url: last.url.clone(),
                    app_key: last.app_key.clone(),
                    account: last.account.clone(),
                    from_link: 0,
                },
                (None, Some(demo)) => LoginDefaults {
                    url: demo.url.clone(),
                    app_key: demo.app_key.clone(),
                    account: String::new(),
                    from_link: 0,
                },
                (None, None) => LoginDefaults::default(),
            }
        };
        let next = SessionView {
            accounts,
            active,
            demo,
            keychain: self.inner.keychain.clone(),
            defaults,
            install: self.inner.install.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pairing: lock(&self.inner.pairing).as_ref().map(|p| p.view.clone()),
            settings: self.settings(),
        };
        let sent = self.inner.view.send_if_modified(|view| {
            if *view == next {
                false
            } else {
                *view = next;
                true
            }
        });
        if sent {
            self.inner
                .publishes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
