//! The rule library: `processors/rules.toml` parsed and checked. A library that does not
//! validate is refused as a whole, so a typo never disables rules silently.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;
use ucx_schemas::registry::ContractTier;
use ucx_schemas::{Beat, Severity};

use super::peers::{PeerFigures, Peers};
use super::series::{Baseline, History, Series};
use super::signals::{Facts, Signal};
use super::Finding;

/// The library shipped in the repository; used when no `rules_file` is configured.
pub const BUILT_IN: &str = include_str!("../../rules.toml");

/// Subjects of one signal remembered per node (processes, disks): a server runs a few hundred
/// processes; a beat with thousands of names must not make the state record outgrow the broker.
pub const MAX_SERIES_PER_SIGNAL: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    #[error("rule {id}: {problem}")]
    Invalid { id: String, problem: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleLibrary {
    pub library_version: u32,
    /// Trend points of a series are kept at least this far apart (event time).
    #[serde(default = "default_trend_spacing_minutes")]
    pub trend_spacing_minutes: u32,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
    /// Some rule entries apply to part of the fleet only (`rollout`): which ones are in force
    /// depends on the installation (set by `parse`).
    #[serde(skip)]
    staged: bool,
}

/// Whether a rule's alerts are real (`live`) or recorded for comparison only (`shadow`: support
/// sees them with `suppressed_by = 'shadow'`, nobody is mailed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Live,
    Shadow,
}

/// A tier as the rule library spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierName {
    Basic,
    Gold,
    Platinum,
}

impl TierName {
    fn tier(self) -> ContractTier {
        match self {
            TierName::Basic => ContractTier::Basic,
            TierName::Gold => ContractTier::Gold,
            TierName::Platinum => ContractTier::Platinum,
        }
    }
}

/// The installations a rule entry is in force for while a change rolls out: those of `tiers`
/// (all when empty) and, of those, `share` percent (all when absent), picked by a stable hash
/// of the installation id, so raising the share keeps the installations already in.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    #[serde(default)]
    pub tiers: Vec<TierName>,
    pub share: Option<f64>,
}

impl Rollout {
    /// An installation of no known customer is judged as Basic.
    pub fn includes(&self, tier: Option<ContractTier>, installation_id: &str) -> bool {
        let tier = tier.unwrap_or(ContractTier::Basic);
        (self.tiers.is_empty() || self.tiers.iter().any(|t| t.tier() == tier))
            && self
                .share
                .is_none_or(|share| share_bucket(installation_id) < share)
    }
}

/// Where an installation stands in a percentage rollout: 0 ≤ bucket < 100, the same for every
/// rule and every run (a name-based UUID of its id).
pub fn share_bucket(installation_id: &str) -> f64 {
    let uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, installation_id.as_bytes());
    let bytes = uuid.as_bytes();
    let draw = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    f64::from(draw % 10_000) / 100.0
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Below,
    Above,
    True,
    /// Further above this server's own baseline than `warning`/`critical` deviations.
    AboveBaseline,
    /// The trend reaches `limit` within `warning`/`critical` days.
    Forecast,
    /// Further above the median of servers like this one (its peer group) than
    /// `warning`/`critical` deviations, once `min_peers` of them are known.
    AbovePeers,
}

impl When {
    /// Judged against what earlier beats of the server showed.
    pub fn needs_history(self) -> bool {
        matches!(self, When::AboveBaseline | When::Forecast)
    }
}

/// A threshold for every tier, or one per tier (Platinum may be stricter).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Same(f64),
    PerTier {
        basic: f64,
        gold: f64,
        platinum: f64,
    },
}

impl Threshold {
    /// The tier's threshold; an installation of no known customer is judged as Basic.
    pub fn for_tier(self, tier: Option<ContractTier>) -> f64 {
        match self {
            Threshold::Same(value) => value,
            Threshold::PerTier {
                basic,
                gold,
                platinum,
            } => match tier {
                Some(ContractTier::Platinum) => platinum,
                Some(ContractTier::Gold) => gold,
                Some(ContractTier::Basic) | None => basic,
            },
        }
    }
}

fn one() -> u32 {
    1
}

fn default_trend_spacing_minutes() -> u32 {
    15
}

