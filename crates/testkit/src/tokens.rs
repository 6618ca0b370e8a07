//! The one secret every test and benchmark gateway is started with, and
//! login tokens signed with it.

use std::time::Duration;

/// The demo app's secret of every test gateway (`--demo-secret`).
pub const SECRET: &str = "vestibule-test-secret-0123456789abcdef";
/// The admin key of every test gateway (`--admin-key`).
pub const ADMIN_KEY: &str = "vestibule-test-admin-key";
/// The demo app's key.
pub const APP_KEY: &str = "demo";

/// A login token for `account` of the demo app, valid for an hour.
pub fn token(account: &str) -> String {
    token_for(account, Duration::from_secs(3600))
}

/// A login token for `account` of the demo app, valid for `ttl`.
pub fn token_for(account: &str, ttl: Duration) -> String {
    vestibule_protocol::token::mint(SECRET, APP_KEY, account, ttl)
        .unwrap_or_else(|e| panic!("mint a token: {e}"))
        .expose()
        .to_owned()
}
