//! Heartbeat loss: an installation that stops sending beats. Time here is *event* time: the
//! gateway's `received_at` of the beats, and the watermark is the newest `received_at` this
//! processor has seen. A paused pipeline (broker, processors or the whole gateway down) holds
//! the watermark still, so nobody looks silent; when beats flow again the watermark moves with
//! them and an installation whose beats did not come back falls behind it. Silence is only
//! judged when the processor has caught up (nothing waiting to be consumed), so a backlog read
//! one partition ahead of another does not make the other's servers look silent.

use serde::{Deserialize, Serialize};
use ucx_schemas::{Alert, AlertState, Envelope, Region, Severity};

use crate::alert_book::{alert_id, Audience};

pub const RULE_ID: &str = "heartbeat_lost";
const RULE_VERSION: i32 = 1;
const SUBJECT: &str = "heartbeat";
/// Beats of one tick arrive together (one batch, or a few requests in a row); gaps shorter
/// than this are not the cadence.
const BURST_MS: i64 = 100;
/// Weight of a new gap in the learnt cadence.
const CADENCE_WEIGHT: f64 = 0.2;

/// What one installation's beats told about its liveness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub last_received_at: i64,
    last_beat_id: String,
    node_id: String,
    region: Region,
    /// The usual gap between its beats, learnt.
    cadence_ms: Option<f64>,
    /// The heartbeat alert open now: its id and when it was raised (event time).
    lost: Option<(String, i64)>,
}

impl Heartbeat {
    pub fn new(envelope: &Envelope) -> Self {
        Heartbeat {
            last_received_at: envelope.received_at,
            last_beat_id: envelope.beat_id.clone(),
            node_id: envelope.node_id.clone(),
            region: envelope.region,
            cadence_ms: None,
            lost: None,
        }
    }

    /// Takes a beat into account; the alert to resolve when it ends a silence.
    pub fn beat(&mut self, envelope: &Envelope, audience: &Audience) -> Option<Alert> {
        let gap = envelope.received_at - self.last_received_at;
        if gap >= BURST_MS {
            let gap = gap as f64;
            self.cadence_ms = Some(match self.cadence_ms {
                Some(cadence) => cadence + CADENCE_WEIGHT * (gap - cadence),
                None => gap,
            });
        }
        if envelope.received_at >= self.last_received_at {
            self.last_received_at = envelope.received_at;
            self.last_beat_id = envelope.beat_id.clone();
            self.node_id = envelope.node_id.clone();
            self.region = envelope.region;
        }
        let (alert_id, _) = self.lost.take()?;
        let mut alert = self.alert(
            alert_id,
            AlertState::Resolved,
            envelope.received_at,
            audience,
        );
        alert.installation_id = envelope.installation_id.clone();
        alert.summary = "beats arrive again".into();
        alert.resolution = ucx_schemas::Resolution::Cleared.as_str().into();
        Some(alert)
    }

    /// Whether its heartbeat alert is open.
    pub fn is_alerted(&self) -> bool {
        self.lost.is_some()
    }

    /// Resolves the open heartbeat alert of an installation that is no longer watched.
    pub fn close(&mut self, installation_id: &str, at_ms: i64) -> Option<Alert> {
        let (alert_id, _) = self.lost.take()?;
        let mut alert = self.alert(alert_id, AlertState::Resolved, at_ms, &Audience::default());
        alert.installation_id = installation_id.to_string();
        alert.resolution = ucx_schemas::Resolution::InstallationInactive
            .as_str()
            .into();
        alert.summary = "the installation is no longer watched".into();
        Some(alert)
    }

    /// How long a silence may last: its usual cadence plus `timeout_ms`.
    pub fn allowed_silence_ms(&self, timeout_ms: i64) -> i64 {
        self.cadence_ms.unwrap_or_default() as i64 + timeout_ms
    }

    /// Silent for longer than allowed at `watermark`, and not alerted yet.
    pub fn is_lost(&self, watermark: i64, timeout_ms: i64) -> bool {
        self.lost.is_none()
            && watermark - self.last_received_at > self.allowed_silence_ms(timeout_ms)
    }

