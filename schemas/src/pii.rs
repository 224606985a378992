//! The PII guard. The terms promise that no personal data leaves a UCX Suite server except the
//! server's own IP address; this finds what would break that promise in the free text of a
//! beat's data (process, service and application names, paths, identities) before the beat is
//! typed, so one pass covers every category.

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::validation::Violation;

/// What the gateway does with personal data found in a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiPolicy {
    /// Replace the personal part with `[redacted]` and accept the beat.
    #[default]
    Redact,
    /// Refuse the whole beat (422), naming the fields.
    Reject,
}

/// The kinds of personal data the guard knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiKind {
    EmailAddress,
    UserProfilePath,
    AccountName,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::EmailAddress => "email_address",
            PiiKind::UserProfilePath => "user_profile_path",
            PiiKind::AccountName => "account_name",
        }
    }
}

/// One piece of personal data found, by JSON path (the value itself is never kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiFinding {
    pub path: String,
    pub kind: PiiKind,
}

impl PiiFinding {
    pub fn to_violation(&self) -> Violation {
        Violation {
            path: self.path.clone(),
            expected: "no personal data".into(),
            found: format!("an {}", self.kind.as_str().replace('_', " ")),
        }
    }
}

const REDACTED: &str = "[redacted]";

struct Detectors {
    email: Regex,
    profile_path: Regex,
    domain_account: Regex,
}

fn detectors() -> &'static Detectors {
    static DETECTORS: OnceLock<Detectors> = OnceLock::new();
    DETECTORS.get_or_init(|| Detectors {
        email: Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
            .unwrap(),
        // C:\Users\<name>\… or /Users/<name>/…; the capture is the user's folder name.
        profile_path: Regex::new(
            r"(?i)(?:[a-z]:)?[\\/](?:users|documents and settings)[\\/]([^\\/]+)",
        )
        .unwrap(),
        // DOMAIN\user, a whole value (service identities are whole values).
        domain_account: Regex::new(
            r"^([A-Za-z0-9][A-Za-z0-9 ._-]*)\\([A-Za-z0-9][A-Za-z0-9 ._$-]*)$",
        )
        .unwrap(),
    })
}

/// Profile folders that belong to no person.
fn is_shared_profile(folder: &str) -> bool {
    ["public", "default", "default user", "all users", REDACTED]
        .iter()
        .any(|shared| folder.eq_ignore_ascii_case(shared))
}

/// Accounts of Windows itself: `NT AUTHORITY\…`, `NT SERVICE\…`, `.\LocalService` and the like.
fn is_builtin_account(domain: &str, user: &str) -> bool {
    let builtin_domains = [
        "nt authority",
        "nt service",
        "builtin",
        "iis apppool",
        "window manager",
        "font driver host",
    ];
    builtin_domains
        .iter()
        .any(|d| domain.eq_ignore_ascii_case(d))
        || (domain == "."
            && ["localservice", "networkservice", "localsystem"]
                .iter()
                .any(|u| user.eq_ignore_ascii_case(u)))
        || user.ends_with('$') // machine accounts
}

/// Scans one string; returns what it found and the redacted text.
fn scan_text(text: &str) -> (Vec<PiiKind>, String) {
    let detectors = detectors();
    let mut kinds = Vec::new();
    let mut redacted = text.to_string();
    if detectors.email.is_match(&redacted) {
        kinds.push(PiiKind::EmailAddress);
        redacted = detectors
            .email
            .replace_all(&redacted, REDACTED)
            .into_owned();
    }
    let mut personal_profile = false;
    redacted = detectors
        .profile_path
        .replace_all(&redacted, |captures: &regex::Captures| {
            let whole = &captures[0];
            let folder = &captures[1];
            if is_shared_profile(folder) {
                whole.to_string()
            } else {
                personal_profile = true;
                whole.replacen(folder, REDACTED, 1)
            }
        })
        .into_owned();
    if personal_profile {
        kinds.push(PiiKind::UserProfilePath);
    }
    if let Some(captures) = detectors.domain_account.captures(&redacted) {
        let (domain, user) = (&captures[1], &captures[2]);
        if !is_builtin_account(domain, user) && user != REDACTED {
            kinds.push(PiiKind::AccountName);
            redacted = format!("{domain}\\{REDACTED}");
        }
    }
    (kinds, redacted)
}

