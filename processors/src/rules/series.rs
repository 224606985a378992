//! What the processors remember of one metric of one server: a baseline (exponentially weighted
//! mean and mean absolute deviation, robust enough for "abnormal for this server"), a window
//! of recent points whose least-squares line gives the trend used for leak and full-disk
//! forecasts, and (for seasonal rules) a daily profile: the highest value of each hour of the
//! last days, so that a call centre's usual morning peak is known as usual.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Weight of a new value in the baseline: about the last 20 values count.
const BASELINE_WEIGHT: f64 = 0.05;
/// A mean absolute deviation scaled by this estimates a standard deviation for normal data.
const MAD_TO_SIGMA: f64 = 1.25;
/// Points kept for the trend.
const TREND_POINTS: usize = 32;
const DAY_MS: f64 = 86_400_000.0;
const HOUR_MS: i64 = 3_600_000;
/// Days of each hour's highest value a daily profile keeps.
const PROFILE_DAYS: usize = 4;
/// Earlier days an hour needs before the profile says what is usual then.
pub const PROFILE_MIN_DAYS: usize = 2;
/// Hours of a profile: 24 of weekdays, 24 of weekends (a Saturday peak is not a Monday's).
const PROFILE_SLOTS: usize = 48;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Series {
    /// Values the baseline has learnt from.
    pub learnt: u32,
    mean: f64,
    deviation: f64,
    /// (event time in ms, value), oldest first, at least `min_spacing_ms` apart.
    points: VecDeque<(i64, f64)>,
    /// Kept only for signals a seasonal rule reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    profile: Option<Box<DailyProfile>>,
    /// The newest value, kept only for signals a draining-aware rule reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<f64>,
}

/// Each hour's highest value on the last [`PROFILE_DAYS`] days it was seen, weekdays and
/// weekends apart (UTC hours: a server's peak keeps its UTC hour but for daylight saving, which
/// the neighbouring hours absorb).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DailyProfile {
    /// Per slot: (day number since 1970, that day's highest value in the hour), oldest first.
    slots: Vec<Vec<(i64, f64)>>,
}

impl DailyProfile {
    fn record(&mut self, at_ms: i64, value: f64) {
        if self.slots.len() < PROFILE_SLOTS {
            self.slots.resize(PROFILE_SLOTS, Vec::new());
        }
        let (day, slot) = day_and_slot(at_ms);
        let days = &mut self.slots[slot];
        match days.last_mut() {
            Some((last, highest)) if *last == day => *highest = highest.max(value),
            Some((last, _)) if *last > day => {} // a late beat of a day already passed
            _ => {
                days.push((day, value));
                if days.len() > PROFILE_DAYS {
                    days.remove(0);
                }
            }
        }
    }

    /// The usual highest value around this hour on earlier days of its kind: per earlier day
    /// the highest of this hour and its two neighbours, then the lower median of those days (one
    /// bad day among them does not make its fault usual). `None` until [`PROFILE_MIN_DAYS`]
    /// earlier days were seen; today's own values never count.
    pub fn usual_peak(&self, at_ms: i64) -> Option<f64> {
        // per earlier day, counted back from now (1: yesterday): the hour before, this hour and
        // the hour after, each of its own day and slot (across midnight: the day before or
        // after, a weekday or a weekend)
        let mut by_days_back: Vec<(i64, f64)> = Vec::new();
        for offset in [-HOUR_MS, 0, HOUR_MS] {
            let (today, slot) = day_and_slot(at_ms + offset);
            for &(day, highest) in self.slots.get(slot).into_iter().flatten() {
                if day >= today {
                    continue;
                }
                let back = today - day;
                match by_days_back.iter_mut().find(|(seen, _)| *seen == back) {
                    Some((_, max)) => *max = max.max(highest),
                    None => by_days_back.push((back, highest)),
                }
            }
        }
        // the newest days only
        by_days_back.sort_by_key(|&(back, _)| back);
        by_days_back.truncate(PROFILE_DAYS);
        if by_days_back.len() < PROFILE_MIN_DAYS {
            return None;
        }
        let mut peaks: Vec<f64> = by_days_back.into_iter().map(|(_, max)| max).collect();
        peaks.sort_by(f64::total_cmp);
        Some(peaks[(peaks.len() - 1) / 2])
    }
}

/// The day number (UTC) of `at_ms` and its profile slot: the hour, plus 24 on Saturdays and
/// Sundays.
fn day_and_slot(at_ms: i64) -> (i64, usize) {
    let day = at_ms.div_euclid(DAY_MS as i64);
    let hour = (at_ms.rem_euclid(DAY_MS as i64) / HOUR_MS) as usize;
    // 1970-01-01 was a Thursday: Monday is 0
    let weekend = (day + 3).rem_euclid(7) >= 5;
    (day, hour + if weekend { 24 } else { 0 })
}

