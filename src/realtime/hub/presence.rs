//! Agent presence, as a pure struct: the status of each agent socket on this node, what the
//! other nodes last announced about theirs, and the cluster-wide status that results (the "most
//! present" of all). No channels, no I/O, no clock of its own: the hub feeds it joins, leaves,
//! status changes and remote announcements (with the time they arrived), and pushes the changes
//! it reports.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use uuid::Uuid;

use super::super::protocol::{PresenceEntry, PresenceStatus};

/// An agent of an account: `(account_id, agent_id)`.
pub type AgentKey = (Uuid, Uuid);

/// What another node last said about its agents.
struct RemoteNode {
    seen: Instant,
    agents: HashMap<AgentKey, PresenceStatus>,
}

#[derive(Default)]
pub struct Presence {
    /// This node's agent sockets and the status each one reported.
    local: HashMap<AgentKey, HashMap<u64, PresenceStatus>>,
    remote: HashMap<Uuid, RemoteNode>,
}

pub fn rank(s: PresenceStatus) -> u8 {
    match s {
        PresenceStatus::Online => 2,
        PresenceStatus::Away => 1,
        PresenceStatus::Offline => 0,
    }
}

impl Presence {
    /// An agent socket opened on this node (online until it says otherwise).
    pub fn join(&mut self, conn: u64, agent: AgentKey) {
        self.local
            .entry(agent)
            .or_default()
            .insert(conn, PresenceStatus::Online);
    }

    /// An agent socket reported a status; ignored for a socket that never joined.
    pub fn set(&mut self, conn: u64, agent: AgentKey, status: PresenceStatus) {
        if let Some(s) = self.local.get_mut(&agent).and_then(|c| c.get_mut(&conn)) {
            *s = status;
        }
    }

    /// An agent socket closed.
    pub fn leave(&mut self, conn: u64, agent: AgentKey) {
        if let Some(conns) = self.local.get_mut(&agent) {
            conns.remove(&conn);
            if conns.is_empty() {
                self.local.remove(&agent);
            }
        }
    }

    /// An agent's status on this node: the "most present" of its sockets, offline when it has none.
    pub fn local_status(&self, agent: AgentKey) -> PresenceStatus {
        self.local
            .get(&agent)
            .into_iter()
            .flat_map(|c| c.values().copied())
            .max_by_key(|s| rank(*s))
            .unwrap_or(PresenceStatus::Offline)
    }

    /// An agent's status across the cluster: the "most present" of this node's view and what
    /// other nodes announced.
    pub fn status(&self, agent: AgentKey) -> PresenceStatus {
        let mut best = self.local_status(agent);
        for n in self.remote.values() {
            if let Some(s) = n.agents.get(&agent)
                && rank(*s) > rank(best)
            {
                best = *s;
            }
        }
        best
    }

    /// The agents of an account seen anywhere in the cluster, by id, with their status.
    pub fn of_account(&self, account_id: Uuid) -> Vec<PresenceEntry> {
        let mut agents: Vec<Uuid> = self
            .local
            .keys()
            .chain(self.remote.values().flat_map(|n| n.agents.keys()))
            .filter(|(a, _)| *a == account_id)
            .map(|(_, g)| *g)
            .collect();
        agents.sort_unstable();
        agents.dedup();
        agents
            .into_iter()
            .map(|agent_id| PresenceEntry {
                agent_id,
                status: self.status((account_id, agent_id)),
            })
            .collect()
    }

    /// Accounts with at least one agent present somewhere in the cluster.
    pub fn accounts(&self) -> Vec<Uuid> {
        let accounts: HashSet<Uuid> = self
            .local
            .keys()
            .chain(self.remote.values().flat_map(|n| n.agents.keys()))
            .map(|(a, _)| *a)
            .collect();
        accounts.into_iter().collect()
    }

    /// This node's agents and their local status: what it announces to the others.
    pub fn local_agents(&self) -> Vec<(Uuid, Uuid, PresenceStatus)> {
        self.local
            .keys()
            .map(|&(a, g)| (a, g, self.local_status((a, g))))
            .collect()
    }

    /// Another node announced some of its agents (or all of them, `full`) at `now`. Returns the
    /// agents whose cluster-wide status changed, with the new status.
    pub fn remote(
        &mut self,
        node: Uuid,
        full: bool,
        agents: Vec<(Uuid, Uuid, PresenceStatus)>,
        now: Instant,
    ) -> Vec<(Uuid, Uuid, PresenceStatus)> {
        let mut touched: Vec<AgentKey> = agents.iter().map(|(a, g, _)| (*a, *g)).collect();
        if full && let Some(n) = self.remote.get(&node) {
            touched.extend(n.agents.keys().copied());
        }
        touched.sort_unstable();
        touched.dedup();
        let before: Vec<PresenceStatus> = touched.iter().map(|k| self.status(*k)).collect();
        let n = self.remote.entry(node).or_insert_with(|| RemoteNode {
            seen: now,
            agents: HashMap::new(),
        });
        n.seen = now;
        if full {
            n.agents.clear();
        }
        for (a, g, s) in agents {
            if s == PresenceStatus::Offline {
                n.agents.remove(&(a, g));
            } else {
                n.agents.insert((a, g), s);
            }
        }
        touched
            .into_iter()
            .zip(before)
            .filter_map(|(k, was)| {
                let now = self.status(k);
                (now != was).then_some((k.0, k.1, now))
            })
            .collect()
    }

