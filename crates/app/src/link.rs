//! `vestibule://login?server=…&appKey=…&account=…` links: they fill the login
//! form. A link never carries a token — one that does is refused whole, so a
//! token pasted into a link is never kept or used.

use crate::core::{AppCore, lock};
use crate::view::CommandError;

/// What a login link fills in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginLink {
    /// The gateway (`ws://` or `wss://`).
    pub url: String,
    /// The app.
    pub app_key: String,
    /// The account (may be empty).
    pub account: String,
}

/// Reads a login link.
pub fn parse_login_link(link: &str) -> Result<LoginLink, CommandError> {
    let bad = |detail: &str| CommandError::invalid("link", detail.to_owned());
    let url = url::Url::parse(link.trim()).map_err(|_| bad("not a link"))?;
    if url.scheme() != "vestibule" || url.host_str() != Some("login") {
        return Err(bad("not a vestibule://login link"));
    }
    let mut out = LoginLink {
        url: String::new(),
        app_key: String::new(),
        account: String::new(),
    };
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "server" => out.url = value.trim().to_owned(),
            "appKey" => out.app_key = value.trim().to_owned(),
            "account" => out.account = value.trim().to_owned(),
            "token" | "sessionToken" | "password" => {
                return Err(bad("a link never carries a token"));
            }
            _ => {}
        }
    }
    if !url::Url::parse(&out.url).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss")) {
        return Err(CommandError::invalid(
            "server",
            "the link's server is not a ws:// or wss:// URL",
        ));
    }
    if out.app_key.is_empty() {
        return Err(CommandError::required("appKey"));
    }
    Ok(out)
}

impl AppCore {
    /// Opens the login form filled from a link (as *Add account* would).
    pub fn open_login_link(&self, link: &str) -> Result<(), CommandError> {
        let parsed = parse_login_link(link)?;
        {
            let mut prefill = lock(&self.inner.link_prefill);
            let seq = prefill.as_ref().map_or(1, |(seq, _)| seq + 1);
            *prefill = Some((seq, parsed));
        }
        lock(&self.inner.state).active = None;
        self.publish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_link_fills_server_app_key_and_account() {
        let link = parse_login_link(
            "vestibule://login?server=wss%3A%2F%2Fim.example.com%2Fws&appKey=demo&account=alice",
        )
        .expect("a link");
        assert_eq!(
            link,
            LoginLink {
                url: "wss://im.example.com/ws".into(),
                app_key: "demo".into(),
                account: "alice".into(),
            }
        );
        let no_account =
            parse_login_link("vestibule://login?server=ws://127.0.0.1:1&appKey=demo&utm=x")
                .expect("no account is fine");
        assert_eq!(no_account.account, "");
    }

    #[test]
    fn links_with_a_token_or_a_bad_server_are_refused() {
        let err = parse_login_link("vestibule://login?server=ws://h&appKey=demo&token=secret")
            .expect_err("a token");
        assert!(!err.detail.contains("secret"));
        assert_eq!(err.field.as_deref(), Some("link"));
        let err =
            parse_login_link("vestibule://login?server=http://h&appKey=demo").expect_err("not ws");
        assert_eq!(err.field.as_deref(), Some("server"));
        let err = parse_login_link("vestibule://login?server=ws://h").expect_err("no appKey");
        assert_eq!(err.field.as_deref(), Some("appKey"));
        assert!(parse_login_link("vestibule://pair?code=ABCD").is_err());
        assert!(parse_login_link("https://login?server=ws://h&appKey=d").is_err());
    }
}
