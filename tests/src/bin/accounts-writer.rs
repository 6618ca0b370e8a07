//! Test helper for the crash test: rewrites the saved-accounts file in a
//! tight loop (1 to 50 accounts, cycling) until it is killed.

use vestibule_app::accounts::{AccountStore, SavedAccount};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            eprintln!("usage: accounts-writer DIR");
            std::process::exit(2);
        });
    let mut store = match AccountStore::load(&dir) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot load: {e}");
            std::process::exit(1);
        }
    };
    let mut n = 0u64;
    loop {
        n += 1;
        let count = (n % 50) + 1;
        let account = SavedAccount {
            url: "ws://127.0.0.1:7878/v1/ws".into(),
            app_key: "demo".into(),
            account: format!("user-{count}-{}", "x".repeat((n % 200) as usize)),
            device_id: "desktop-crash-test".into(),
            remember: n.is_multiple_of(2),
            last_used: n,
            proxy: None,
        };
        let id = account.id();
        if let Err(e) = store.upsert(account) {
            eprintln!("write failed: {e}");
            std::process::exit(1);
        }
        // Once `count` accounts are saved, start over from this one: the
        // others go, one write each, so the file never holds zero accounts.
        if store.accounts().len() as u64 >= count {
            for a in store.accounts().to_vec() {
                if a.id() != id && store.remove(&a.id()).is_err() {
                    std::process::exit(1);
                }
            }
        }
        if n == 1 {
            // The file exists now; from here on a kill can only interrupt a rewrite.
            println!("writing");
        }
    }
}