    /// Opens the heartbeat alert.
    pub fn raise(
        &mut self,
        installation_id: &str,
        watermark: i64,
        timeout_ms: i64,
        audience: &Audience,
    ) -> Alert {
        let key = (
            installation_id.to_string(),
            String::new(),
            RULE_ID.to_string(),
            SUBJECT.to_string(),
        );
        let id = alert_id(&key, &self.last_beat_id);
        self.lost = Some((id.clone(), watermark));
        let mut alert = self.alert(id, AlertState::Open, watermark, audience);
        alert.installation_id = installation_id.to_string();
        let silence_minutes = (watermark - self.last_received_at) as f64 / 60_000.0;
        let allowed_minutes = self.allowed_silence_ms(timeout_ms) as f64 / 60_000.0;
        alert.observed_value = (silence_minutes * 10.0).round() / 10.0;
        alert.threshold = (allowed_minutes * 10.0).round() / 10.0;
        alert.summary = format!(
            "no beat for {:.1} minutes while other servers kept sending (allowed {:.1})",
            silence_minutes, allowed_minutes
        );
        alert
    }

    fn alert(
        &self,
        alert_id: String,
        state: AlertState,
        event_at: i64,
        audience: &Audience,
    ) -> Alert {
        Alert {
            alert_id,
            installation_id: String::new(),
            node_id: self.node_id.clone(),
            region: self.region,
            rule_id: RULE_ID.into(),
            rule_version: RULE_VERSION,
            subject: SUBJECT.into(),
            severity: Severity::Critical,
            state,
            summary: String::new(),
            observed_value: 0.0,
            threshold: 0.0,
            beat_id: self.last_beat_id.clone(),
            event_at,
            raised_at: ucx_common::now_ms(),
            customer_id: audience.customer_id.clone(),
            contract_tier: audience.contract_tier.clone(),
            notify_customer: audience.notify_customer,
            explanation: "The server stopped sending beats: the UCX Suite telemetry service, the \
                          server itself or its network may be down. Check that the server is up \
                          and can reach the telemetry gateway."
                .into(),
            dashboard_url: audience.dashboard_url.clone(),
            suppressed_by: String::new(),
            acknowledged_by: String::new(),
            resolution: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(beat_id: &str, received_at: i64) -> Envelope {
        Envelope {
            beat_id: beat_id.into(),
            installation_id: "inst".into(),
            node_id: "node".into(),
            region: Region::EU,
            sent_at: received_at,
            received_at,
            source_ip: None,
        }
    }

    #[test]
    fn silence_past_cadence_and_timeout_raises_once_and_a_beat_resolves() {
        let audience = Audience::default();
        let mut heartbeat = Heartbeat::new(&envelope("b0", 0));
        for (index, at) in [60_000, 60_050, 120_000, 180_000].iter().enumerate() {
            assert!(heartbeat
                .beat(&envelope(&format!("b{index}"), *at), &audience)
                .is_none());
        }
        // cadence ≈ 60 s (the 50 ms burst gap is not counted): allowed 60 s + 30 s
        let allowed = heartbeat.allowed_silence_ms(30_000);
        assert!((89_000..=90_000).contains(&allowed), "{allowed}");
        assert!(!heartbeat.is_lost(180_000 + 89_000, 30_000));
        assert!(heartbeat.is_lost(180_000 + 91_000, 30_000));
        let open = heartbeat.raise("inst", 300_000, 30_000, &audience);
        assert_eq!(
            (open.state, open.installation_id.as_str()),
            (AlertState::Open, "inst")
        );
        assert_eq!(open.observed_value, 2.0, "minutes of silence");
        assert!(!heartbeat.is_lost(400_000, 30_000), "raised once");
        let resolved = heartbeat
            .beat(&envelope("back", 400_000), &audience)
            .unwrap();
        assert_eq!(resolved.state, AlertState::Resolved);
        assert_eq!(resolved.alert_id, open.alert_id);
        assert_eq!(resolved.installation_id, "inst");
    }
}
