//! The JSON wire format UCX Suite servers post: one beat is
//! `{"beat_id", "installation_id", "node_id", "region", "sent_at", "category", "data"}`, where
//! `sent_at` is RFC 3339 text or epoch milliseconds and `data` is the category's object.
//! Fields the gateway sets (`received_at`, `source_ip`) are ignored when a client sends them.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::beats::{Beat, BeatPayload, Category, Envelope, Region};
use crate::pii::{self, PiiFinding, PiiPolicy};
use crate::validation::{validate_beat, Violation};

mod probe;
mod shape;

use probe::{content_hash, probe};
use shape::Shape;

/// Why a posted beat was refused.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The body is not JSON, or a field has the wrong type or is missing.
    #[error("{message}")]
    Malformed {
        path: Option<String>,
        message: String,
    },
    /// The beat parses but holds impossible values.
    #[error("invalid beat: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
    /// The beat carries personal data and the policy is to reject it.
    #[error("personal data in: {}", .0.iter().map(|f| f.path.as_str()).collect::<Vec<_>>().join(", "))]
    Personal(Vec<PiiFinding>),
}

/// A beat as the gateway received it, with what it ignored or redacted.
#[derive(Debug)]
pub struct ParsedBeat {
    pub beat: Beat,
    /// Paths of fields the contract does not know (accepted and ignored: forward compatibility).
    pub unknown_fields: Vec<String>,
    /// Personal data found (and, under [`PiiPolicy::Redact`], redacted).
    pub pii_findings: Vec<PiiFinding>,
    /// What a retry of this beat must repeat: its category, node and data as stored (not
    /// `sent_at`, which a retry may renew). Two beats with one `beat_id` and different hashes
    /// are different beats.
    pub content_hash: u64,
}

/// A wire beat with its `data` as text (`&RawValue`: nearly every beat) or as a tree.
#[derive(Deserialize)]
struct WireBeat<D> {
    beat_id: String,
    installation_id: String,
    node_id: String,
    region: Region,
    sent_at: WireTimestamp,
    category: Category,
    data: D,
}

impl<D> WireBeat<D> {
    /// The envelope, the category and the data, apart.
    fn split(self, received_at_ms: i64) -> (Envelope, Category, D) {
        let envelope = Envelope {
            beat_id: self.beat_id,
            installation_id: self.installation_id,
            node_id: self.node_id,
            region: self.region,
            sent_at: self.sent_at.0,
            received_at: received_at_ms,
            source_ip: None,
        };
        (envelope, self.category, self.data)
    }
}

/// Parses and validates one JSON beat received at `received_at_ms`, redacting personal data.
pub fn parse_beat_json(body: &[u8], received_at_ms: i64) -> Result<Beat, WireError> {
    parse_beat(body, received_at_ms, PiiPolicy::Redact).map(|parsed| parsed.beat)
}

/// Parses and validates one JSON beat received at `received_at_ms`, applying `pii_policy`.
pub fn parse_beat(
    body: &[u8],
    received_at_ms: i64,
    pii_policy: PiiPolicy,
) -> Result<ParsedBeat, WireError> {
    // Tracking the path of every field (for the message of a malformed beat) allocates a
    // string per key: a beat is parsed without it first and again with it only if it failed.
    match parse_beat_tracking(body, received_at_ms, pii_policy, false) {
        Err(WireError::Malformed { .. }) => {
            parse_beat_tracking(body, received_at_ms, pii_policy, true)
        }
        parsed => parsed,
    }
}

/// [`parse_beat`], naming the path of a malformed field when `tracked` (in the error only).
fn parse_beat_tracking(
    body: &[u8],
    received_at_ms: i64,
    pii_policy: PiiPolicy,
    tracked: bool,
) -> Result<ParsedBeat, WireError> {
    let mut unknown_fields = Vec::new();
    let (envelope, payload, content_hash, pii_findings) = if tracked {
        // The second parse of a malformed beat: the whole body through a tree, so that an error
        // inside `data` is named by its path from the body, as it always was.
        let wire: WireBeat<serde_json::Value> = read_wire(body, true, &mut unknown_fields)?;
        let (envelope, category, tree) = wire.split(received_at_ms);
        let (payload, content_hash, pii_findings) = typed_from_tree(
            category,
            &envelope.node_id,
            tree,
            pii_policy,
            true,
            &mut unknown_fields,
        )?;
        (envelope, payload, content_hash, pii_findings)
    } else {
        let wire: WireBeat<&RawValue> = read_wire(body, false, &mut unknown_fields)?;
        let (envelope, category, data) = wire.split(received_at_ms);
        let data = data.get();
        let mut text = serde_json::Deserializer::from_str(data);
        let probe = probe(
            category.id(),
            &envelope.node_id,
            Shape::of(category),
            &mut text,
        )
        .map_err(|error| malformed(Some("data"), untracked(error)))?;
        let (payload, content_hash, pii_findings) = if probe.personal {
            // redacting needs the strings in a tree (the probe read the same text: no error)
            let tree = serde_json::from_str(data)
                .map_err(|error| malformed(Some("data"), untracked(error)))?;
            typed_from_tree(
                category,
                &envelope.node_id,
                tree,
                pii_policy,
                false,
                &mut unknown_fields,
            )?
        } else if !probe.unknown_fields {
            // nearly every beat: nothing to redact, every field known: typed straight from the text
            let mut text = serde_json::Deserializer::from_str(data);
            let payload = BeatPayload::from_known_json(category, &mut text)
                .map_err(|error| malformed(Some("data"), error))?;
            (payload, probe.content_hash, Vec::new())
        } else {
            // nothing to redact: typed from the text, noting the fields the schema does not name
            let mut text = serde_json::Deserializer::from_str(data);
            let payload = BeatPayload::from_json(category, &mut text, false, |path| {
                unknown_fields.push(format!("data.{path}"))
            })
            .map_err(|error| malformed(Some("data"), error))?;
            (payload, probe.content_hash, Vec::new())
        };
        (envelope, payload, content_hash, pii_findings)
    };
    let beat = Beat { envelope, payload };
    validate_beat(&beat, received_at_ms).map_err(WireError::Invalid)?;
    Ok(ParsedBeat {
        beat,
        unknown_fields,
        pii_findings,
        content_hash,
    })
}

