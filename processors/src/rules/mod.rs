//! Rules: each reads beats of one category and reports, per subject, whether it is in trouble.

pub mod disk_free;

use ucx_schemas::Severity;

/// A rule's verdict on one subject of one beat.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule_id: &'static str,
    pub rule_version: i32,
    /// What the verdict is about within the node, e.g. `disk C:`.
    pub subject: String,
    /// `None` when the subject is healthy.
    pub severity: Option<Severity>,
    pub observed_value: f64,
    pub threshold: f64,
    pub summary: String,
}
