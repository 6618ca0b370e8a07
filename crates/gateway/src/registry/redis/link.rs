//! A Redis connection that replaces itself after a failure. The multiplexed
//! connection reconnects when Redis closes it, but not when the path goes
//! silent (a dropped route, a blackholed proxy): every command would time out
//! forever. After a failure a fresh connection is built in the background.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;

/// See the module docs. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) struct Link {
    client: redis::Client,
    current: Arc<RwLock<ConnectionManager>>,
    rebuilding: Arc<AtomicBool>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

/// A connection with short timeouts: a login waits at most a few seconds on
/// an unreachable Redis before it is told 503.
async fn open(client: &redis::Client) -> Result<ConnectionManager, redis::RedisError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    client.get_connection_manager_with_config(config).await
}

impl Link {
    pub(crate) async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = open(&client).await?;
        Ok(Self {
            client,
            current: Arc::new(RwLock::new(conn)),
            rebuilding: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The client, for connections of its own (the inbox reader).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The connection to send a command on.
    pub(crate) fn get(&self) -> ConnectionManager {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A command failed: build a fresh connection in the background (one at
    /// a time) and use it from then on.
    pub(crate) fn failed(&self) {
        if self.rebuilding.swap(true, Ordering::SeqCst) {
            return;
        }
        let link = self.clone();
        tokio::spawn(async move {
            match open(&link.client).await {
                Ok(conn) => {
                    *link
                        .current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = conn;
                    tracing::debug!("a fresh Redis connection replaces the failed one");
                }
                Err(e) => tracing::debug!(error = %e, "Redis is still unreachable"),
            }
            link.rebuilding.store(false, Ordering::SeqCst);
        });
    }
}
