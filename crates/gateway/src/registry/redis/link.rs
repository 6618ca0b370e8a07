//! A Redis connection that replaces itself after a failure. The multiplexed
//! connection reconnects when Redis closes it, but not when the path goes
//! silent (a dropped route, a blackholed proxy): every command would time out
//! forever. After a failure a fresh connection is built in the background.
//!
//! The same link speaks to one Redis or to a Redis Cluster ([`RedisTarget`]).
//! On a cluster every script and pipeline touches keys of one hash slot only
//! (see the key layout in the module above); the cluster connection follows
//! slot moves and failovers by itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

/// Where a cluster of gateways keeps what it shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis (`redis://host:port`).
    Single(String),
    /// A Redis Cluster, given by some of its nodes.
    Cluster(Vec<String>),
}

impl From<&str> for RedisTarget {
    fn from(url: &str) -> Self {
        Self::Single(url.to_owned())
    }
}

impl From<String> for RedisTarget {
    fn from(url: String) -> Self {
        Self::Single(url)
    }
}

impl From<&String> for RedisTarget {
    fn from(url: &String) -> Self {
        Self::Single(url.clone())
    }
}

/// A client for either kind of target.
#[derive(Clone)]
pub(crate) enum Client {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// One connection to either kind of target; commands, pipelines and scripts
/// go through it alike.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    /// A plain connection, for blocking reads (rebuilt by its reader).
    Plain(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Plain(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Plain(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Plain(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Client {
    fn open(target: &RedisTarget) -> Result<Self, redis::RedisError> {
        Ok(match target {
            RedisTarget::Single(url) => Self::Single(redis::Client::open(url.as_str())?),
            RedisTarget::Cluster(seeds) => Self::Cluster(Box::new(
                ClusterClient::builder(seeds.clone())
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(Duration::from_secs(2))
                    // Rides out a failover (a replica is promoted within the
                    // cluster's node timeout) before a command gives up.
                    .retries(6)
                    .min_retry_wait(100)
                    .max_retry_wait(1000)
                    .build()?,
            )),
        })
    }

    /// A connection with short timeouts: a login waits at most a few seconds on
    /// an unreachable Redis before it is told 503.
    async fn shared(&self) -> Result<Conn, redis::RedisError> {
        match self {
            Self::Single(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(500));
                Ok(Conn::Single(
                    client.get_connection_manager_with_config(config).await?,
                ))
            }
            Self::Cluster(client) => Ok(Conn::Cluster(client.get_async_connection().await?)),
        }
    }

    /// A connection of its own for blocking reads (a blocking read would hold
    /// up a shared one), that waits longer than `block`.
    pub(crate) async fn blocking(&self, block: Duration) -> Result<Conn, redis::RedisError> {
        let timeout = block + Duration::from_secs(3);
        match self {
            Self::Single(client) => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(timeout));
                Ok(Conn::Plain(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Self::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(timeout);
                Ok(Conn::Cluster(
                    client.get_async_connection_with_config(config).await?,
                ))
            }
        }
    }
}

/// See the module docs. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub(crate) struct Link {
    client: Client,
    current: Arc<RwLock<Conn>>,
    rebuilding: Arc<AtomicBool>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Link")
    }
}

impl Link {
    pub(crate) async fn connect(target: &RedisTarget) -> Result<Self, redis::RedisError> {
        let client = Client::open(target)?;
        let conn = client.shared().await?;
        Ok(Self {
            client,
            current: Arc::new(RwLock::new(conn)),
            rebuilding: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The client, for connections of its own (the inbox reader).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The connection to send a command on.
    pub(crate) fn get(&self) -> Conn {
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
            match link.client.shared().await {
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
