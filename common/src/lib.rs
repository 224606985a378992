//! Plumbing shared by every stage, so that all of them talk to Kafka and ClickHouse, load
//! configuration and expose metrics the same way.

pub mod clickhouse;
pub mod config;
pub mod kafka;
pub mod ops;
pub mod readiness;
pub mod registry;
pub mod retry;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod stage;

/// Whether `url` points at this machine (localhost, 127.x, [::1]): a link a customer cannot open.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host.starts_with("127.") || host == "::1"
}

/// Current wall-clock time in UTC milliseconds.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis())
        .expect("milliseconds fit in i64 until the year 292 million")
}

/// Sets up `tracing` logs on stderr; the level comes from `UCX_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("UCX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_loopback_link_is_told_from_a_public_one() {
        for (url, loopback) in [
            (
                "http://127.0.0.1:3000/d/ucx-server/server?var-installation=i",
                true,
            ),
            ("http://localhost/d/x", true),
            ("http://[::1]:3000/d/x", true),
            ("https://grafana.example.com/d/ucx-server/server", false),
            ("https://[2001:db8::1]/d/x", false),
        ] {
            assert_eq!(super::is_loopback_url(url), loopback, "{url}");
        }
    }
}
