//! The OS's own news about the network and sleep, fed to every instance of a
//! [`Vestibule`] (feature `os`, Linux).
//!
//! - **Network** — netlink (rtnetlink): links, addresses and routes. The
//!   machine is online while some interface other than loopback is up, has
//!   a carrier, and holds an address of global scope. Offline, instances
//!   make no attempts (*No network*); back, or on any change of those
//!   addresses while online, they dial at once or check their socket.
//!   A false "online" (a bridge with a carrier, say) costs nothing more than
//!   before: the heartbeat still finds a dead socket.
//! - **Sleep** — logind's `PrepareForSleep(false)` on the system bus: every
//!   instance checks its socket or dials at once. The wall-clock jump check
//!   in each instance stays as the fallback when there is no logind.
//!
//! Either source missing (no netlink, no system bus) is logged once and
//! leaves the instances as they were.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_route::address::{AddressAttribute, AddressScope};
use rtnetlink::packet_route::link::LinkFlags;
use rtnetlink::{Handle, MulticastGroup};

use crate::Vestibule;

/// Changes that arrive together (a link going down drops its routes and
/// addresses one message at a time) are read as one.
const SETTLE: Duration = Duration::from_millis(50);

/// The watchers; they stop when this is dropped.
#[derive(Debug)]
pub struct OsWatch {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for OsWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Watches the network and logind on the system bus for `vestibule`.
/// Must be called inside a tokio runtime.
pub fn watch(vestibule: &Vestibule) -> OsWatch {
    watch_with(vestibule, None)
}

/// [`watch`], with logind looked for on the bus at `system_bus` (a D-Bus
/// address) instead of the system bus: tests run their own.
pub fn watch_with(vestibule: &Vestibule, system_bus: Option<String>) -> OsWatch {
    let network = tokio::spawn(watch_network(vestibule.clone()));
    let sleep = tokio::spawn(watch_sleep(vestibule.clone(), system_bus));
    OsWatch {
        tasks: vec![network, sleep],
    }
}

/// What "online" rests on: (interface, address) pairs of global scope on
/// interfaces that are up with a carrier. Empty: offline.
type Paths = BTreeSet<(u32, IpAddr)>;

async fn paths(handle: &Handle) -> Result<Paths, rtnetlink::Error> {
    let mut usable = BTreeSet::new();
    let mut links = handle.link().get().execute();
    while let Some(link) = links.try_next().await? {
        let flags = link.header.flags;
        if flags.contains(LinkFlags::Up)
            && flags.contains(LinkFlags::LowerUp)
            && !flags.contains(LinkFlags::Loopback)
        {
            usable.insert(link.header.index);
        }
    }
    let mut paths = Paths::new();
    let mut addresses = handle.address().get().execute();
    while let Some(message) = addresses.try_next().await? {
        if !usable.contains(&message.header.index) || message.header.scope != AddressScope::Universe
        {
            continue;
        }
        for attribute in message.attributes {
            if let AddressAttribute::Address(ip) = attribute {
                paths.insert((message.header.index, ip));
            }
        }
    }
    Ok(paths)
}

async fn watch_network(vestibule: Vestibule) {
    let (connection, handle, mut changes) = match rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ]) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the network (netlink); relying on heartbeats");
            return;
        }
    };
    let connection = tokio::spawn(connection);
    let mut last: Option<Paths> = None;
    loop {
        let now = match paths(&handle).await {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %e, "reading the network state failed; no longer watching it");
                break;
            }
        };
        if last.as_ref() != Some(&now) {
            let online = !now.is_empty();
            match &last {
                // At start, only "offline" is news.
                None if online => {}
                _ => {
                    tracing::info!(online, paths = now.len(), "the network changed");
                    vestibule.network_changed(online);
                }
            }
            last = Some(now);
        }
        if changes.next().await.is_none() {
            break;
        }
        tokio::time::sleep(SETTLE).await;
        while changes.try_recv().is_ok() {}
    }
    connection.abort();
}

#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
trait Login1Manager {
    /// `true` before the machine sleeps, `false` when it has woken.
    #[zbus(signal)]
    fn prepare_for_sleep(&self, start: bool) -> zbus::Result<()>;
}

async fn watch_sleep(vestibule: Vestibule, system_bus: Option<String>) {
    let connection = match &system_bus {
        Some(address) => match zbus::connection::Builder::address(address.as_str()) {
            Ok(builder) => builder.build().await,
            Err(e) => Err(e),
        },
        None => zbus::Connection::system().await,
    };
    let connection = match connection {
        Ok(connection) => connection,
        Err(e) => {
            tracing::info!(error = %e, "no system bus: sleep is noticed by the clock jump only");
            return;
        }
    };
    let signals = match Login1ManagerProxy::new(&connection).await {
        Ok(proxy) => proxy.receive_prepare_for_sleep().await,
        Err(e) => Err(e),
    };
    let mut signals = match signals {
        Ok(signals) => signals,
        Err(e) => {
            tracing::info!(error = %e, "no logind: sleep is noticed by the clock jump only");
            return;
        }
    };
    while let Some(signal) = signals.next().await {
        match signal.args() {
            Ok(args) if args.start => tracing::info!("the machine is going to sleep"),
            Ok(_) => {
                tracing::info!("the machine woke up; checking every connection");
                vestibule.woke();
            }
            Err(e) => tracing::debug!(error = %e, "an unreadable PrepareForSleep"),
        }
    }
}