/// Reads the envelope of a wire beat (`data` as `D`), noting the fields it does not know.
fn read_wire<'a, D: Deserialize<'a>>(
    body: &'a [u8],
    tracked: bool,
    unknown_fields: &mut Vec<String>,
) -> Result<WireBeat<D>, WireError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut note_unknown = |path: serde_ignored::Path| unknown_fields.push(path.to_string());
    let wire = serde_ignored::Deserializer::new(&mut deserializer, &mut note_unknown);
    let wire = if tracked {
        serde_path_to_error::deserialize(wire)
    } else {
        WireBeat::deserialize(wire).map_err(untracked)
    }
    .map_err(|error| malformed(None, error))?;
    deserializer.end().map_err(|error| WireError::Malformed {
        path: None,
        message: format!("invalid JSON: {error}"),
    })?;
    Ok(wire)
}

/// A beat's data read through a tree: personal data redacted (or the beat refused under
/// [`PiiPolicy::Reject`]), then hashed and typed.
fn typed_from_tree(
    category: Category,
    node_id: &str,
    mut tree: serde_json::Value,
    pii_policy: PiiPolicy,
    tracked: bool,
    unknown_fields: &mut Vec<String>,
) -> Result<(BeatPayload, u64, Vec<PiiFinding>), WireError> {
    let mut pii_findings = Vec::new();
    pii::scrub(&mut tree, "data", &mut pii_findings);
    if pii_policy == PiiPolicy::Reject && !pii_findings.is_empty() {
        return Err(WireError::Personal(pii_findings));
    }
    let content_hash = content_hash(category.id(), node_id, &tree)
        .map_err(|error| malformed(Some("data"), untracked(error)))?;
    let payload = BeatPayload::from_json(category, tree, tracked, |path| {
        unknown_fields.push(format!("data.{path}"))
    })
    .map_err(|error| malformed(Some("data"), error))?;
    Ok((payload, content_hash, pii_findings))
}

/// An error of an untracked parse, in the tracked form (with an empty path).
pub(crate) fn untracked(error: serde_json::Error) -> serde_path_to_error::Error<serde_json::Error> {
    serde_path_to_error::Error::new(serde_path_to_error::Track::new().path(), error)
}

fn malformed(
    prefix: Option<&str>,
    error: serde_path_to_error::Error<serde_json::Error>,
) -> WireError {
    let inner_path = error.path().to_string();
    let path = match (prefix, inner_path.as_str()) {
        (None, ".") => None,
        (None, inner) => Some(inner.to_string()),
        (Some(prefix), ".") => Some(prefix.to_string()),
        (Some(prefix), inner) => Some(format!("{prefix}.{inner}")),
    };
    let inner = error.into_inner();
    let message = match (&path, inner.classify()) {
        (_, serde_json::error::Category::Syntax | serde_json::error::Category::Eof) => {
            format!("invalid JSON: {inner}")
        }
        (Some(path), _) => format!("field `{path}`: {inner}"),
        (None, _) => inner.to_string(),
    };
    WireError::Malformed { path, message }
}

/// The wire form of a beat, as a server would post it.
#[derive(Serialize)]
struct WireBeatOut<'a> {
    beat_id: &'a str,
    installation_id: &'a str,
    node_id: &'a str,
    region: Region,
    sent_at: i64,
    category: Category,
    data: &'a BeatPayload,
}

impl Beat {
    /// The JSON a server posts for this beat (gateway-set fields left out).
    pub fn to_wire_json(&self) -> serde_json::Value {
        let envelope = &self.envelope;
        serde_json::to_value(WireBeatOut {
            beat_id: &envelope.beat_id,
            installation_id: &envelope.installation_id,
            node_id: &envelope.node_id,
            region: envelope.region,
            sent_at: envelope.sent_at,
            category: self.category(),
            data: &self.payload,
        })
        .expect("a beat always serializes to JSON")
    }
}

/// `sent_at` on the wire: RFC 3339 text (`2026-11-23T10:00:00Z`) or epoch milliseconds.
struct WireTimestamp(i64);

impl<'de> Deserialize<'de> for WireTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WireTimestampVisitor)
    }
}

struct WireTimestampVisitor;

impl Visitor<'_> for WireTimestampVisitor {
    type Value = WireTimestamp;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp such as \"2026-11-23T10:00:00Z\" or epoch milliseconds")
    }

    fn visit_i64<E: de::Error>(self, millis: i64) -> Result<WireTimestamp, E> {
        Ok(WireTimestamp(millis))
    }

    fn visit_u64<E: de::Error>(self, millis: u64) -> Result<WireTimestamp, E> {
        i64::try_from(millis)
            .map(WireTimestamp)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(millis), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<WireTimestamp, E> {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(millis)
            .map(WireTimestamp)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}