/// Finds personal data in every string of `value` (paths relative to `path`), redacting it in
/// place. Under [`PiiPolicy::Reject`] the caller refuses the beat when anything was found.
pub fn scrub(value: &mut serde_json::Value, path: &str, findings: &mut Vec<PiiFinding>) {
    match value {
        serde_json::Value::String(text) => {
            let (kinds, redacted) = scan_text(text);
            if !kinds.is_empty() {
                findings.extend(kinds.into_iter().map(|kind| PiiFinding {
                    path: path.to_string(),
                    kind,
                }));
                *text = redacted;
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                scrub(item, &format!("{path}[{index}]"), findings);
            }
        }
        serde_json::Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                scrub(field, &format!("{path}.{name}"), findings);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<PiiKind> {
        scan_text(text).0
    }

    /// The corpus: what must be caught, and what must pass untouched.
    #[test]
    fn personal_data_is_found() {
        use PiiKind::*;
        let personal = [
            ("john.doe@acme.example", vec![EmailAddress]),
            ("notify admin@acme.co.uk when full", vec![EmailAddress]),
            (
                r"C:\Users\jdoe\AppData\Local\Temp\setup.exe",
                vec![UserProfilePath],
            ),
            (
                r"c:\users\Maria Rossi\Desktop\report.xlsx",
                vec![UserProfilePath],
            ),
            (
                r"C:\Documents and Settings\jdoe\x.dll",
                vec![UserProfilePath],
            ),
            ("/Users/jdoe/bin/tool", vec![UserProfilePath]),
            (r"ACME\jdoe", vec![AccountName]),
            (r"ACME-CORP\svc.ucx", vec![AccountName]),
        ];
        for (text, expected) in personal {
            assert_eq!(kinds(text), expected, "{text}");
        }
    }

    #[test]
    fn technical_data_passes_untouched() {
        let technical = [
            "sqlservr.exe",
            "LocalSystem",
            r"NT AUTHORITY\NetworkService",
            r"NT SERVICE\MSSQL$SQLEXPRESS",
            r".\LocalService",
            r"ACME\UCXSERVER01$",
            r"C:\Users\Public\Documents\ucx.log",
            r"C:\Users\Default\NTUSER.DAT",
            r"C:\Program Files\Imagicle\ApolloService.exe",
            r"D:\SQLData\ApolloDb.mdf",
            "10.0.0.20",
            "Windows Server 2022 Standard",
            "2024.Winter.1",
            "KB5034439",
        ];
        for text in technical {
            let (found, redacted) = scan_text(text);
            assert!(found.is_empty(), "{text} flagged as {found:?}");
            assert_eq!(redacted, text);
        }
    }

    #[test]
    fn redaction_keeps_the_technical_part() {
        assert_eq!(
            scan_text(r"C:\Users\jdoe\AppData\Local\Temp\setup.exe").1,
            r"C:\Users\[redacted]\AppData\Local\Temp\setup.exe"
        );
        assert_eq!(scan_text(r"ACME\jdoe").1, r"ACME\[redacted]");
        assert_eq!(
            scan_text("mail john@acme.example now").1,
            "mail [redacted] now"
        );
    }

    #[test]
    fn scrub_reports_paths_and_redacts_in_place() {
        let mut data = serde_json::json!({"services": [
            {"name": "ApolloService", "startup_identity": "ACME\\jdoe", "exe_path": "C:\\Users\\jdoe\\a.exe"}
        ]});
        let mut findings = Vec::new();
        scrub(&mut data, "data", &mut findings);
        let paths: Vec<_> = findings.iter().map(|f| (f.path.as_str(), f.kind)).collect();
        assert_eq!(
            paths,
            [
                ("data.services[0].exe_path", PiiKind::UserProfilePath),
                ("data.services[0].startup_identity", PiiKind::AccountName)
            ]
        );
        assert!(!data.to_string().contains("jdoe"), "{data}");
    }
}
