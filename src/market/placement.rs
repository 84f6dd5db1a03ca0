//! Which connection carries which stream: a pure rule, so it can be tested without sockets.
//!
//! Streams no longer wanted are dropped from the connection that carries them; new streams go
//! to the first connection with room, and connections are added past the per-connection limit.
//! A stream never moves between connections while it is wanted, so no trade is missed in a
//! hand-over.

use std::collections::{BTreeMap, BTreeSet};

/// What to send to which connection (by index), and how many connections to open first.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub new_connections: usize,
    pub removals: BTreeMap<usize, Vec<String>>,
    pub additions: BTreeMap<usize, Vec<String>>,
}

/// `current[i]` is what connection `i` carries now; `wanted` what should be carried.
pub fn plan(
    current: &[BTreeSet<String>],
    wanted: &BTreeSet<String>,
    per_connection: usize,
) -> Plan {
    let mut plan = Plan::default();
    let mut load: Vec<usize> = Vec::with_capacity(current.len());
    for (i, streams) in current.iter().enumerate() {
        let dropped: Vec<String> = streams.difference(wanted).cloned().collect();
        load.push(streams.len() - dropped.len());
        if !dropped.is_empty() {
            plan.removals.insert(i, dropped);
        }
    }
    let carried = |s: &String| current.iter().any(|streams| streams.contains(s));
    for stream in wanted.iter().filter(|s| !carried(s)) {
        let slot = match load.iter().position(|&n| n < per_connection) {
            Some(i) => i,
            None => {
                load.push(0);
                plan.new_connections += 1;
                load.len() - 1
            }
        };
        load[slot] += 1;
        plan.additions.entry(slot).or_default().push(stream.clone());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn new_streams_fill_the_first_connection_with_room() {
        let current = vec![set(&["a", "b"]), set(&["c"])];
        let p = plan(&current, &set(&["a", "b", "c", "d"]), 2);
        assert_eq!(p.new_connections, 0);
        assert!(p.removals.is_empty());
        assert_eq!(p.additions, BTreeMap::from([(1, vec!["d".to_string()])]));
    }

    #[test]
    fn connections_are_added_past_the_limit() {
        let p = plan(&[set(&["t"])], &set(&["t", "a", "b", "c"]), 2);
        assert_eq!(p.new_connections, 1);
        assert_eq!(
            p.additions,
            BTreeMap::from([
                (0, vec!["a".to_string()]),
                (1, vec!["b".to_string(), "c".to_string()])
            ])
        );
    }

    #[test]
    fn unwanted_streams_are_dropped_and_their_room_reused() {
        let current = vec![set(&["t", "a"]), set(&["b"])];
        let p = plan(&current, &set(&["t", "b", "x"]), 2);
        assert_eq!(p.removals, BTreeMap::from([(0, vec!["a".to_string()])]));
        assert_eq!(p.additions, BTreeMap::from([(0, vec!["x".to_string()])]));
        assert_eq!(p.new_connections, 0);
    }

    #[test]
    fn a_wanted_stream_never_moves() {
        let current = vec![set(&["a", "b"]), set(&[])];
        let p = plan(&current, &set(&["a", "b"]), 1);
        assert_eq!(p, Plan::default());
    }
}
