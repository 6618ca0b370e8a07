//! This node's sessions, by connection and by account: a push to an account
//! reaches its few local sessions without looking at every other one (with
//! tens of thousands of sessions a node, a scan per login made logins
//! quadratic).

use std::collections::{HashMap, HashSet};

use super::Local;

#[derive(Debug, Default)]
pub(super) struct LocalSessions {
    by_conn: HashMap<String, Local>,
    by_account: HashMap<(String, String), HashSet<String>>,
}

impl LocalSessions {
    pub(super) fn insert(&mut self, conn: String, local: Local) {
        self.by_account
            .entry((local.key.app_key.clone(), local.key.account.clone()))
            .or_default()
            .insert(conn.clone());
        if let Some(old) = self.by_conn.insert(conn.clone(), local) {
            self.unindex(&old, &conn);
        }
    }

    pub(super) fn remove(&mut self, conn: &str) -> Option<Local> {
        let local = self.by_conn.remove(conn)?;
        self.unindex(&local, conn);
        Some(local)
    }

    /// Drops `conn` from `old`'s account, unless it belongs there still.
    fn unindex(&mut self, old: &Local, conn: &str) {
        let account = (old.key.app_key.clone(), old.key.account.clone());
        if self
            .by_conn
            .get(conn)
            .is_some_and(|now| (&now.key.app_key, &now.key.account) == (&account.0, &account.1))
        {
            return;
        }
        if let Some(conns) = self.by_account.get_mut(&account) {
            conns.remove(conn);
            if conns.is_empty() {
                self.by_account.remove(&account);
            }
        }
    }

    pub(super) fn contains_key(&self, conn: &str) -> bool {
        self.by_conn.contains_key(conn)
    }

    pub(super) fn len(&self) -> usize {
        self.by_conn.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Local> {
        self.by_conn.values()
    }

    /// The account's sessions on this node.
    pub(super) fn of_account<'a>(
        &'a self,
        app_key: &str,
        account: &str,
    ) -> impl Iterator<Item = &'a Local> + 'a {
        self.by_account
            .get(&(app_key.to_owned(), account.to_owned()))
            .into_iter()
            .flatten()
            .filter_map(|conn| self.by_conn.get(conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Mailbox, SessionKey};

    fn local(account: &str, conn: &str) -> Local {
        let device: vestibule_protocol::Device = serde_json::from_value(serde_json::json!({
            "deviceId": conn, "type": "PC", "os": "Debian", "connectionId": conn,
            "ip": "127.0.0.1", "loginTime": 1, "online": true, "current": false
        }))
        .expect("device");
        Local {
            key: SessionKey {
                app_key: "demo".into(),
                account: account.into(),
                connection_id: conn.into(),
            },
            device,
            mailbox: Mailbox::new(),
        }
    }

    fn conns(sessions: &LocalSessions, account: &str) -> Vec<String> {
        let mut out: Vec<String> = sessions
            .of_account("demo", account)
            .map(|l| l.key.connection_id.clone())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn an_account_finds_exactly_its_sessions_as_they_come_and_go() {
        let mut sessions = LocalSessions::default();
        sessions.insert("a1".into(), local("alice", "a1"));
        sessions.insert("a2".into(), local("alice", "a2"));
        sessions.insert("b1".into(), local("bob", "b1"));
        assert_eq!(conns(&sessions, "alice"), ["a1", "a2"]);
        assert_eq!(conns(&sessions, "bob"), ["b1"]);
        assert!(sessions.remove("a1").is_some());
        assert!(sessions.remove("a1").is_none());
        assert_eq!(conns(&sessions, "alice"), ["a2"]);
        // A connection id registered again for another account moves with it.
        sessions.insert("a2".into(), local("bob", "a2"));
        assert!(conns(&sessions, "alice").is_empty());
        assert_eq!(conns(&sessions, "bob"), ["a2", "b1"]);
        assert_eq!(sessions.len(), 2);
        assert!(sessions.remove("b1").is_some() && sessions.remove("a2").is_some());
        assert!(sessions.by_account.is_empty(), "no empty account is kept");
    }
}
