//! Rules: the library (`rules.toml`, hot-reloaded) judges signals computed from each beat and
//! reports, per subject, whether it is in trouble.
//! - `signals`: the values rules can judge, per beat category and subject;
//! - `library`: the rule file parsed, validated and evaluated;
//! - `reload`: follows the file and swaps in a new library when it changes and validates.

pub mod library;
pub mod peers;
pub mod reload;
pub mod series;
pub mod signals;

use ucx_schemas::Severity;

impl Finding {
    pub fn summary(&self) -> String {
        self.text.render(&self.subject, &self.verdict)
    }

    /// The summary once the finding resolved its alert.
    pub fn cleared_summary(&self) -> String {
        self.text.render_cleared(&self.subject, &self.verdict)
    }

    pub fn explanation(&self) -> String {
        self.text.explanation.clone()
    }
}

/// A rule's verdict on one subject of one beat.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule_id: std::sync::Arc<str>,
    pub rule_version: i32,
    /// The signal the rule judges (`Signal::key`).
    pub signal: &'static str,
    /// A subject this signal no longer observes in a beat is gone (a process that exited);
    /// not so for services, whose absence from the running list means stopped.
    pub gone_when_absent: bool,
    /// What the verdict is about within the node, e.g. `disk C:`.
    pub subject: String,
    /// `None` when the subject is healthy.
    pub severity: Option<Severity>,
    pub observed_value: f64,
    pub threshold: f64,
    /// The rule's words and this verdict's numbers: put together only for the few findings
    /// that become alert records (rendering every finding's summary was the processors' largest
    /// cost per beat, see BENCHMARKS.md).
    pub text: std::sync::Arc<library::RuleText>,
    pub verdict: library::Verdict,
    /// Consecutive bad verdicts before an alert opens, good ones before it resolves.
    pub for_beats: u32,
    pub clear_beats: u32,
    /// A shadow rule's: recorded with `suppressed_by = 'shadow'`, never mailed.
    pub shadow: bool,
}