/// Below this many learnt values (baseline) or trend points (forecast) a rule stays quiet.
const DEFAULT_WARM_UP: u32 = 12;
/// A queue at most this share of its previous value is draining.
const DRAINING_FACTOR: f64 = 0.9;
/// Servers of a peer group besides the one judged, when a rule names no `min_peers`.
const DEFAULT_MIN_PEERS: u32 = 5;
/// A forecast needs a trend a straight line explains this well (R²).
const DEFAULT_MIN_FIT: f64 = 0.8;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub version: i32,
    pub signal: Signal,
    pub when: When,
    pub warning: Option<Threshold>,
    pub critical: Option<Threshold>,
    /// The severity of a `when = "true"` rule.
    pub severity: Option<Severity>,
    /// Consecutive bad beats before an alert opens.
    #[serde(default = "one")]
    pub for_beats: u32,
    /// Consecutive good beats before it resolves.
    #[serde(default = "one")]
    pub clear_beats: u32,
    /// Hysteresis: a healthy value counts towards resolving only this far on the healthy side of
    /// the warning threshold (in the rule's units: percent, days, deviations); in between it
    /// neither opens nor resolves, so a value sitting at the threshold does not flap.
    #[serde(default)]
    pub clear_margin: f64,
    /// Only these subjects are judged; all when empty.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Baseline and forecast rules: values (or trend points) needed before they judge.
    pub warm_up: Option<u32>,
    /// Baseline rules: the smallest spread assumed, so that a series that never moved is not
    /// "infinitely abnormal" on its first small change.
    pub min_spread: Option<f64>,
    /// Peer rules: servers of the group needed (besides the one judged) before it judges.
    pub min_peers: Option<u32>,
    /// Forecast rules: the value the trend must not reach (0 for free space, 100 for a limit).
    pub limit: Option<f64>,
    /// Forecast rules: how well a straight line must explain the points (R², 0…1).
    pub min_fit: Option<f64>,
    /// Disk rules: a disk with more than this many GiB free is not low, whatever its
    /// percentage (a 2 TB volume at 12 % still has 245 GB).
    pub healthy_above_gib: Option<f64>,
    /// Seasonal `above` and `above_baseline` rules: a warning-level value at most this fraction
    /// above what the server usually peaks at around this hour on earlier days of its kind
    /// (weekday, weekend) is usual, not bad (`0.25`: up to 25 % above). A critical threshold is
    /// absolute and still fires. Until two earlier days were seen, the rule judges as without it.
    pub seasonal: Option<f64>,
    /// Queue rules: a value a tenth or more lower than the one before is a queue being worked
    /// off (a fax broadcast draining), neither bad nor resolving.
    #[serde(default)]
    pub draining_is_healthy: bool,
    /// Correlation group: open alerts of rules of one group on one installation are one
    /// incident (e.g. `storage`: disk low, disk forecast, database near its limit).
    #[serde(default)]
    pub group: Option<String>,
    /// `shadow`: judged and recorded, never mailed (see [`Mode`]).
    #[serde(default)]
    pub mode: Mode,
    /// A shadow rule: the rule in force it is a candidate to replace (for the comparison).
    pub shadow_of: Option<String>,
    /// A staged change: this entry is in force only for these installations; the entry of the
    /// same id without `rollout` (if any) for the others.
    pub rollout: Option<Rollout>,
    pub summary: String,
    pub explanation: String,
    /// `summary`, `explanation` and `limit`, shared with the rule's findings (set by `parse`).
    #[serde(skip)]
    pub text: Arc<RuleText>,
    /// `id`, shared with the rule's findings (set by `parse`): one finding per rule and subject
    /// of every beat, no copy of the id each.
    #[serde(skip)]
    pub shared_id: Arc<str>,
}

/// What a rule says about its findings.
#[derive(Debug, Default, PartialEq)]
pub struct RuleText {
    pub summary: String,
    pub explanation: String,
    pub limit: Option<f64>,
    /// The rule's correlation group ('' for none).
    pub group: String,
    /// A forecast rule: its threshold is days, its value a trend.
    pub forecast: bool,
    /// A yes/no rule (`when = "true"`): its value is 0 or 1, no figure worth printing.
    pub flag: bool,
}

impl RuleLibrary {
    pub fn parse(text: &str) -> Result<Self, LibraryError> {
        let library: RuleLibrary = toml::from_str(text)?;
        library.checked()
    }

    /// The library without its shadow rules: what is live.
    pub fn live_only(&self) -> Result<Self, LibraryError> {
        let mut library = self.clone();
        library.rules.retain(|rule| rule.mode == Mode::Live);
        library.checked()
    }

    /// The library as it would be with its shadow rules enabled in place of the rules they
    /// shadow (`shadow_of`, under that id; a shadow rule of no `shadow_of` under its own).
    pub fn shadows_enabled(&self) -> Result<Self, LibraryError> {
        let replaced: HashSet<&str> = self
            .rules
            .iter()
            .filter_map(|rule| rule.shadow_of.as_deref())
            .collect();
        let mut library = self.clone();
        library
            .rules
            .retain(|rule| rule.mode == Mode::Shadow || !replaced.contains(rule.id.as_str()));
        for rule in &mut library.rules {
            if rule.mode == Mode::Shadow {
                rule.mode = Mode::Live;
                if let Some(live) = rule.shadow_of.take() {
                    rule.id = live;
                }
            }
        }
        library.checked()
    }

