//! After the run: compare what customers were told (acks), what agents received and what the
//! database holds. `lost` counts messages that were acked — or sent and never answered — yet are
//! missing from the database or from at least one agent socket; `duplicated` counts a
//! (conversation, seq) received twice by one agent, a (conversation, client_msg_id) stored twice,
//! or one client_msg_id acked with two different seqs.
use std::collections::{HashMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use super::{
    load::{AgentOutcome, BitSet, CustomerOutcome, ERRORED, parse_id},
    target::StoredRow,
};

#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    pub lost: u64,
    pub duplicated: u64,
    /// Rows read back from the database.
    pub stored_rows: u64,
    /// Distinct `created_at` values among them: one per group-commit batch.
    pub commit_batches: u64,
    /// Acked or unanswered messages with no row.
    pub missing_in_db: u64,
    /// (message, agent) pairs where the agent never received a stored message.
    pub missing_at_agents: u64,
    /// Sent, neither acked nor refused by the end of the drain.
    pub unanswered: u64,
    /// Rows whose seq differs from the seq in the ack.
    pub seq_mismatch: u64,
    /// Refused with an error frame, yet stored.
    pub stored_despite_error: u64,
    /// Received by an agent under a seq that is not in the database.
    pub phantom_deliveries: u64,
    /// Rows in bench conversations that no customer of this run sent.
    pub stray_rows: u64,
    pub agent_dup_receipts: u64,
    pub db_dup_rows: u64,
    pub ack_conflicts: u64,
}

pub fn check(
    customers: &[CustomerOutcome],
    agents: &[AgentOutcome],
    rows: &[StoredRow],
    conv_index: &HashMap<Uuid, usize>,
) -> Verdict {
    let mut v = Verdict {
        stored_rows: rows.len() as u64,
        ..Verdict::default()
    };
    v.commit_batches = rows
        .iter()
        .map(|r| r.3.as_str())
        .collect::<HashSet<_>>()
        .len() as u64;
    // Per customer: the seq stored for each message number (0 = none), and all stored seqs.
    let mut db_seq: Vec<Vec<i64>> = customers.iter().map(|c| vec![0; c.sent()]).collect();
    let mut db_seqs: Vec<BitSet> = vec![BitSet::default(); customers.len()];
    for (conv, seq, id, _) in rows {
        let Some(&c) = conv_index.get(conv) else {
            continue;
        };
        if let Ok(s) = usize::try_from(*seq) {
            db_seqs[c].insert(s);
        }
        match parse_id(id) {
            Some((cc, n, _)) if cc == c && n < db_seq[c].len() => {
                if db_seq[c][n] != 0 {
                    v.db_dup_rows += 1;
                } else {
                    db_seq[c][n] = *seq;
                }
            }
            _ => v.stray_rows += 1,
        }
    }
    for (c, out) in customers.iter().enumerate() {
        v.ack_conflicts += out.ack_conflicts;
        for (n, &state) in out.state.iter().enumerate() {
            let stored = db_seq[c][n];
            if state == ERRORED {
                if stored != 0 {
                    v.stored_despite_error += 1;
                }
                continue;
            }
            if state == 0 {
                v.unanswered += 1;
            } else if stored != 0 && stored != state {
                v.seq_mismatch += 1;
            }
            let mut lost = false;
            if stored == 0 {
                v.missing_in_db += 1;
                lost = true;
            }
            let seq = if state > 0 { state } else { stored };
            if let Ok(seq) = usize::try_from(seq)
                && seq > 0
            {
                for a in agents {
                    if !a.seen[c].contains(seq) {
                        v.missing_at_agents += 1;
                        lost = true;
                    }
                }
            }
            if lost {
                v.lost += 1;
            }
        }
        for a in agents {
            v.phantom_deliveries += a.seen[c]
                .iter()
                .filter(|&s| !db_seqs[c].contains(s))
                .count() as u64;
        }
    }
    v.agent_dup_receipts = agents.iter().map(|a| a.dups).sum();
    v.duplicated = v.agent_dup_receipts + v.db_dup_rows + v.ack_conflicts;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(customers: usize, got: &[(usize, usize)]) -> AgentOutcome {
        let mut seen = vec![BitSet::default(); customers];
        for &(c, s) in got {
            seen[c].insert(s);
        }
        AgentOutcome {
            seen,
            deliver_us: vec![],
            dups: 0,
            foreign: 0,
            bad_frames: 0,
            closed: None,
        }
    }

    #[test]
    fn counts_lost_and_duplicated() {
        let conv = Uuid::now_v7();
        let idx = HashMap::from([(conv, 0)]);
        let cust = CustomerOutcome {
            state: vec![1, 2, ERRORED, 0],
            ..Default::default()
        };
        let row = |seq: i64, n: usize| (conv, seq, format!("c0-{n}-5"), format!("t{seq}"));
        // All good: 1 and 2 acked, stored, delivered; #3 unanswered but stored and delivered.
        let rows = vec![row(1, 0), row(2, 1), row(3, 3)];
        let v = check(
            std::slice::from_ref(&cust),
            &[agent(1, &[(0, 1), (0, 2), (0, 3)])],
            &rows,
            &idx,
        );
        assert_eq!(
            (v.lost, v.duplicated, v.unanswered, v.commit_batches),
            (0, 0, 1, 3)
        );
        // Agent missed seq 2, row for #0 stored twice.
        let rows = vec![row(1, 0), row(1, 0), row(2, 1), row(3, 3)];
        let v = check(
            std::slice::from_ref(&cust),
            &[agent(1, &[(0, 1), (0, 3)])],
            &rows,
            &idx,
        );
        assert_eq!(
            (v.lost, v.duplicated, v.missing_at_agents, v.db_dup_rows),
            (1, 1, 1, 1)
        );
        // Nothing stored at all: every non-refused message is lost.
        let v = check(&[cust], &[agent(1, &[])], &[], &idx);
        assert_eq!((v.lost, v.missing_in_db), (3, 3));
    }
}
