//! Peer figures: what servers like this one (same peer group, see `Facts::peer_group`) show for
//! a signal right now — the median of their newest values and a robust spread (the median
//! absolute deviation scaled to a standard deviation) — for `above_peers` rules: "normal for
//! itself, but far above servers like it".
//!
//! Kept in memory by each processor instance from the beats it judges, rebuilt as beats arrive
//! after a restart (every server reports its memory every few minutes). With several processor
//! instances each sees the servers of its partitions: a hash-chosen share of every group, which
//! the minimum group size (`min_peers`) keeps meaningful.

/// A value older than this (event time) no longer speaks for its server.
const MAX_AGE_MS: i64 = 2 * 3_600_000;
/// Scales a median absolute deviation to a standard deviation for normal data.
const MAD_TO_SIGMA: f64 = 1.4826;
/// Servers kept per (group, signal, subject): beyond it new servers are not sampled.
const MAX_SERVERS_PER_GROUP: usize = 10_000;
/// Up to this many servers a group's figures are computed for every beat, without the server
/// judged. A larger group's come from a snapshot of the whole group: sorting thousands of values
/// for every beat would cost more than everything else a beat does, and one server moves the
/// median of more than a hundred by at most half a rank.
const EXACT_UP_TO: usize = 100;
/// A snapshot is taken again once this share of its group (1/4) reported since ...
const SNAPSHOT_RENEWED_AFTER_SHARE: usize = 4;
/// ... or once it is this far (event time) from the beat judged.
const SNAPSHOT_MAX_AGE_MS: i64 = 60_000;

/// The figures of one peer group for one signal and subject, without the server judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerFigures {
    pub count: usize,
    pub median: f64,
    pub spread: f64,
}

/// Looked up for every beat of a compared signal: foldhash, and nested maps so that a lookup
/// borrows its keys instead of building a tuple of owned strings.
type Map<K, V> = foldhash::HashMap<K, V>;

/// One (group, signal, subject): server → (event time, newest value).
#[derive(Debug, Default)]
struct Group {
    values: Map<String, (i64, f64)>,
    snapshot: Option<Snapshot>,
}

/// The figures of a large group, all its servers included.
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    at_ms: i64,
    records_since: usize,
    figures: Option<PeerFigures>,
}

#[derive(Debug, Default)]
pub struct Peers {
    /// group → signal → subject.
    groups: Map<String, Map<&'static str, Map<String, Group>>>,
}

impl Peers {
    /// The figures of the servers of `group` other than `server`, of values at most
    /// [`MAX_AGE_MS`] from `at_ms` (older, or newer: a server whose clock runs ahead); `None`
    /// when none. Above [`EXACT_UP_TO`] servers: the figures of a recent snapshot of the whole
    /// group.
    pub fn figures(
        &mut self,
        group: &str,
        signal: &'static str,
        subject: &str,
        server: &str,
        at_ms: i64,
    ) -> Option<PeerFigures> {
        let group = self
            .groups
            .get_mut(group)?
            .get_mut(signal)?
            .get_mut(subject)?;
        if group.values.len() <= EXACT_UP_TO {
            return figures_of(
                group
                    .values
                    .iter()
                    .filter(|(id, _)| id.as_str() != server)
                    .map(|(_, value)| value),
                at_ms,
            );
        }
        let renew_after = group.values.len() / SNAPSHOT_RENEWED_AFTER_SHARE;
        let current = group.snapshot.filter(|snapshot| {
            snapshot.records_since < renew_after
                && (at_ms - snapshot.at_ms).abs() <= SNAPSHOT_MAX_AGE_MS
        });
        let snapshot = current.unwrap_or_else(|| Snapshot {
            at_ms,
            records_since: 0,
            figures: figures_of(group.values.values(), at_ms),
        });
        group.snapshot = Some(snapshot);
        snapshot.figures
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
        let group = entry(&mut self.groups, group);
        let group = group.entry(signal).or_default();
        let group = entry(group, subject);
        if let Some(snapshot) = &mut group.snapshot {
            snapshot.records_since += 1;
        }
        let values = &mut group.values;
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
        for signals in self.groups.values_mut() {
            for subjects in signals.values_mut() {
                for group in subjects.values_mut() {
                    if group.values.remove(server).is_some() {
                        group.snapshot = None;
                    }
                }
                subjects.retain(|_, group| !group.values.is_empty());
            }
            signals.retain(|_, subjects| !subjects.is_empty());
        }
        self.groups.retain(|_, signals| !signals.is_empty());
    }
}

/// The entry of `key`, copied only when it is new.
fn entry<'m, V: Default>(map: &'m mut Map<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted")
}

fn figures_of<'v>(values: impl Iterator<Item = &'v (i64, f64)>, at_ms: i64) -> Option<PeerFigures> {
    let mut current: Vec<f64> = values
        .filter(|(at, _)| (at_ms - at).abs() <= MAX_AGE_MS)
        .map(|(_, value)| *value)
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

/// The median, in linear time (a selection, not a sort).
fn median_of(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (lower, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let below = lower.iter().copied().max_by(f64::total_cmp);
    (below.expect("an even count of at least two") + upper) / 2.0
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

    #[test]
    fn a_large_group_is_judged_against_a_snapshot_renewed_as_it_reports() {
        let mut peers = Peers::default();
        let (group, signal, subject) = ("g", "memory_used_percent", "memory");
        let server = |n: usize| format!("s{n}");
        // 400 servers, 80 each at 40, 41, 42, 43, 44 %
        for n in 0..400 {
            peers.record(
                group,
                signal,
                subject,
                &server(n),
                1_000,
                40.0 + (n % 5) as f64,
            );
        }
        let first = peers.figures(group, signal, subject, "s0", 2_000).unwrap();
        assert_eq!(first.count, 400, "the snapshot holds the whole group");
        assert_eq!(first.median, 42.0);
        // fewer than a quarter of the group reporting again keeps the snapshot ...
        for n in 0..99 {
            peers.record(group, signal, subject, &server(n), 3_000, 90.0);
        }
        let kept = peers.figures(group, signal, subject, "s0", 3_000).unwrap();
        assert_eq!(kept, first);
        // ... the hundredth renews it: 100 at 90 %, the other 300 at 40-44 % (60 each)
        peers.record(group, signal, subject, &server(99), 3_000, 90.0);
        let renewed = peers.figures(group, signal, subject, "s0", 3_000).unwrap();
        assert_eq!((renewed.count, renewed.median), (400, 43.0));
        // a minute of event time renews it too
        for n in 400..450 {
            peers.record(group, signal, subject, &server(n), 3_000, 41.0);
        }
        let count = |peers: &mut Peers, at| {
            peers
                .figures(group, signal, subject, "s0", at)
                .unwrap()
                .count
        };
        assert_eq!(count(&mut peers, 3_000), 400);
        assert_eq!(count(&mut peers, 3_000 + SNAPSHOT_MAX_AGE_MS + 1), 450);
        // forgetting a server drops the snapshot
        peers.forget("s1");
        assert_eq!(count(&mut peers, 3_000 + SNAPSHOT_MAX_AGE_MS + 1), 449);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_of(&mut [5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median_of(&mut [7.0]), 7.0);
    }
}