    /// Fills in what follows from the rules and checks them.
    fn checked(self) -> Result<Self, LibraryError> {
        let mut library = self;
        for rule in &mut library.rules {
            rule.shared_id = Arc::from(rule.id.as_str());
            rule.text = Arc::new(RuleText {
                summary: rule.summary.clone(),
                explanation: rule.explanation.clone(),
                limit: rule.limit,
                // a shadow rule's alerts are no part of the incidents support and customers see
                group: match rule.mode {
                    Mode::Live => rule.group.clone().unwrap_or_default(),
                    Mode::Shadow => String::new(),
                },
                forecast: rule.when == When::Forecast,
                flag: rule.when == When::True,
            });
        }
        library.staged = library.rules.iter().any(|rule| rule.rollout.is_some());
        let mut for_everyone = HashSet::new();
        let mut versions = HashSet::new();
        for rule in &library.rules {
            let invalid = |problem: &str| LibraryError::Invalid {
                id: rule.id.clone(),
                problem: problem.to_string(),
            };
            if rule.rollout.is_none() && !for_everyone.insert(rule.id.as_str()) {
                return Err(invalid("the id is used twice (a staged change: give the new entry a rollout and its own version)"));
            }
            if !versions.insert((rule.id.as_str(), rule.version)) {
                return Err(invalid("two entries of this id have the same version: bump the version of the changed one"));
            }
            if let Some(rollout) = &rule.rollout {
                if rollout.tiers.is_empty() && rollout.share.is_none() {
                    return Err(invalid("rollout needs tiers, a share, or both"));
                }
                if rollout
                    .share
                    .is_some_and(|share| !(0.0..=100.0).contains(&share))
                {
                    return Err(invalid("rollout share is a percentage, 0 to 100"));
                }
            }
            if (rule.seasonal.is_some() || rule.draining_is_healthy)
                && !matches!(rule.when, When::Above | When::AboveBaseline)
            {
                return Err(invalid(
                    "seasonal and draining_is_healthy belong to above and above_baseline rules",
                ));
            }
            if rule
                .seasonal
                .is_some_and(|tolerance| !(0.0..=10.0).contains(&tolerance))
            {
                return Err(invalid(
                    "seasonal is a fraction above the usual peak, 0 to 10 (0.25: 25 %)",
                ));
            }
            if rule.healthy_above_gib.is_some() && rule.signal != Signal::DiskFreePercent {
                return Err(invalid(
                    "healthy_above_gib belongs to disk_free_percent rules",
                ));
            }
            if rule.shadow_of.is_some() && rule.mode != Mode::Shadow {
                return Err(invalid("shadow_of belongs to mode = \"shadow\" rules"));
            }
            if !(rule.clear_margin >= 0.0 && rule.clear_margin.is_finite()) {
                return Err(invalid("clear_margin must be 0 or more"));
            }
            if rule.for_beats == 0 || rule.clear_beats == 0 {
                return Err(invalid("for_beats and clear_beats must be at least 1"));
            }
            match rule.when {
                When::True if rule.severity.is_none() => {
                    return Err(invalid("when = \"true\" needs a severity"))
                }
                When::True if rule.warning.is_some() || rule.critical.is_some() => {
                    return Err(invalid("when = \"true\" takes no thresholds"))
                }
                When::True => {}
                _ if rule.warning.is_none() && rule.critical.is_none() => {
                    return Err(invalid("needs a warning or a critical threshold"))
                }
                _ if rule.severity.is_some() => {
                    return Err(invalid("severity comes from the thresholds here"))
                }
                When::Forecast if rule.limit.is_none() => {
                    return Err(invalid("when = \"forecast\" needs a limit"))
                }
                _ => {}
            }
            let history_only =
                rule.warm_up.is_some() || rule.limit.is_some() || rule.min_fit.is_some();
            if history_only && !rule.when.needs_history() {
                return Err(invalid(
                    "warm_up, limit and min_fit belong to baseline and forecast rules",
                ));
            }
            if rule.min_spread.is_some()
                && !(rule.when.needs_history() || rule.when == When::AbovePeers)
            {
                return Err(invalid(
                    "min_spread belongs to baseline, forecast and peer rules",
                ));
            }
            if rule.min_peers.is_some() && rule.when != When::AbovePeers {
                return Err(invalid("min_peers belongs to above_peers rules"));
            }
            if let (Some(warning), Some(critical)) = (rule.warning, rule.critical) {
                for tier in [
                    ContractTier::Basic,
                    ContractTier::Gold,
                    ContractTier::Platinum,
                ] {
                    let (w, c) = (warning.for_tier(Some(tier)), critical.for_tier(Some(tier)));
                    // forecasts count days left: fewer is worse
                    let ordered = match rule.when {
                        When::Below | When::Forecast => c <= w,
                        _ => c >= w,
                    };
                    if !ordered {
                        return Err(invalid(&format!(
                            "the critical threshold ({c}) is milder than the warning ({w}) for {}",
                            tier.as_str()
                        )));
                    }
                }
            }
        }
        for rule in &library.rules {
            let invalid = |problem: String| LibraryError::Invalid {
                id: rule.id.clone(),
                problem,
            };
            let siblings = library.rules.iter().filter(|other| other.id == rule.id);
            if siblings.clone().any(|other| other.mode != rule.mode) {
                return Err(invalid("a shadow rule needs an id of its own; name the rule it would replace in shadow_of".into()));
            }
            if let Some(live) = &rule.shadow_of {
                if !library
                    .rules
                    .iter()
                    .any(|other| &other.id == live && other.mode == Mode::Live)
                {
                    return Err(invalid(format!(
                        "shadow_of names {live}, which is no live rule of the library"
                    )));
                }
            }
        }
        Ok(library)
    }

    /// Which entries are in force for an installation; `None`: all of them (no staged change).
    /// A rollout entry that includes it wins (the first, in file order), the entry of the same
    /// id without a rollout serves the rest.
    pub fn in_force(&self, tier: Option<ContractTier>, installation_id: &str) -> Option<Vec<bool>> {
        if !self.staged {
            return None;
        }
        let mut chosen: HashSet<&str> = HashSet::new();
        let mut picks = vec![false; self.rules.len()];
        for (index, rule) in self.rules.iter().enumerate() {
            if let Some(rollout) = &rule.rollout {
                if rollout.includes(tier, installation_id) && chosen.insert(&rule.id) {
                    picks[index] = true;
                }
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.rollout.is_none() && !chosen.contains(rule.id.as_str()) {
                picks[index] = true;
            }
        }
        Some(picks)
    }

    /// The ids of the rules in force for an installation (all ids without a staged change).
    pub fn ids_in_force(&self, tier: Option<ContractTier>, installation_id: &str) -> HashSet<&str> {
        let picks = self.in_force(tier, installation_id);
        self.rules
            .iter()
            .enumerate()
            .filter(|(index, _)| picks.as_ref().is_none_or(|picks| picks[*index]))
            .map(|(_, rule)| rule.id.as_str())
            .collect()
    }

    /// Whether some rule is in force for part of the fleet only.
    pub fn is_staged(&self) -> bool {
        self.staged
    }

    /// Whether the rule `id` judges a server against its peers.
    pub fn compares_with_peers(&self, id: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.id == id && rule.when == When::AbovePeers)
    }

