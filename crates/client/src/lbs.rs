//! The cluster's own list of live nodes (NIM's `lbsUrls`): `GET /v1/lbs` on
//! any node answers `{"nodes": [url, …]}`. Asked at the first attempt and
//! after every failed attempt or lost connection, in the background; the
//! next attempt picks from the latest answer, so a client that knows one or
//! two entry points still reaches every live node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one LBS URL gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(serde::Deserialize)]
struct Answer {
    nodes: Vec<String>,
}

/// Asks each of `lbs_urls` in turn until one answers; stores the nodes
/// whose scheme is `scheme` (a `wss://` client never learns a `ws://` node)
/// in `into`. Keeps the previous list when none answers.
pub(crate) async fn refresh(
    lbs_urls: Vec<String>,
    scheme: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    into: Arc<Mutex<Vec<String>>>,
) {
    let mut builder = reqwest::Client::builder().timeout(ASK_TIMEOUT);
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls((*tls).clone());
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the LBS");
            return;
        }
    };
    for url in &lbs_urls {
        let answer = match client.get(url).send().await {
            Ok(response) if response.status().is_success() => response.json::<Answer>().await,
            Ok(response) => {
                tracing::debug!(%url, status = %response.status(), "the LBS did not answer");
                continue;
            }
            Err(e) => {
                tracing::debug!(%url, error = %e, "the LBS is unreachable");
                continue;
            }
        };
        match answer {
            Ok(answer) => {
                let nodes = usable(answer.nodes, &scheme);
                if nodes.is_empty() {
                    continue;
                }
                tracing::debug!(%url, nodes = nodes.len(), "the LBS answered");
                *into
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = nodes;
                return;
            }
            Err(e) => tracing::debug!(%url, error = %e, "an unreadable LBS answer"),
        }
    }
}

/// The nodes a client of `scheme` may dial: valid URLs of that scheme only.
fn usable(nodes: Vec<String>, scheme: &str) -> Vec<String> {
    nodes
        .into_iter()
        .filter(|n| url::Url::parse(n).is_ok_and(|u| u.scheme() == scheme))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::usable;

    #[test]
    fn a_wss_client_never_learns_a_ws_node() {
        let nodes = vec![
            "ws://10.0.0.1:7878/v1/ws".to_owned(),
            "wss://a.example/v1/ws".to_owned(),
            "not a url".to_owned(),
            "wss://b.example/v1/ws".to_owned(),
        ];
        assert_eq!(
            usable(nodes.clone(), "wss"),
            ["wss://a.example/v1/ws", "wss://b.example/v1/ws"]
        );
        assert_eq!(usable(nodes, "ws"), ["ws://10.0.0.1:7878/v1/ws"]);
    }
}