/// The usual level of a series and how much it usually strays from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub learnt: u32,
    pub mean: f64,
    /// An estimate of the standard deviation.
    pub spread: f64,
}

/// The least-squares line through the recent points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub points: usize,
    /// Change per day.
    pub slope_per_day: f64,
    /// How well a straight line explains the points (0…1).
    pub fit: f64,
    /// The line's value at the newest point.
    pub current: f64,
    /// The oldest point's value.
    pub first: f64,
}

impl Series {
    pub fn baseline(&self) -> Baseline {
        Baseline {
            learnt: self.learnt,
            mean: self.mean,
            spread: self.deviation * MAD_TO_SIGMA,
        }
    }

    /// Lets `value` shape the baseline.
    pub fn learn(&mut self, value: f64) {
        if self.learnt == 0 {
            self.mean = value;
            self.deviation = 0.0;
        } else {
            let weight = BASELINE_WEIGHT.max(1.0 / f64::from(self.learnt + 1));
            self.deviation += weight * ((value - self.mean).abs() - self.deviation);
            self.mean += weight * (value - self.mean);
        }
        self.learnt = self.learnt.saturating_add(1);
    }

    /// Adds a point to the trend window. Points stay `min_spacing_ms` apart but for the newest,
    /// which a closer point replaces: frequent beats do not shrink the window's span. A point
    /// older than the newest (a redelivered beat) is ignored.
    pub fn record(&mut self, at_ms: i64, value: f64, min_spacing_ms: i64) {
        if self
            .points
            .back()
            .is_some_and(|&(last_at, _)| at_ms < last_at)
        {
            return;
        }
        let n = self.points.len();
        if n >= 2 && at_ms - self.points[n - 2].0 < min_spacing_ms {
            self.points[n - 1] = (at_ms, value);
        } else {
            self.points.push_back((at_ms, value));
        }
        while self.points.len() > TREND_POINTS {
            self.points.pop_front();
        }
    }

    /// Adds `value` to the daily profile (started at the first call).
    pub fn record_seasonal(&mut self, at_ms: i64, value: f64) {
        self.profile
            .get_or_insert_with(Default::default)
            .record(at_ms, value);
    }

    /// What this server usually peaks at around this hour ([`DailyProfile::usual_peak`]).
    pub fn usual_peak(&self, at_ms: i64) -> Option<f64> {
        self.profile.as_ref()?.usual_peak(at_ms)
    }

    /// Remembers `value` as the newest (queue rules) and answers the one before it.
    pub fn replace_last(&mut self, value: f64) -> Option<f64> {
        self.last.replace(value)
    }

    /// The line through every point of the window.
    pub fn trend(&self) -> Option<Trend> {
        self.trend_of_newest(self.points.len())
    }

    /// The line through the newest `count` points: a leak that began an hour ago is a steep
    /// line through the last hours, but barely tilts one through a long flat history.
    pub fn trend_of_newest(&self, count: usize) -> Option<Trend> {
        let skip = self.points.len().saturating_sub(count);
        // two passes over the newest points in place (no copies: judged on every beat)
        let points = || self.points.range(skip..);
        let n = points().len();
        if n < 2 {
            return None;
        }
        let origin = self.points[skip].0;
        let x_of = |at: i64| (at - origin) as f64 / DAY_MS;
        let mean_x = points().map(|(at, _)| x_of(*at)).sum::<f64>() / n as f64;
        let mean_y = points().map(|(_, value)| *value).sum::<f64>() / n as f64;
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for (at, y) in points() {
            let x = x_of(*at);
            sxx += (x - mean_x) * (x - mean_x);
            sxy += (x - mean_x) * (y - mean_y);
            syy += (y - mean_y) * (y - mean_y);
        }
        if sxx == 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        // A flat, noiseless series is perfectly explained by its (flat) line.
        let fit = if syy == 0.0 {
            1.0
        } else {
            (sxy * sxy) / (sxx * syy)
        };
        Some(Trend {
            points: n,
            slope_per_day: slope,
            fit,
            current: mean_y + slope * (x_of(self.points[self.points.len() - 1].0) - mean_x),
            first: self.points[skip].1,
        })
    }
}

