//! What the native side says — the tray and OS notifications — in the app's
//! two languages, from `locales/native.json` (rust-i18n). The UI has its own
//! catalogs (`ui/messages`); errors and the timeline reach it as facts.

use crate::settings::Locale;

/// The text of `key` in `locale`, with each `%{name}` replaced by its value.
pub fn tr(locale: Locale, key: &str, args: &[(&str, &str)]) -> String {
    let text = crate::_rust_i18n_translate(locale.tag(), key);
    if args.is_empty() {
        return text.into_owned();
    }
    let names: Vec<&str> = args.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = args.iter().map(|(_, value)| (*value).to_owned()).collect();
    rust_i18n::replace_patterns(&text, &names, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key is in both languages, with the same `%{placeholders}`.
    #[test]
    fn every_key_has_both_languages_and_the_same_placeholders() {
        let catalog: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(include_str!("../locales/native.json")).expect("json");
        let placeholders = |s: &str| {
            let mut found: Vec<String> = s
                .split("%{")
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
                .collect();
            found.sort();
            found
        };
        let mut keys = 0;
        for (key, value) in catalog.iter().filter(|(k, _)| !k.starts_with('_')) {
            let en = value["en"].as_str().unwrap_or_default();
            let zh = value["zh-CN"].as_str().unwrap_or_default();
            assert!(!en.is_empty(), "{key} has no English");
            assert!(!zh.is_empty(), "{key} has no Chinese");
            assert_eq!(placeholders(en), placeholders(zh), "{key}");
            assert_eq!(
                value.as_object().map(|o| o.len()),
                Some(2),
                "{key}: en and zh-CN only"
            );
            keys += 1;
        }
        assert!(keys > 20, "{keys} keys");
    }

    #[test]
    fn text_is_looked_up_per_locale_with_its_values() {
        assert_eq!(tr(Locale::En, "tray.retry_now", &[]), "Retry now");
        assert_eq!(tr(Locale::ZhCn, "tray.retry_now", &[]), "立即重试");
        assert_eq!(
            tr(
                Locale::ZhCn,
                "tray.account",
                &[("account", "alice"), ("status", "已连接")]
            ),
            "alice：已连接"
        );
    }
}