    /// Every rule's verdict on every subject of `beat` it reads. `history` is the server's
    /// memory: baselines and trends of the signals that baseline and forecast rules read, updated
    /// with this beat.
    pub fn evaluate(
        &self,
        beat: &Beat,
        facts: &Facts,
        tier: Option<ContractTier>,
        history: &mut History,
        mut peers: Option<&mut Peers>,
    ) -> Vec<Finding> {
        // the peer group is named (a string built) only for a beat with a compared signal
        let mut group: Option<Option<String>> = None;
        // the signals the rules read, each once, in the rules' order (a set of the signals'
        // discriminants: a scan of the list for every rule was a tenth of this function)
        let mut signals: Vec<Signal> = Vec::new();
        let mut listed = 0u64;
        for rule in &self.rules {
            let bit = 1u64
                .checked_shl(rule.signal as u32)
                .expect("at most 64 signals: widen this set for more");
            if listed & bit == 0 {
                listed |= bit;
                signals.push(rule.signal);
            }
        }
        let node = &beat.envelope.node_id;
        let picks = self.in_force(tier, &beat.envelope.installation_id);
        let in_force = |index: usize| picks.as_ref().is_none_or(|picks| picks[index]);
        let spacing_ms = i64::from(self.trend_spacing_minutes) * 60_000;
        let mut findings = Vec::new();
        // the rules of one signal in force, and of them those judging one subject: picked once
        // per signal and per subject into vectors used again (a process beat has hundreds of
        // subjects)
        let mut of_signal: Vec<&Rule> = Vec::new();
        let mut rules: Vec<&Rule> = Vec::new();
        let mut peer_rules: Vec<&Rule> = Vec::new();
        for signal in signals {
            let observations = signal.observe(beat, facts);
            if observations.is_empty() {
                continue;
            }
            of_signal.clear();
            of_signal.extend(
                self.rules
                    .iter()
                    .enumerate()
                    .filter(|(index, rule)| rule.signal == signal && in_force(*index))
                    .map(|(_, rule)| rule),
            );
            let some_by_subject = of_signal.iter().any(|rule| !rule.subjects.is_empty());
            // every server with a group is a peer, whether or not a peer rule is in force for it
            // (a tier or a staged rollout): the sample stays the whole group
            peer_rules.clear();
            peer_rules.extend(
                self.rules
                    .iter()
                    .filter(|rule| rule.when == When::AbovePeers && rule.signal == signal),
            );
            // The history of a node's subjects of one signal is bounded: the subjects
            // remembered stay, new ones join while there is room (a beat listing thousands of
            // process names cannot grow the state without bound; those beyond are judged on
            // their thresholds only, and counted). Looked up once for the signal.
            let mut remembered_series = of_signal
                .iter()
                .any(|rule| rule.needs_history())
                .then(|| history.signal(node, signal.key(), MAX_SERIES_PER_SIGNAL));
            for mut observation in observations {
                let subject = observation.subject.as_str();
                rules.clear();
                rules.extend(
                    of_signal
                        .iter()
                        .filter(|rule| !some_by_subject || rule.judges(subject))
                        .copied(),
                );
                let mut context = Context::default();
                let wants_history = rules.iter().any(|rule| rule.needs_history());
                let seasonal = rules.iter().any(|rule| rule.seasonal.is_some());
                let draining = rules.iter().any(|rule| rule.draining_is_healthy);
                let compared = peer_rules.iter().any(|rule| rule.judges(subject));
                let group = if compared && peers.is_some() {
                    group.get_or_insert_with(|| facts.peer_group()).as_deref()
                } else {
                    None
                };
                if let (Some(group), Some(peers)) = (group, peers.as_deref_mut()) {
                    let (server, at) = (&beat.envelope.installation_id, beat.envelope.sent_at);
                    context.peers = peers.figures(group, signal.key(), subject, server, at);
                    peers.record(group, signal.key(), subject, server, at, observation.value);
                }
                let mut series = match remembered_series.as_mut() {
                    Some(remembered) if wants_history => remembered.series(subject),
                    _ => None,
                };
                if let Some(series) = series.as_deref_mut() {
                    let at = beat.envelope.sent_at;
                    context.baseline = Some(series.baseline());
                    if seasonal {
                        context.usual_peak = series.usual_peak(at);
                        series.record_seasonal(at, observation.value);
                    }
                    if draining {
                        context.previous = series.replace_last(observation.value);
                    }
                    series.record(at, observation.value, spacing_ms);
                }
                context.series = series.as_deref();
                let mut abnormal = false;
                let last = rules.len().saturating_sub(1);
                for (index, rule) in rules.drain(..).enumerate() {
                    let mut verdict = rule.judge_with(observation.value, tier, &context);
                    if let (Some(floor), Some(free)) =
                        (rule.healthy_above_gib, observation.free_gib)
                    {
                        if free > floor {
                            verdict.severity = None;
                            verdict.clear = true;
                        }
                    }
                    // the baseline is the library in force's: a shadow rule does not change it
                    abnormal |= rule.mode == Mode::Live
                        && rule.when == When::AboveBaseline
                        && (verdict.severity.is_some() || verdict.excused);
                    findings.push(Finding {
                        rule_id: rule.shared_id.clone(),
                        rule_version: rule.version,
                        signal: signal.key(),
                        gone_when_absent: signal.gone_when_absent(),
                        text: rule.text.clone(),
                        verdict,
                        // the last rule's finding takes the subject, the others copy it
                        subject: if index == last {
                            std::mem::take(&mut observation.subject)
                        } else {
                            observation.subject.clone()
                        },
                        severity: verdict.severity,
                        observed_value: verdict.value,
                        threshold: verdict.threshold,
                        for_beats: rule.for_beats,
                        clear_beats: rule.clear_beats,
                        shadow: rule.mode == Mode::Shadow,
                    });
                }
                // An abnormal value does not become the new normal: a lasting jump stays abnormal.
                if let (Some(series), false) = (series, abnormal) {
                    series.learn(observation.value);
                }
            }
            if remembered_series.is_some() {
                history.forget_if_empty(node, signal.key());
            }
        }
        findings
    }
}

