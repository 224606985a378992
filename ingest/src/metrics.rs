//! The gateway's Prometheus metrics.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use ucx_common::ops::register;

pub struct IngestMetrics {
    pub requests: IntCounterVec,
    pub beats_received: IntCounter,
    pub beats_accepted: IntCounterVec,
    pub beats_rejected: IntCounterVec,
    pub request_duration: Histogram,
    pub unknown_fields: IntCounter,
    pub body_bytes: IntCounter,
    pub pii_findings: IntCounterVec,
}

impl IngestMetrics {
    pub fn new(registry: &Registry) -> Self {
        IngestMetrics {
            requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "ingest_requests_total",
                        "Beat requests by outcome: accepted, partially_accepted, or the code of the refusal (telemetry_disabled, rate_limited, unauthorized, …)",
                    ),
                    &["outcome"],
                )
                .unwrap(),
            ),
            beats_received: register(
                registry,
                IntCounter::new("ingest_beats_received_total", "Beat requests received").unwrap(),
            ),
            beats_accepted: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "ingest_beats_accepted_total",
                        "Beats acknowledged by the broker and answered with 202",
                    ),
                    &["category"],
                )
                .unwrap(),
            ),
            beats_rejected: register(
                registry,
                IntCounterVec::new(
                    Opts::new("ingest_beats_rejected_total", "Beats refused, by reason (a request refused as a whole counts once)"),
                    &["reason"],
                )
                .unwrap(),
            ),
            body_bytes: register(
                registry,
                IntCounter::new(
                    "ingest_body_bytes_total",
                    "Bytes of request bodies read, after decompression (only authenticated requests are read)",
                )
                .unwrap(),
            ),
            unknown_fields: register(
                registry,
                IntCounter::new(
                    "ingest_unknown_fields_total",
                    "Fields of accepted beats that the contract does not know (ignored)",
                )
                .unwrap(),
            ),
            pii_findings: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "ingest_pii_findings_total",
                        "Personal data found in beats, redacted or refused, by kind",
                    ),
                    &["kind"],
                )
                .unwrap(),
            ),
            request_duration: register(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "ingest_request_duration_seconds",
                        "Time from request to answer, including the broker acknowledgement",
                    )
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ]),
                )
                .unwrap(),
            ),
        }
    }
}
