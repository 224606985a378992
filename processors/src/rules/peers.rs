//! Peer figures: what servers like this one (same peer group, see `Facts::peer_group`) show for
//! a signal right now — the median of their newest values and a robust spread (the median
//! absolute deviation scaled to a standard deviation) — for `above_peers` rules: "normal for
//! itself, but far above servers like it".
//!
//! Kept in memory by each processor instance from the beats it judges, rebuilt as beats arrive
//! after a restart (every server reports its memory every few minutes). With several processor
//! instances each sees the servers of its partitions: a hash-chosen share of every group, which
//! the minimum group size (`min_peers`) keeps meaningful.

use std::collections::HashMap;

/// A value older than this (event time) no longer speaks for its server.
const MAX_AGE_MS: i64 = 2 * 3_600_000;
/// Scales a median absolute deviation to a standard deviation for normal data.
const MAD_TO_SIGMA: f64 = 1.4826;
/// Servers kept per (group, signal, subject): beyond it new servers are not sampled.
const MAX_SERVERS_PER_GROUP: usize = 10_000;

/// The figures of one peer group for one signal and subject, without the server judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerFigures {
    pub count: usize,
    pub median: f64,
    pub spread: f64,
}

/// (group, signal, subject) → server → (event time, newest value).
type Values = HashMap<String, (i64, f64)>;

#[derive(Debug, Default)]
pub struct Peers {
    groups: HashMap<(String, &'static str, String), Values>,
}

impl Peers {
    /// The figures of the servers of `group` other than `server`, of values at most
    /// [`MAX_AGE_MS`] from `at_ms` (older, or newer: a server whose clock runs ahead); `None`
    /// when none.
    pub fn figures(
        &self,
        group: &str,
        signal: &'static str,
        subject: &str,
        server: &str,
        at_ms: i64,
    ) -> Option<PeerFigures> {
        let values = self
            .groups
            .get(&(group.to_string(), signal, subject.to_string()))?;
        let mut current: Vec<f64> = values
            .iter()
            .filter(|(id, (at, _))| id.as_str() != server && (at_ms - at).abs() <= MAX_AGE_MS)
            .map(|(_, (_, value))| *value)
            .collect();
        if current.is_empty() {
            return None;
        }
        let median = median_of(&mut current);
        let mut deviations: Vec<f64> = current.iter().map(|v| (v - median).abs()).collect();
        let spread = median_of(&mut deviations) * MAD_TO_SIGMA;
        Some(PeerFigures {
            count: current.len(),
            median,
            spread,
        })
    }

    /// Remembers `value` as `server`'s newest in `group`.
    pub fn record(
        &mut self,
        group: &str,
        signal: &'static str,
        subject: &str,
        server: &str,
        at_ms: i64,
        value: f64,
    ) {
        let values = self
            .groups
            .entry((group.to_string(), signal, subject.to_string()))
            .or_default();
        if values.len() >= MAX_SERVERS_PER_GROUP && !values.contains_key(server) {
            values.retain(|_, (at, _)| at_ms - *at <= MAX_AGE_MS);
            if values.len() >= MAX_SERVERS_PER_GROUP {
                return;
            }
        }
        // a late beat does not replace a newer value
        match values.get_mut(server) {
            Some((at, newest)) if *at <= at_ms => (*at, *newest) = (at_ms, value),
            Some(_) => {}
            None => {
                values.insert(server.to_string(), (at_ms, value));
            }
        }
    }

    /// Forgets a server everywhere (erased). One that left its group or stopped reporting
    /// ages out after two hours.
    pub fn forget(&mut self, server: &str) {
        for values in self.groups.values_mut() {
            values.remove(server);
        }
        self.groups.retain(|_, values| !values.is_empty());
    }
}

fn median_of(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_are_of_the_other_current_servers_of_the_group() {
        let mut peers = Peers::default();
        let group = "UCX Suite 2024.Winter, 32 GiB class";
        for (server, value) in [
            ("a", 40.0),
            ("b", 42.0),
            ("c", 38.0),
            ("d", 41.0),
            ("e", 39.0),
        ] {
            peers.record(group, "memory_used_percent", "memory", server, 1_000, value);
        }
        peers.record(group, "memory_used_percent", "memory", "odd", 1_000, 85.0);
        peers.record(
            "other group",
            "memory_used_percent",
            "memory",
            "x",
            1_000,
            99.0,
        );
        let figures = peers
            .figures(group, "memory_used_percent", "memory", "odd", 2_000)
            .unwrap();
        assert_eq!(figures.count, 5, "the server judged is not its own peer");
        assert_eq!(figures.median, 40.0);
        assert!((figures.spread - 1.4826).abs() < 1e-9, "{figures:?}");
        // values older than two hours no longer count
        assert_eq!(
            peers.figures(
                group,
                "memory_used_percent",
                "memory",
                "odd",
                1_000 + MAX_AGE_MS + 1
            ),
            None
        );
        // a late value of a server does not replace its newer one
        peers.record(group, "memory_used_percent", "memory", "e", 500, 90.0);
        let figures = peers
            .figures(group, "memory_used_percent", "memory", "odd", 2_000)
            .unwrap();
        assert_eq!(figures.median, 40.0);
        peers.forget("a");
        let figures = peers
            .figures(group, "memory_used_percent", "memory", "odd", 2_000)
            .unwrap();
        assert_eq!(figures.count, 4);
    }
}