/// What a baseline or forecast rule judges besides the value.
#[derive(Debug, Default, Clone)]
pub struct Context<'a> {
    /// Learnt from earlier values, without this one.
    pub baseline: Option<Baseline>,
    /// The remembered points, including this value.
    pub series: Option<&'a Series>,
    /// What the server usually peaks at around this hour (seasonal rules, once known).
    pub usual_peak: Option<f64>,
    /// The value of the beat before (draining-aware rules).
    pub previous: Option<f64>,
    /// What the other servers of its peer group show (peer rules, once any reported).
    pub peers: Option<PeerFigures>,
}

/// A rule's judgement of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// `None`: healthy (or not judged yet: still warming up).
    pub severity: Option<Severity>,
    /// What was held against the threshold: the value, or days left for a forecast.
    pub value: f64,
    pub threshold: f64,
    /// The observed value itself.
    pub current: f64,
    /// The baseline's mean, the trend's change per day.
    pub baseline: Option<f64>,
    pub rate_per_day: Option<f64>,
    /// Healthy and beyond the rule's `clear_margin`: counts towards resolving an open alert.
    pub clear: bool,
    /// Peer rules: how many servers of the group the median is of.
    pub peers: Option<f64>,
    /// A bad value taken for usual at this hour (seasonal) or for a queue draining: not
    /// alerted, and not learnt into the baseline either.
    pub excused: bool,
}

impl Rule {
    /// Judged against what earlier beats of the server showed.
    fn needs_history(&self) -> bool {
        self.when.needs_history() || self.seasonal.is_some() || self.draining_is_healthy
    }

    fn judges(&self, subject: &str) -> bool {
        self.subjects.is_empty() || self.subjects.iter().any(|s| s == subject)
    }

    /// A seasonal rule's value within its tolerance of the server's usual peak at this hour.
    fn usual_at_this_hour(&self, value: f64, context: &Context<'_>) -> bool {
        match (self.seasonal, context.usual_peak) {
            (Some(tolerance), Some(usual)) => value <= usual * (1.0 + tolerance),
            _ => false,
        }
    }

    /// The severity `value` deserves (None: healthy) and the threshold it was held against.
    pub fn judge(&self, value: f64, tier: Option<ContractTier>) -> (Option<Severity>, f64) {
        let verdict = self.judge_with(value, tier, &Context::default());
        (verdict.severity, verdict.threshold)
    }