    /// A node left (or went quiet): its agents are dropped. Returns what changed, as
    /// [`Presence::remote`] does.
    pub fn forget(&mut self, node: Uuid) -> Vec<(Uuid, Uuid, PresenceStatus)> {
        let Some(seen) = self.remote.get(&node).map(|n| n.seen) else {
            return Vec::new();
        };
        let changed = self.remote(node, true, Vec::new(), seen);
        self.remote.remove(&node);
        changed
    }

    /// Nodes not heard from for more than `ttl` at `now`.
    pub fn expired(&self, now: Instant, ttl: Duration) -> Vec<Uuid> {
        self.remote
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.seen) > ttl)
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PresenceStatus::{Away, Offline, Online};

    fn ids() -> (Uuid, Uuid, Uuid) {
        (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4())
    }

    #[test]
    fn join_and_leave_track_the_most_present_socket() {
        let (account, agent, _) = ids();
        let mut p = Presence::default();
        let key = (account, agent);
        assert_eq!(p.status(key), Offline);
        p.join(1, key);
        p.join(2, key);
        assert_eq!(p.local_status(key), Online);
        p.leave(1, key);
        assert_eq!(p.status(key), Online);
        p.leave(2, key);
        assert_eq!(p.status(key), Offline);
        assert!(p.of_account(account).is_empty());
        assert!(p.accounts().is_empty());
        assert!(p.local_agents().is_empty());
    }

    #[test]
    fn away_counts_only_when_no_socket_is_online() {
        let (account, agent, _) = ids();
        let mut p = Presence::default();
        let key = (account, agent);
        p.join(1, key);
        p.join(2, key);
        p.set(1, key, Away);
        assert_eq!(p.status(key), Online);
        p.set(2, key, Away);
        assert_eq!(p.status(key), Away);
        assert_eq!(p.local_agents(), vec![(account, agent, Away)]);
        p.set(2, key, Offline);
        assert_eq!(p.status(key), Away, "the most present socket wins");
        // A socket that never joined changes nothing.
        p.set(9, key, Online);
        assert_eq!(p.status(key), Away);
        p.set(1, key, Online);
        assert_eq!(p.status(key), Online);
    }

    #[test]
    fn remote_announcements_merge_and_report_what_changed() {
        let (account, agent, node) = ids();
        let other = Uuid::new_v4();
        let now = Instant::now();
        let mut p = Presence::default();
        let key = (account, agent);

        let changed = p.remote(node, true, vec![(account, agent, Away)], now);
        assert_eq!(changed, vec![(account, agent, Away)]);
        assert_eq!(p.accounts(), vec![account]);
        assert!(
            p.local_agents().is_empty(),
            "remote agents are not announced"
        );

        // The same news again: nothing changed.
        assert!(
            p.remote(node, false, vec![(account, agent, Away)], now)
                .is_empty()
        );

        // Online here wins over away there; the remote part alone does not change the result.
        p.join(1, key);
        assert_eq!(p.status(key), Online);
        assert!(
            p.remote(node, false, vec![(account, agent, Online)], now)
                .is_empty()
        );

        // Another agent, and a full announcement that no longer has the first one.
        let changed = p.remote(node, true, vec![(account, other, Online)], now);
        assert_eq!(changed, vec![(account, other, Online)]);
        p.leave(1, key);
        assert_eq!(p.status(key), Offline);
        let mut present: Vec<Uuid> = p.of_account(account).iter().map(|e| e.agent_id).collect();
        present.sort_unstable();
        assert_eq!(present, vec![other]);

        // An explicit offline drops the agent.
        let changed = p.remote(node, false, vec![(account, other, Offline)], now);
        assert_eq!(changed, vec![(account, other, Offline)]);
        assert!(p.accounts().is_empty());
    }

    #[test]
    fn a_forgotten_node_takes_its_agents_but_not_the_local_ones() {
        let (account, agent, node) = ids();
        let other = Uuid::new_v4();
        let mut p = Presence::default();
        p.join(1, (account, agent));
        p.remote(
            node,
            true,
            vec![(account, agent, Away), (account, other, Away)],
            Instant::now(),
        );
        assert_eq!(p.of_account(account).len(), 2);
        let changed = p.forget(node);
        assert_eq!(changed, vec![(account, other, Offline)]);
        let present: Vec<_> = p
            .of_account(account)
            .iter()
            .map(|e| (e.agent_id, e.status))
            .collect();
        assert_eq!(present, vec![(agent, Online)]);
        assert!(p.forget(node).is_empty(), "an unknown node changes nothing");
    }

    #[test]
    fn nodes_expire_after_the_ttl_since_they_were_last_heard() {
        let (account, agent, node) = ids();
        let quiet = Uuid::new_v4();
        let ttl = Duration::from_secs(16);
        let t0 = Instant::now();
        let mut p = Presence::default();
        p.remote(quiet, true, vec![(account, agent, Online)], t0);
        p.remote(node, true, Vec::new(), t0);
        assert!(
            p.expired(t0 + ttl, ttl).is_empty(),
            "exactly the ttl is not yet expired"
        );
        // Heard from again: its clock restarts.
        p.remote(node, false, Vec::new(), t0 + Duration::from_secs(10));
        assert_eq!(
            p.expired(t0 + ttl + Duration::from_secs(1), ttl),
            vec![quiet]
        );
        assert_eq!(p.forget(quiet), vec![(account, agent, Offline)]);
        assert!(p.expired(t0 + Duration::from_secs(26), ttl).is_empty());
        assert_eq!(
            p.expired(t0 + Duration::from_secs(27), ttl),
            vec![node],
            "ten seconds in plus the ttl"
        );
    }
}
