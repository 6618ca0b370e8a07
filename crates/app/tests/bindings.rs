//! The UI's TypeScript types are generated from the Rust types. This test
//! fails when `ui/src/lib/bindings/` is stale; run it with
//! `UPDATE_BINDINGS=1` to regenerate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ts_rs::{Config, TS};
use vestibule_app::view::{
    CommandError, KickResult, LoginRequest, PairRequesterView, PairingRequest, SessionView,
    TimelineUpdate,
};

fn bindings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/bindings")
}

fn generate(dir: &Path) {
    // JSON numbers, not bigint: every u64 on the wire is a millisecond time or a
    // revision well inside JavaScript's safe-integer range.
    let config = Config::new().with_large_int("number").with_out_dir(dir);
    SessionView::export_all(&config).expect("export SessionView");
    LoginRequest::export_all(&config).expect("export LoginRequest");
    CommandError::export_all(&config).expect("export CommandError");
    KickResult::export_all(&config).expect("export KickResult");
    TimelineUpdate::export_all(&config).expect("export TimelineUpdate");
    PairingRequest::export_all(&config).expect("export PairingRequest");
    PairRequesterView::export_all(&config).expect("export PairRequesterView");
    vestibule_client::DeviceType::export_all(&config).expect("export DeviceType");
    vestibule_app::settings::SettingsUpdate::export_all(&config).expect("export SettingsUpdate");
    vestibule_app::view::AboutView::export_all(&config).expect("export AboutView");
    vestibule_app::view::Folder::export_all(&config).expect("export Folder");
    vestibule_app::view::UpdateStatus::export_all(&config).expect("export UpdateStatus");
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "ts") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.insert(name, std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    files
}

#[test]
fn typescript_bindings_are_up_to_date() {
    let checked_in = bindings_dir();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        if checked_in.exists() {
            std::fs::remove_dir_all(&checked_in).expect("clear bindings");
        }
        generate(&checked_in);
        return;
    }
    let fresh = tempfile::tempdir().expect("tempdir");
    generate(fresh.path());
    let want = read_dir(fresh.path());
    let have = read_dir(&checked_in);
    assert!(!want.is_empty());
    let stale: std::collections::BTreeSet<&String> = want
        .keys()
        .chain(have.keys())
        .filter(|name| want.get(*name) != have.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/lib/bindings is stale ({stale:?}); regenerate with \
         `UPDATE_BINDINGS=1 cargo test -p vestibule-app --test bindings`"
    );
}
