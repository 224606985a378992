//! The notifier's configuration: `[kafka]`, `[clickhouse]` and `[notifier]`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ucx_common::config::{millis, seconds, section_defaults, ClickHouseSettings, KafkaSettings};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifierConfig {
    pub kafka: KafkaSettings,
    pub clickhouse: ClickHouseSettings,
    pub notifier: NotifierSettings,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[notifier]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierSettings {
    /// Address of `/metrics` and `/health`.
    pub listen: String,
    /// Consumer group on the alerts topic.
    pub group_id: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    /// Both or neither: SMTP AUTH (PLAIN/LOGIN).
    pub smtp_username: Option<String>,
    pub smtp_password: Option<ucx_common::secret::Secret>,
    /// PEM file of a CA to trust besides the public roots (a relay with a private certificate),
    /// for `starttls` and `tls`.
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// How long one SMTP conversation may take before it counts as a (retryable) failure.
    #[serde(with = "millis")]
    pub smtp_timeout_ms: Duration,
    /// `From:` of every mail.
    pub from_address: String,
    /// Longest wait between tries of a mail the server refused for now (4xx, timeout, down).
    #[serde(with = "millis")]
    pub retry_backoff_max_ms: Duration,
    /// A mail still refused for now this long after its first try is given up (FAILED).
    #[serde(with = "seconds")]
    pub retry_give_up_s: Duration,
    /// SMTP AUTH sends the password; over a connection without TLS only when this says so (a
    /// relay on a network you trust).
    pub smtp_allow_plain_auth: bool,
    /// Storm control: at most `storm_max_mails` alert mails per customer in any `storm_window_s`;
    /// the rest are listed in one summary mail once the window has room again. 0: no limit.
    pub storm_max_mails: u32,
    #[serde(with = "seconds")]
    pub storm_window_s: Duration,
    /// Customers who get one digest a day instead of a mail per alert.
    pub digest_customers: Vec<String>,
    /// The hour (UTC) the daily digest goes out.
    pub digest_hour_utc: u8,
    /// Language of subjects and bodies: `en` or `de`.
    pub language: String,
    /// How often summaries and digests that are due are looked for.
    #[serde(with = "millis")]
    pub deferred_interval_ms: Duration,
    /// Fleet guard (see `fleet.rs`): a rule opening within `fleet_window_s` on at least
    /// `fleet_min_installations` installations that are at least `fleet_share` of the watched
    /// fleet (or of the installations on one UCX Suite version) is one fleet incident; its
    /// customer mail is held for `fleet_hold_s` unless support releases or silences it first.
    pub fleet_share: f64,
    pub fleet_min_installations: u32,
    #[serde(with = "seconds")]
    pub fleet_window_s: Duration,
    #[serde(with = "seconds")]
    pub fleet_hold_s: Duration,
    /// A new alert's first mail waits this long, so the first servers of a storm are held too
    /// (0: mail at once).
    pub fleet_settle_s: u64,
    /// Proactive Support customers whose care ends within one of these many days get one
    /// warning per lead time (to every contact); empty: none.
    pub renewal_lead_days: Vec<u32>,
    /// Offsets of handled alerts are committed this often (every handled alert is in the ledger
    /// first, so a crash in between re-reads alerts but mails none twice).
    #[serde(with = "millis")]
    pub commit_interval_ms: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        section_defaults("notifier")
    }
}

impl NotifierSettings {
    /// Refuses settings that cannot work, saying which and why.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.smtp_username.is_some() == self.smtp_password.is_some(),
            "notifier.smtp_username and notifier.smtp_password go together"
        );
        anyhow::ensure!(
            self.smtp_username.is_none()
                || self.smtp_security != SmtpSecurity::None
                || self.smtp_allow_plain_auth,
            "notifier.smtp_username with smtp_security = \"none\" would send the password in \
             clear: use smtp_security = \"starttls\" or \"tls\", or set \
             notifier.smtp_allow_plain_auth = true for a relay on a network you trust"
        );
        anyhow::ensure!(
            self.from_address
                .parse::<lettre::message::Mailbox>()
                .is_ok(),
            "notifier.from_address {:?} is not an e-mail address",
            self.from_address
        );
        anyhow::ensure!(
            self.fleet_share > 0.0 && self.fleet_share <= 1.0,
            "notifier.fleet_share must be above 0 and at most 1 (a share of the fleet, e.g. 0.1)"
        );
        anyhow::ensure!(
            self.fleet_min_installations >= 1,
            "notifier.fleet_min_installations must be at least 1"
        );
        anyhow::ensure!(
            self.digest_hour_utc < 24,
            "notifier.digest_hour_utc must be 0 to 23"
        );
        anyhow::ensure!(
            crate::templates::LANGUAGES.contains(&self.language.as_str()),
            "notifier.language {:?}: one of {:?}",
            self.language,
            crate::templates::LANGUAGES
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_auth_without_tls_is_refused_unless_allowed() {
        let mut settings = NotifierSettings {
            smtp_username: Some("ucx".into()),
            smtp_password: Some("secret".into()),
            ..NotifierSettings::default()
        };
        let error = settings.check().unwrap_err().to_string();
        assert!(error.contains("smtp_allow_plain_auth"), "{error}");
        settings.smtp_allow_plain_auth = true;
        settings.check().unwrap();
        settings.smtp_allow_plain_auth = false;
        settings.smtp_security = SmtpSecurity::Starttls;
        settings.check().unwrap();
    }
}