    pub fn judge_with(
        &self,
        value: f64,
        tier: Option<ContractTier>,
        context: &Context<'_>,
    ) -> Verdict {
        let critical = self.critical.map(|t| t.for_tier(tier));
        let warning = self.warning.map(|t| t.for_tier(tier));
        let warm_up = self.warm_up.unwrap_or(DEFAULT_WARM_UP);
        let mut verdict = Verdict {
            severity: None,
            value,
            threshold: warning.or(critical).unwrap_or_default(),
            current: value,
            baseline: None,
            rate_per_day: None,
            clear: true,
            peers: None,
            excused: false,
        };
        let margin = self.clear_margin;
        // The severity of the first threshold `crossed` and the threshold it crossed.
        let grade = |crossed: &dyn Fn(f64) -> bool| -> Option<(Severity, f64)> {
            critical
                .filter(|&c| crossed(c))
                .map(|c| (Severity::Critical, c))
                .or_else(|| {
                    warning
                        .filter(|&w| crossed(w))
                        .map(|w| (Severity::Warning, w))
                })
        };
        // `above_baseline` and `above_peers`: thresholds are spreads (at least `min_spread`)
        // above a centre — the server's own mean, or its peers' median
        let above_by_spreads = |verdict: &mut Verdict, centre: f64, spread: f64| {
            let spread = spread.max(self.min_spread.unwrap_or(1.0));
            let deviations = (value - centre) / spread;
            let limit_of = |k: f64| centre + k * spread;
            verdict.baseline = Some(centre);
            verdict.threshold = limit_of(warning.or(critical).unwrap_or_default());
            if let Some((severity, k)) = grade(&|k| deviations > k) {
                verdict.severity = Some(severity);
                verdict.threshold = limit_of(k);
            } else if let Some(k) = warning.or(critical) {
                verdict.clear = deviations <= k - margin;
            }
        };
        match self.when {
            When::True => {
                verdict.severity = self.severity.filter(|_| value != 0.0);
                verdict.threshold = 1.0;
            }
            When::Below | When::Above => {
                let below = self.when == When::Below;
                if let Some((severity, threshold)) =
                    grade(&|t| if below { value < t } else { value > t })
                {
                    verdict.severity = Some(severity);
                    verdict.threshold = threshold;
                } else if let Some(t) = warning.or(critical) {
                    verdict.clear = if below {
                        value >= t + margin
                    } else {
                        value <= t - margin
                    };
                }
            }
            When::AboveBaseline => {
                let Some(baseline) = context.baseline.filter(|b| b.learnt >= warm_up) else {
                    return verdict;
                };
                above_by_spreads(&mut verdict, baseline.mean, baseline.spread);
            }
            When::AbovePeers => {
                let needed = self.min_peers.unwrap_or(DEFAULT_MIN_PEERS) as usize;
                let Some(peers) = context.peers.filter(|p| p.count >= needed) else {
                    // unknown (after a restart the figures build up again): neither bad nor
                    // resolving an open alert
                    verdict.clear = false;
                    return verdict;
                };
                verdict.peers = Some(peers.count as f64);
                above_by_spreads(&mut verdict, peers.median, peers.spread);
            }
            When::Forecast => {
                let min_fit = self.min_fit.unwrap_or(DEFAULT_MIN_FIT);
                // The line through the newest `warm_up` points: the recent trend.
                let Some(trend) = context
                    .series
                    .as_ref()
                    .and_then(|series| series.trend_of_newest(warm_up as usize))
                    .filter(|t| t.points >= warm_up as usize)
                else {
                    return verdict;
                };
                if trend.fit < min_fit {
                    // no line to judge by: healthy only if what line there is does not head
                    // for the limit within the warning (a bursty fill must not resolve its alert
                    // whenever one burst spoils the fit), or if the value went back past where
                    // the window began (a reset: a restart, a clean-up)
                    let limit = self.limit.unwrap_or_default();
                    let reset = (value - trend.first).signum() == (trend.first - limit).signum()
                        && value != trend.first;
                    verdict.clear = reset
                        || match (trend.days_until(limit), warning.or(critical)) {
                            (Some(days), Some(t)) => days >= t + margin,
                            _ => true,
                        };
                    return verdict;
                }
                verdict.rate_per_day = Some(trend.slope_per_day);
                let limit = self.limit.unwrap_or_default();
                let Some(days) = trend.days_until(limit) else {
                    verdict.value = f64::INFINITY;
                    return verdict;
                };
                verdict.value = (days * 10.0).round() / 10.0;
                if let Some((severity, threshold)) = grade(&|t| days < t) {
                    verdict.severity = Some(severity);
                    verdict.threshold = threshold;
                } else if let Some(t) = warning.or(critical) {
                    verdict.clear = days >= t + margin;
                }
            }
        }
        // draining: a tenth lower than the beat before at least (a jittering stuck queue is not)
        let draining = context
            .previous
            .is_some_and(|before| value <= before * DRAINING_FACTOR);
        let usual =
            verdict.severity == Some(Severity::Warning) && self.usual_at_this_hour(value, context);
        if usual || (verdict.severity.is_some() && self.draining_is_healthy && draining) {
            verdict.severity = None;
            verdict.clear = false;
            verdict.excused = true;
        }
        verdict
    }

    #[cfg(test)]
    fn summary_of(&self, subject: &str, verdict: &Verdict) -> String {
        self.text.render(subject, verdict)
    }
}

impl RuleText {
    /// The summary with `{subject}`, `{value}`, `{threshold}`… replaced.
    pub fn render(&self, subject: &str, verdict: &Verdict) -> String {
        let optional = |value: Option<f64>| value.map(number).unwrap_or_else(|| "?".into());
        self.summary
            .replace("{subject}", subject)
            .replace("{value}", &number(verdict.value))
            .replace("{threshold}", &number(verdict.threshold))
            .replace("{current}", &number(verdict.current))
            .replace("{baseline}", &optional(verdict.baseline))
            // the words say which way ("loses", "grows"): the rate is a magnitude
            .replace("{rate}", &optional(verdict.rate_per_day.map(f64::abs)))
            .replace("{limit}", &optional(self.limit))
            .replace("{peers}", &optional(verdict.peers))
    }

    /// The summary of a resolved alert: what the value is now, not the trouble's template
    /// (whose rate or days no longer exist once the trend is gone).
    pub fn render_cleared(&self, subject: &str, verdict: &Verdict) -> String {
        if self.flag {
            format!("{subject} is back to normal")
        } else if self.forecast {
            format!(
                "{subject} is no longer heading for {} within {} days ({} now)",
                self.limit.map_or_else(|| "its limit".to_string(), number),
                number(verdict.threshold),
                number(verdict.current)
            )
        } else {
            format!(
                "{subject} is back to normal ({} now, threshold {})",
                number(verdict.current),
                number(verdict.threshold)
            )
        }
    }
}

