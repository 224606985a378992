//! Checks of values that parse but cannot be true, with messages a client developer can act on:
//! the field path, what was expected and what came.

use std::fmt;

use serde::Serialize;

use crate::beats::{Beat, Envelope};

/// Longest list a beat may carry (processes, disks, services…).
pub const MAX_LIST_ITEMS: usize = 10_000;
/// How far in the future `sent_at` may be: server clocks drift, but not by this much.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;
/// How old a beat may be: a server buffers beats while the cloud is unreachable, for at most a week.
pub const MAX_BEAT_AGE_MS: i64 = 7 * 24 * 60 * 60 * 1000;
const MAX_ID_CHARS: usize = 128;

/// One field that holds an impossible value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON path of the field, e.g. `data.disks[1].free_bytes`.
    pub path: String,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.path, self.expected, self.found
        )
    }
}

/// The path of an item of a list, `data.disks[2]`, spelled out only when a violation needs it:
/// the items of a valid beat (thousands of processes) cost no string.
#[derive(Debug, Clone, Copy)]
pub struct ItemPath {
    list: &'static str,
    index: usize,
}

impl ItemPath {
    pub fn new(list: &'static str, index: usize) -> Self {
        Self { list, index }
    }

    /// A field of the item: `data.disks[2].free_bytes`.
    pub fn field(self, name: &'static str) -> FieldPath {
        FieldPath { item: self, name }
    }
}

impl fmt::Display for ItemPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.list, self.index)
    }
}

/// A field of a list's item (see [`ItemPath`]).
#[derive(Debug, Clone, Copy)]
pub struct FieldPath {
    item: ItemPath,
    name: &'static str,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.item, self.name)
    }
}

/// The violations found so far in one beat.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub fn push(&mut self, path: impl fmt::Display, expected: impl Into<String>, found: String) {
        self.0.push(Violation {
            path: path.to_string(),
            expected: expected.into(),
            found,
        });
    }

    pub fn check_non_negative(&mut self, path: impl fmt::Display, value: i64) {
        if value < 0 {
            self.push(path, "a value >= 0", value.to_string());
        }
    }

    pub fn check_percent(&mut self, path: impl fmt::Display, value: f64) {
        if !(0.0..=100.0).contains(&value) {
            self.push(path, "a percentage from 0 to 100", value.to_string());
        }
    }

    pub fn check_rate(&mut self, path: impl fmt::Display, value: f64) {
        if !(value.is_finite() && value >= 0.0) {
            self.push(path, "a rate >= 0", value.to_string());
        }
    }

    pub fn check_not_empty(&mut self, path: impl fmt::Display, value: &str) {
        if value.trim().is_empty() {
            self.push(path, "a non-empty string", format!("{value:?}"));
        }
    }

    pub fn check_list_len(&mut self, path: impl fmt::Display, len: usize, max: usize) {
        if len > max {
            self.push(path, format!("at most {max} items"), format!("{len} items"));
        }
    }

    pub fn into_result(self) -> Result<(), Vec<Violation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Implemented by every beat's data: pushes a violation for each impossible value.
pub trait Validate {
    fn validate(&self, violations: &mut Violations);
}

/// Validates a parsed beat as of `now_ms` (the gateway's clock).
pub fn validate_beat(beat: &Beat, now_ms: i64) -> Result<(), Vec<Violation>> {
    let mut violations = Violations::default();
    validate_envelope(&beat.envelope, now_ms, &mut violations);
    beat.payload.validate(&mut violations);
    violations.into_result()
}

fn validate_envelope(envelope: &Envelope, now_ms: i64, violations: &mut Violations) {
    if uuid::Uuid::parse_str(&envelope.beat_id).is_err() {
        violations.push("beat_id", "a UUID", format!("{:?}", envelope.beat_id));
    }
    check_identifier(violations, "installation_id", &envelope.installation_id);
    check_identifier(violations, "node_id", &envelope.node_id);
    if envelope.sent_at > now_ms + MAX_CLOCK_SKEW_MS {
        violations.push(
            "sent_at",
            "a time no more than 10 minutes ahead of the gateway's clock",
            // a client's number can be anything: no arithmetic that overflows
            format!(
                "{} ms ahead",
                i128::from(envelope.sent_at) - i128::from(now_ms)
            ),
        );
    }
    if envelope.sent_at < now_ms - MAX_BEAT_AGE_MS {
        violations.push(
            "sent_at",
            "a time within the last 7 days",
            format!(
                "{} ms old",
                i128::from(now_ms) - i128::from(envelope.sent_at)
            ),
        );
    }
}

/// Ids of installations, nodes, customers: 1 to 128 characters of `A-Z a-z 0-9 - _ . :`.
pub fn is_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_ID_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn check_identifier(violations: &mut Violations, path: &str, value: &str) {
    if !is_identifier(value) {
        violations.push(
            path,
            "1 to 128 characters of A-Z a-z 0-9 - _ . :",
            format!("{value:?}"),
        );
    }
}