impl Trend {
    /// Days until the line reaches `limit`; `None` when it is heading away from it.
    pub fn days_until(&self, limit: f64) -> Option<f64> {
        let distance = limit - self.current;
        if distance == 0.0 {
            return Some(0.0);
        }
        if self.slope_per_day == 0.0 || distance.signum() != self.slope_per_day.signum() {
            return None;
        }
        Some(distance / self.slope_per_day)
    }
}

/// The series of one installation, by node, signal and subject: nested, so that one beat's
/// lookups and clean-up touch only its own node and signal, without building keys. Kept in the
/// state as a flat list of ((node, signal, subject), series).
/// Looked up several times per beat: foldhash, not SipHash (which was a tenth of the
/// processors' CPU under load with `memcmp`; the keys come from authenticated servers only).
type Map<K, V> = foldhash::HashMap<K, V>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    series: Map<String, Map<String, Map<String, Series>>>,
    /// Subjects not remembered since the last look because their signal's series were full
    /// (counted in a metric; not part of the state).
    pub not_remembered: u64,
}

impl History {
    /// A subject's series, made when missing, without the signal's limit: the tests' set-up
    /// (the rules go through [`History::signal`]).
    #[cfg(test)]
    pub fn series(&mut self, node: &str, signal: &str, subject: &str) -> &mut Series {
        let subjects = subjects_of(&mut self.series, node, signal);
        if !subjects.contains_key(subject) {
            subjects.insert(subject.to_string(), Series::default());
        }
        subjects.get_mut(subject).expect("present")
    }

    /// The series of `node`'s subjects of `signal`, looked up once for all subjects of a beat;
    /// at most `limit` of them are remembered.
    pub fn signal(&mut self, node: &str, signal: &str, limit: usize) -> SignalSeries<'_> {
        SignalSeries {
            subjects: subjects_of(&mut self.series, node, signal),
            limit,
            not_remembered: &mut self.not_remembered,
        }
    }

    /// Drops the maps of `node`'s `signal` (and of `node`) when they hold no series: a
    /// signal looked up but not remembered leaves nothing in the state.
    pub fn forget_if_empty(&mut self, node: &str, signal: &str) {
        let Some(signals) = self.series.get_mut(node) else {
            return;
        };
        if signals.get(signal).is_some_and(Map::is_empty) {
            signals.remove(signal);
        }
        if signals.is_empty() {
            self.series.remove(node);
        }
    }

    pub fn len(&self) -> usize {
        self.series
            .values()
            .flat_map(|signals| signals.values())
            .map(Map::len)
            .sum()
    }

    /// Forgets the series of `node`'s subjects that a beat judged on a signal of `reported`
    /// no longer carries (a process that exited, a disk removed): state stays bounded by what
    /// the server runs now, not by everything it ever ran.
    pub fn forget_unreported(&mut self, node: &str, reported: &Map<&str, foldhash::HashSet<&str>>) {
        let Some(signals) = self.series.get_mut(node) else {
            return;
        };
        for (signal, subjects) in signals.iter_mut() {
            if let Some(kept) = reported.get(signal.as_str()) {
                subjects.retain(|subject, _| kept.contains(subject.as_str()));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The series map of `node`'s `signal`, made when missing (keys copied only then).
fn subjects_of<'h>(
    series: &'h mut Map<String, Map<String, Map<String, Series>>>,
    node: &str,
    signal: &str,
) -> &'h mut Map<String, Series> {
    let signals = match series.get_mut(node) {
        Some(_) => series.get_mut(node).expect("present"),
        None => series.entry(node.to_string()).or_default(),
    };
    match signals.get_mut(signal) {
        Some(_) => signals.get_mut(signal).expect("present"),
        None => signals.entry(signal.to_string()).or_default(),
    }
}

/// One node's series of one signal ([`History::signal`]).
pub struct SignalSeries<'h> {
    subjects: &'h mut Map<String, Series>,
    limit: usize,
    not_remembered: &'h mut u64,
}

impl SignalSeries<'_> {
    /// The series of `subject`: remembered, or new while the signal has room; `None` (and
    /// counted) beyond it.
    pub fn series(&mut self, subject: &str) -> Option<&mut Series> {
        if !self.subjects.contains_key(subject) {
            if self.subjects.len() >= self.limit {
                *self.not_remembered += 1;
                return None;
            }
            self.subjects.insert(subject.to_string(), Series::default());
        }
        self.subjects.get_mut(subject)
    }
}