/// `12` for whole numbers, `12.3` otherwise.
fn number(value: f64) -> String {
    // 85.0000001 (a percentage computed from bytes) reads as 85, not 85.0
    let text = format!("{value:.1}");
    match text.strip_suffix(".0") {
        Some(whole) if whole != "-0" => whole.to_string(),
        Some(_) => "0".to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::series::Series;

    fn rule_of<'a>(library: &'a RuleLibrary, id: &str) -> &'a Rule {
        library.rules.iter().find(|r| r.id == id).unwrap()
    }

    #[test]
    fn the_built_in_library_validates() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        assert!(library.rules.len() >= 15, "{}", library.rules.len());
    }

    #[test]
    fn a_bad_library_is_refused_with_the_rule_named() {
        let twice = format!("{BUILT_IN}\n[[rule]]\nid = \"memory_low\"\nversion = 1\nsignal = \"memory_available_percent\"\nwhen = \"below\"\nwarning = 1\nsummary = \"s\"\nexplanation = \"e\"\n");
        let error = RuleLibrary::parse(&twice).unwrap_err().to_string();
        assert!(
            error.contains("memory_low") && error.contains("twice"),
            "{error}"
        );

        let unknown_signal = BUILT_IN.replace("\"disk_free_percent\"", "\"disk_fullness\"");
        assert!(RuleLibrary::parse(&unknown_signal).is_err());

        let inverted = BUILT_IN.replace(
            "critical = 5\n# a disk with more",
            "critical = 50\n# a disk with more",
        );
        let error = RuleLibrary::parse(&inverted).unwrap_err().to_string();
        assert!(
            error.contains("disk_free_low") && error.contains("milder"),
            "{error}"
        );
    }

    #[test]
    fn thresholds_follow_the_tier() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let disk = rule_of(&library, "disk_free_low");
        assert_eq!(disk.judge(17.0, Some(ContractTier::Gold)), (None, 15.0));
        assert_eq!(
            disk.judge(17.0, Some(ContractTier::Platinum)),
            (Some(Severity::Warning), 20.0)
        );
        assert_eq!(disk.judge(4.0, None), (Some(Severity::Critical), 5.0));
        let verdict = disk.judge_with(4.25, None, &Context::default());
        assert_eq!(
            disk.summary_of("disk C:", &verdict),
            "disk C: has 4.2% free (threshold 5%)"
        );
    }

    #[test]
    fn summaries_read_right_for_falling_values_and_resolved_alerts() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let rule = |id: &str| library.rules.iter().find(|r| r.id == id).unwrap();
        let falling = Verdict {
            severity: Some(Severity::Warning),
            value: 12.5,
            threshold: 30.0,
            current: 40.0,
            baseline: None,
            rate_per_day: Some(-3.2),
            clear: false,
            peers: None,
            excused: false,
        };
        let forecast = rule("disk_full_forecast");
        let summary = forecast.summary_of("disk D:", &falling);
        assert!(summary.starts_with("disk D: loses 3.2 points"), "{summary}");
        let gone = Verdict {
            severity: None,
            value: f64::INFINITY,
            rate_per_day: None,
            clear: true,
            peers: None,
            ..falling
        };
        assert_eq!(
            forecast.text.render_cleared("disk D:", &gone),
            "disk D: is no longer heading for 0 within 30 days (40 now)"
        );
        let firewall = rule("firewall_disabled");
        let on = firewall.judge_with(0.0, None, &Context::default());
        assert_eq!(
            firewall.text.render_cleared("private", &on),
            "private is back to normal"
        );
        let disk = rule("disk_free_low");
        let healthy = disk.judge_with(60.0, None, &Context::default());
        assert_eq!(
            disk.text.render_cleared("disk C:", &healthy),
            "disk C: is back to normal (60 now, threshold 15)"
        );
    }

    #[test]
    fn shadow_and_rollout_entries_are_checked() {
        let shadow_same_id = format!("{BUILT_IN}\n[[rule]]\nid = \"memory_low\"\nversion = 2\nmode = \"shadow\"\nrollout = {{ share = 10 }}\nsignal = \"memory_available_percent\"\nwhen = \"below\"\nwarning = 1\nsummary = \"s\"\nexplanation = \"e\"\n");
        let error = RuleLibrary::parse(&shadow_same_id).unwrap_err().to_string();
        assert!(error.contains("id of its own"), "{error}");
        let unknown = format!("{BUILT_IN}\n[[rule]]\nid = \"x\"\nversion = 1\nmode = \"shadow\"\nshadow_of = \"nothing\"\nsignal = \"memory_available_percent\"\nwhen = \"below\"\nwarning = 1\nsummary = \"s\"\nexplanation = \"e\"\n");
        let error = RuleLibrary::parse(&unknown).unwrap_err().to_string();
        assert!(error.contains("no live rule"), "{error}");
        let same_version = format!("{BUILT_IN}\n[[rule]]\nid = \"memory_low\"\nversion = 1\nrollout = {{ tiers = [\"gold\"] }}\nsignal = \"memory_available_percent\"\nwhen = \"below\"\nwarning = 1\nsummary = \"s\"\nexplanation = \"e\"\n");
        let error = RuleLibrary::parse(&same_version).unwrap_err().to_string();
        assert!(error.contains("same version"), "{error}");
        let empty = same_version.replace(
            "version = 1\nrollout = { tiers = [\"gold\"] }",
            "version = 2\nrollout = { }",
        );
        let error = RuleLibrary::parse(&empty).unwrap_err().to_string();
        assert!(error.contains("tiers, a share"), "{error}");
        let staged = same_version.replace("version = 1\nrollout", "version = 2\nrollout");
        assert!(RuleLibrary::parse(&staged).unwrap().is_staged());
        assert!(!RuleLibrary::parse(BUILT_IN).unwrap().is_staged());
    }

    #[test]
    fn a_share_keeps_its_installations_as_it_grows() {
        let ids: Vec<String> = (0..1_000).map(|i| format!("inst-{i}")).collect();
        let within = |share: f64| -> Vec<&String> {
            let rollout = Rollout {
                tiers: Vec::new(),
                share: Some(share),
            };
            ids.iter().filter(|id| rollout.includes(None, id)).collect()
        };
        let (ten, fifty) = (within(10.0), within(50.0));
        assert!((60..=140).contains(&ten.len()), "{}", ten.len());
        assert!((420..=580).contains(&fifty.len()), "{}", fifty.len());
        assert!(ten.iter().all(|id| fifty.contains(id)));
        assert!(within(0.0).is_empty());
        assert_eq!(within(100.0).len(), ids.len());
    }

    #[test]
    fn shadows_can_be_compared_with_the_rules_they_shadow() {
        let with_shadow = format!("{BUILT_IN}\n[[rule]]\nid = \"memory_low_next\"\nversion = 2\nmode = \"shadow\"\nshadow_of = \"memory_low\"\nsignal = \"memory_available_percent\"\nwhen = \"below\"\nwarning = 20\ngroup = \"memory\"\nsummary = \"s\"\nexplanation = \"e\"\n");
        let library = RuleLibrary::parse(&with_shadow).unwrap();
        let live = library.live_only().unwrap();
        assert!(live.rules.iter().all(|rule| rule.mode == Mode::Live));
        assert_eq!(live.rules.len(), library.rules.len() - 1);
        let enabled = library.shadows_enabled().unwrap();
        let memory: Vec<&Rule> = enabled
            .rules
            .iter()
            .filter(|r| r.id == "memory_low")
            .collect();
        assert_eq!(memory.len(), 1);
        assert_eq!((memory[0].version, memory[0].mode), (2, Mode::Live));
        assert_eq!(
            memory[0].text.group, "memory",
            "a live rule joins its incidents again"
        );
        assert!(!enabled.rules.iter().any(|r| r.id == "memory_low_next"));
    }

    #[test]
    fn a_usual_daily_peak_is_no_warning_and_a_critical_value_stays_one() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let queue = rule_of(&library, "acd_queue_high");
        let at_peak = |usual_peak: Option<f64>, value: f64| {
            let context = Context {
                usual_peak,
                ..Context::default()
            };
            queue.judge_with(value, None, &context)
        };
        // unknown hour: the fixed threshold
        assert_eq!(at_peak(None, 26.0).severity, Some(Severity::Warning));
        // 26 waiting where 24 is this hour's usual peak: usual, and no resolution either
        let usual = at_peak(Some(24.0), 26.0);
        assert_eq!(usual.severity, None);
        assert!(!usual.clear);
        // far above the usual peak, and critical whatever the hour
        assert_eq!(at_peak(Some(24.0), 31.0).severity, Some(Severity::Warning));
        assert_eq!(at_peak(Some(48.0), 51.0).severity, Some(Severity::Critical));
    }

    #[test]
    fn a_draining_queue_is_neither_bad_nor_resolving_and_a_growing_one_alerts() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let backlog = rule_of(&library, "fax_backlog");
        let judge = |previous: f64, value: f64| {
            let context = Context {
                previous: Some(previous),
                ..Context::default()
            };
            backlog.judge_with(value, None, &context)
        };
        let draining = judge(40.0, 32.0);
        assert_eq!(draining.severity, None);
        assert!(!draining.clear);
        assert_eq!(judge(30.0, 32.0).severity, Some(Severity::Warning));
        assert_eq!(judge(32.0, 32.0).severity, Some(Severity::Warning), "stuck");
        assert_eq!(
            judge(32.0, 30.0).severity,
            Some(Severity::Warning),
            "jitter"
        );
        let refused = BUILT_IN.replace(
            "signal = \"faxes_transmitting\"\nwhen = \"above\"",
            "signal = \"faxes_transmitting\"\nwhen = \"below\"",
        );
        let error = RuleLibrary::parse(&refused).unwrap_err().to_string();
        assert!(error.contains("draining_is_healthy"), "{error}");
    }

    #[test]
    fn a_forecast_without_a_good_line_does_not_resolve_while_heading_for_the_limit() {
        let library = RuleLibrary::parse(BUILT_IN).unwrap();
        let forecast = rule_of(&library, "disk_full_forecast");
        let judge = |values: &[f64]| {
            let mut series = Series::default();
            for (index, value) in values.iter().enumerate() {
                series.record(index as i64 * 900_000, *value, 900_000);
            }
            let context = Context {
                series: Some(&series),
                ..Context::default()
            };
            forecast.judge_with(*values.last().unwrap(), None, &context)
        };
        // flat, then falling in bursts: the line explains too little to judge, yet heads for 0
        let bursty = [
            40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 32.0, 32.0, 24.0,
        ];
        let verdict = judge(&bursty);
        assert_eq!(verdict.severity, None);
        assert!(!verdict.clear, "no resolution while the disk keeps filling");
        // flat noise: nothing to judge and nothing heading anywhere
        let flat = [
            40.0, 40.4, 39.8, 40.1, 39.9, 40.3, 39.7, 40.2, 40.0, 39.8, 40.1, 40.0,
        ];
        assert!(judge(&flat).clear);
    }
}