impl Serialize for History {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            series: Vec<((&'a str, &'a str, &'a str), &'a Series)>,
        }
        let mut series = Vec::with_capacity(self.len());
        for (node, signals) in &self.series {
            for (signal, subjects) in signals {
                for (subject, values) in subjects {
                    series.push(((node.as_str(), signal.as_str(), subject.as_str()), values));
                }
            }
        }
        Flat { series }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for History {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Flat {
            #[serde(default)]
            series: Vec<((String, String, String), Series)>,
        }
        let mut history = History::default();
        for ((node, signal, subject), values) in Flat::deserialize(deserializer)?.series {
            history
                .series
                .entry(node)
                .or_default()
                .entry(signal)
                .or_default()
                .insert(subject, values);
        }
        Ok(history)
    }
}

/// Tuple-keyed maps as lists of entries: JSON object keys must be strings.
mod keyed {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<'m, M, K, V, S>(map: &'m M, serializer: S) -> Result<S::Ok, S::Error>
    where
        &'m M: IntoIterator<Item = (&'m K, &'m V)>,
        K: Serialize + 'm,
        V: Serialize + 'm,
        S: Serializer,
    {
        serializer.collect_seq(map)
    }

    pub fn deserialize<'de, M, K, V, D>(deserializer: D) -> Result<M, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

pub use keyed::{deserialize as deserialize_keyed, serialize as serialize_keyed};

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    /// Thursday 2026-11-19 00:00 UTC.
    const THURSDAY: i64 = 1_795_046_400_000;

    #[test]
    fn a_signal_remembers_at_most_its_limit_of_subjects_and_counts_the_others() {
        let mut history = History::default();
        let mut signal = history.signal("node", "process_handle_count", 2);
        signal.series("process a").unwrap().learn(1.0);
        assert!(signal.series("process b").is_some());
        assert!(signal.series("process c").is_none(), "beyond the limit");
        assert!(signal.series("process a").is_some(), "remembered ones stay");
        assert!(signal.series("process d").is_none());
        assert_eq!(history.not_remembered, 2);
        assert_eq!(history.len(), 2);
    }

    #[test]
    fn a_signal_looked_up_without_a_series_leaves_nothing_behind() {
        let mut history = History::default();
        history.series("node", "disk_free_percent", "disk C:");
        let _ = history.signal("node", "process_handle_count", 300);
        let _ = history.signal("other node", "process_handle_count", 300);
        history.forget_if_empty("node", "process_handle_count");
        history.forget_if_empty("other node", "process_handle_count");
        let mut expected = History::default();
        expected.series("node", "disk_free_percent", "disk C:");
        assert_eq!(history, expected);
        // a signal with series is kept
        history.forget_if_empty("node", "disk_free_percent");
        assert_eq!(history, expected);
    }

    /// A day of 5-minute values: `peak` from 08:30 to 10:00, 3 otherwise.
    fn a_day_with_a_morning_peak(series: &mut Series, midnight: i64, peak: f64) {
        for minute in (0..24 * 60).step_by(5) {
            let value = if (510..600).contains(&minute) {
                peak
            } else {
                3.0
            };
            series.record_seasonal(midnight + minute * 60_000, value);
        }
    }

    #[test]
    fn the_profile_knows_an_hours_usual_peak_from_earlier_days_only() {
        assert_eq!(day_and_slot(THURSDAY + 9 * HOUR).1, 9);
        assert_eq!(
            day_and_slot(THURSDAY + 2 * DAY_MS as i64 + 9 * HOUR).1,
            33,
            "a Saturday"
        );
        let mut series = Series::default();
        a_day_with_a_morning_peak(&mut series, THURSDAY - 2 * DAY_MS as i64, 24.0);
        let nine_today = THURSDAY + 9 * HOUR;
        assert_eq!(
            series.usual_peak(nine_today),
            None,
            "one earlier day is not enough"
        );
        a_day_with_a_morning_peak(&mut series, THURSDAY - DAY_MS as i64, 26.0);
        // two earlier days: the lower of their peaks; 07:00 neighbours 08:00, which saw 3
        assert_eq!(series.usual_peak(nine_today), Some(24.0));
        assert_eq!(
            series.usual_peak(THURSDAY + 7 * HOUR),
            Some(24.0),
            "08:30 is a neighbour"
        );
        assert_eq!(series.usual_peak(THURSDAY + 14 * HOUR), Some(3.0));
        // today's own values never make themselves usual
        series.record_seasonal(nine_today, 55.0);
        assert_eq!(series.usual_peak(nine_today + 5 * 60_000), Some(24.0));
        // one bad day among three does not make its fault usual
        let mut series = Series::default();
        for (days_ago, peak) in [(3, 24.0), (2, 55.0), (1, 25.0)] {
            a_day_with_a_morning_peak(&mut series, THURSDAY - days_ago * DAY_MS as i64, peak);
        }
        assert_eq!(series.usual_peak(nine_today), Some(25.0));
        // just after midnight the hour before is last night's, which is today's window: of the
        // 23:30s on Monday (30), Tuesday (40) and Wednesday (70, an hour ago), only the first
        // two are earlier days
        let mut series = Series::default();
        for (days_ago, value) in [(3, 30.0), (2, 40.0), (1, 70.0)] {
            let midnight = THURSDAY - (days_ago - 1) * DAY_MS as i64;
            series.record_seasonal(midnight - HOUR_MS / 2, value);
        }
        assert_eq!(series.usual_peak(THURSDAY + HOUR_MS / 2), Some(30.0));
        // a Saturday morning has no usual peak yet: weekdays are not weekends
        assert_eq!(
            series.usual_peak(THURSDAY + 2 * DAY_MS as i64 + 9 * HOUR),
            None
        );
    }

    #[test]
    fn the_baseline_follows_the_usual_level_and_spread() {
        let mut series = Series::default();
        for value in [10.0, 12.0, 8.0, 11.0, 9.0].iter().cycle().take(200) {
            series.learn(*value);
        }
        let baseline = series.baseline();
        assert!((baseline.mean - 10.0).abs() < 1.0, "{baseline:?}");
        assert!(
            baseline.spread > 0.8 && baseline.spread < 2.5,
            "{baseline:?}"
        );
        assert_eq!(baseline.learnt, 200);
    }

    #[test]
    fn a_steady_decline_is_forecast_to_reach_the_limit() {
        let mut series = Series::default();
        // 40 % free, losing 1 % every 6 hours: 4 %/day, 0 % in about 10 days from the last point.
        for step in 0..24 {
            let noise = if step % 2 == 0 { 0.1 } else { -0.1 };
            series.record(step * 6 * HOUR, 40.0 - step as f64 + noise, HOUR);
        }
        let trend = series.trend().unwrap();
        assert_eq!(trend.points, 24);
        assert!((trend.slope_per_day + 4.0).abs() < 0.05, "{trend:?}");
        assert!(trend.fit > 0.99, "{trend:?}");
        let days = trend.days_until(0.0).unwrap();
        assert!((days - 4.25).abs() < 0.1, "{days}");
        assert_eq!(trend.days_until(100.0), None, "heading away");
    }

    #[test]
    fn a_recent_leak_shows_in_the_newest_points_not_in_the_whole_window() {
        let mut series = Series::default();
        // Twenty flat quarter hours with a little noise, then twelve rising ones.
        for i in 0..32_i64 {
            let noise = if i % 2 == 0 { 0.1 } else { -0.1 };
            let value = 10.0 + noise + if i >= 20 { (i - 19) as f64 } else { 0.0 };
            series.record(i * HOUR / 4, value, HOUR / 4);
        }
        let whole = series.trend().unwrap();
        let recent = series.trend_of_newest(12).unwrap();
        assert!(whole.fit < 0.8, "{whole:?}");
        assert_eq!(recent.points, 12);
        assert!(
            recent.fit > 0.99 && (recent.slope_per_day - 96.0).abs() < 1.0,
            "{recent:?}"
        );
    }

    #[test]
    fn close_points_replace_the_newest_and_old_points_leave_the_window() {
        let mut series = Series::default();
        series.record(0, 1.0, HOUR);
        series.record(HOUR, 2.0, HOUR);
        series.record(HOUR + 10, 3.0, HOUR);
        series.record(HOUR + 20, 4.0, HOUR);
        assert_eq!(series.points, [(0, 1.0), (HOUR, 2.0), (HOUR + 20, 4.0)]);
        series.record(HOUR, 9.0, HOUR);
        assert_eq!(series.points.len(), 3, "an older point is ignored");
        for step in 2..100 {
            series.record(step * HOUR + 30, step as f64, HOUR);
        }
        assert_eq!(series.points.len(), TREND_POINTS);
    }

    #[test]
    fn noise_has_a_poor_fit() {
        let mut series = Series::default();
        for (step, value) in [5.0, 50.0, 7.0, 48.0, 3.0, 52.0, 6.0, 49.0]
            .iter()
            .enumerate()
        {
            series.record(step as i64 * HOUR, *value, HOUR);
        }
        assert!(series.trend().unwrap().fit < 0.2);
    }

    #[test]
    fn history_survives_json() {
        let mut history = History::default();
        history.series("n", "s", "disk C:").learn(3.0);
        history.series("n", "s", "disk C:").record(5, 3.0, 1);
        let text = serde_json::to_string(&history).unwrap();
        assert_eq!(serde_json::from_str::<History>(&text).unwrap(), history);
    }
}
