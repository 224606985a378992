//! The PII guard. The terms promise that no personal data leaves a UCX Suite server except the
//! server's own IP address; this finds what would break that promise in the free text of a
//! beat's data (process, service and application names, paths, identities) before the beat is
//! typed, so one pass covers every category.

use std::borrow::Cow;
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
    PhoneNumber,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::EmailAddress => "email_address",
            PiiKind::UserProfilePath => "user_profile_path",
            PiiKind::AccountName => "account_name",
            PiiKind::PhoneNumber => "phone_number",
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
    home_share: Regex,
    domain_account: Regex,
    user_flag: Regex,
    upn_account: Regex,
    phone: Regex,
}

fn detectors() -> &'static Detectors {
    static DETECTORS: OnceLock<Detectors> = OnceLock::new();
    DETECTORS.get_or_init(|| Detectors {
        // Unicode letters: jürgen.müller@firma.de is as personal as john.doe@acme.example
        email: Regex::new(r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}")
            .unwrap(),
        // C:\Users\<name>\…, /Users/<name>/…, /home/<name>/…; separators doubled or not. The
        // capture is the user's folder name.
        profile_path: Regex::new(
            r"(?i)(?:[a-z]:)?[\\/]+(?:users|documents and settings|home)[\\/]+([^\\/]+)",
        )
        .unwrap(),
        // \\server\profiles$\<name>\…, \\fs\home$\<name>, \\fs\users\<name>: roaming profiles
        // and home shares
        home_share: Regex::new(
            r"(?i)\\\\+[^\\/]+[\\/]+[^\\/]*(?:profile|home|user)[^\\/]*[\\/]+([^\\/]+)",
        )
        .unwrap(),
        // DOMAIN\user or .\user as a whole value (service identities are whole values)
        domain_account: Regex::new(
            r"^(\.|[\p{L}\p{N}][\p{L}\p{N} ._-]*)\\+([\p{L}\p{N}][\p{L}\p{N} ._$-]*)$",
        )
        .unwrap(),
        // an account handed to a command: runas /user:ACME\jdoe, -u jdoe@ACME, user=ACME\jdoe
        user_flag: Regex::new(
            r#"(?i)(?:/user:|/u:|--user[=\s]|-u\s|\buser(?:name)?=)\s*"?(\.|[\p{L}\p{N}][\p{L}\p{N}._-]*)(\\+|@)([\p{L}\p{N}][\p{L}\p{N}._$-]*)"#,
        )
        .unwrap(),
        // user@DOMAIN (a down-level logon name without a top-level domain) as a whole value
        upn_account: Regex::new(r"^([\p{L}\p{N}][\p{L}\p{N}._-]*)@([A-Z][A-Z0-9-]*)$").unwrap(),
        // an international phone number: +39 333 123 4567, +1 (555) 010-2030, +49-171-1234567
        phone: Regex::new(r"\+\d{1,3}(?:[\s./-]*\(?\d{1,5}\)?){2,5}").unwrap(),
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
        || ["localservice", "networkservice", "localsystem", "system"]
            .iter()
            .any(|u| user.eq_ignore_ascii_case(u))
        || user.ends_with('$') // machine accounts
        || user == REDACTED
}

/// Replaces capture group `group` of every match of `pattern` in `text` with [`REDACTED`] where
/// `personal` says so; true when anything was. A text nothing matched is not copied.
fn redact_group(
    pattern: &Regex,
    text: &mut Cow<'_, str>,
    group: usize,
    personal: impl Fn(&regex::Captures) -> bool,
) -> bool {
    // `replace_all` sets up capture slots even when nothing matches; most texts match nothing
    if !pattern.is_match(text) {
        return false;
    }
    let mut found = false;
    let replaced = pattern.replace_all(text, |captures: &regex::Captures| {
        let whole = captures.get(0).expect("the match");
        let part = captures.get(group).expect("the group");
        if !personal(captures) {
            return whole.as_str().to_string();
        }
        found = true;
        let (start, end) = (part.start() - whole.start(), part.end() - whole.start());
        format!(
            "{}{REDACTED}{}",
            &whole.as_str()[..start],
            &whole.as_str()[end..]
        )
    });
    if let Cow::Owned(replaced) = replaced {
        *text = Cow::Owned(replaced);
    }
    found
}

/// Whether any detector could match `text`: each needs one of `@` (addresses, `user@DOMAIN`,
/// `-u jdoe@ACME`), `\` or `/` (paths, shares, `DOMAIN\user`) or `+` (phone numbers). Most
/// strings of a beat (process and service names, versions, states) hold none of them and skip
/// the seven regex searches.
fn may_be_personal(text: &str) -> bool {
    text.bytes()
        .any(|byte| matches!(byte, b'@' | b'\\' | b'/' | b'+'))
}

/// Scans one string; returns what it found and the redacted text.
fn scan_text(text: &str) -> (Vec<PiiKind>, Cow<'_, str>) {
    if !may_be_personal(text) {
        return (Vec::new(), Cow::Borrowed(text));
    }
    let detectors = detectors();
    let mut kinds = Vec::new();
    // borrowed until a detector changes it: most strings carry nothing and are not copied
    let mut redacted = Cow::Borrowed(text);
    // accounts first: an account handed to a command may look like an address (jdoe@ACME)
    let flagged = redact_group(&detectors.user_flag, &mut redacted, 3, |captures| {
        !is_builtin_account(&captures[1], &captures[3])
    });
    if detectors.email.is_match(&redacted) {
        kinds.push(PiiKind::EmailAddress);
        redacted = Cow::Owned(
            detectors
                .email
                .replace_all(&redacted, REDACTED)
                .into_owned(),
        );
    }
    let profile = redact_group(&detectors.profile_path, &mut redacted, 1, |captures| {
        !is_shared_profile(&captures[1])
    });
    let share = redact_group(&detectors.home_share, &mut redacted, 1, |captures| {
        !is_shared_profile(&captures[1])
    });
    if profile || share {
        kinds.push(PiiKind::UserProfilePath);
    }
    let whole_account = redact_group(&detectors.domain_account, &mut redacted, 2, |captures| {
        !is_builtin_account(&captures[1], &captures[2])
    }) || redact_group(&detectors.upn_account, &mut redacted, 1, |captures| {
        captures[1] != *REDACTED
    });
    if flagged || whole_account {
        kinds.push(PiiKind::AccountName);
    }
    let phone = redact_group(&detectors.phone, &mut redacted, 0, |captures| {
        let digits = captures[0].chars().filter(char::is_ascii_digit).count();
        (8..=15).contains(&digits)
    });
    if phone {
        kinds.push(PiiKind::PhoneNumber);
    }
    (kinds, redacted)
}

/// Whether `text` holds personal data (what [`scrub`] would find in it).
pub(crate) fn holds_personal_data(text: &str) -> bool {
    !scan_text(text).0.is_empty()
}

/// Finds personal data in every string of `value` (paths relative to `path`), redacting it in
/// place. Under [`PiiPolicy::Reject`] the caller refuses the beat when anything was found.
pub fn scrub(value: &mut serde_json::Value, path: &str, findings: &mut Vec<PiiFinding>) {
    let mut path = path.to_string();
    scrub_at(value, &mut path, findings);
}

/// [`scrub`] with one path buffer for the whole walk: a segment is pushed before descending
/// and cut after, so a beat without personal data allocates no path at all.
fn scrub_at(value: &mut serde_json::Value, path: &mut String, findings: &mut Vec<PiiFinding>) {
    use std::fmt::Write;
    let parent = path.len();
    match value {
        serde_json::Value::String(text) => {
            let (kinds, redacted) = scan_text(text);
            if !kinds.is_empty() {
                findings.extend(kinds.into_iter().map(|kind| PiiFinding {
                    path: path.clone(),
                    kind,
                }));
                let redacted = redacted.into_owned();
                *text = redacted;
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                write!(path, "[{index}]").expect("writing to a String");
                scrub_at(item, path, findings);
                path.truncate(parent);
            }
        }
        serde_json::Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                path.push('.');
                path.push_str(name);
                scrub_at(field, path, findings);
                path.truncate(parent);
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

    /// Names of people, accents and other scripts included.
    const NAMES: &[&str] = &[
        "jdoe",
        "maria.rossi",
        "jürgen.müller",
        "søren.berg",
        "françois.dupont",
        "zoë.smith",
        "mehmet.öztürk",
        "anna-lena",
        "łukasz.nowak",
        "李雷",
        "ana_garcía",
        "p.nguyễn",
        "ålesund.kari",
        "jo2",
    ];

    /// Where a user's name turns up in what a server reports.
    const FORMS: &[&str] = &[
        r"ACME\{}",
        r".\{}",
        "{}@ACME",
        r"C:\Users\{}\AppData\Local\Temp\setup.exe",
        r"c:\\users\\{}\\Desktop\\report.xlsx",
        "/home/{}/bin/tool",
        "/Users/{}/Library/app",
        r"\\fs01\profiles$\{}\AppData\Roaming",
        r"\\fileserver\home$\{}\docs\a.txt",
        r"runas /user:ACME\{} C:\Tools\app.exe",
        r"psexec -u ACME\{} cmd.exe",
        r"C:\Documents and Settings\{}\x.dll",
    ];

    fn personal_corpus() -> Vec<(String, String)> {
        let mut corpus = Vec::new();
        for name in NAMES {
            for form in FORMS {
                corpus.push((form.replace("{}", name), name.to_string()));
            }
        }
        for code in ["+39", "+49", "+1", "+44", "+33", "+41", "+43", "+971"] {
            for form in [
                "{} 333 123 4567",
                "{}-171-1234567",
                "{} (555) 010-2030",
                "{}.20.7946.0958",
                "on call: {} 333 1234567",
            ] {
                let text = form.replace("{}", code);
                let digits = text.rsplit(' ').next().unwrap_or_default().to_string();
                corpus.push((text, digits));
            }
        }
        corpus
    }

    fn technical_corpus() -> Vec<String> {
        let mut corpus: Vec<String> = [
            "LocalSystem",
            r"NT AUTHORITY\SYSTEM",
            r"NT AUTHORITY\NetworkService",
            r"NT AUTHORITY\LocalService",
            r"NT SERVICE\MSSQL$SQLEXPRESS",
            r"NT SERVICE\SQLTELEMETRY",
            r".\LocalService",
            r".\NetworkService",
            r".\LocalSystem",
            r"ACME\UCXSERVER01$",
            r"BUILTIN\Administrators",
            r"IIS APPPOOL\DefaultAppPool",
            r"C:\Users\Public\Documents\ucx.log",
            r"C:\Users\Default\NTUSER.DAT",
            r"C:\Users\All Users\Microsoft\x.dat",
            r"C:\Program Files\Imagicle\ApolloService.exe",
            r"C:\Program Files\Common Files\microsoft shared\ink\x.dll",
            r"C:\Program Files (x86)\Imagicle\UCX Suite\bin\Apollo.exe",
            r"D:\SQLData\ApolloDb.mdf",
            r"\\fs01\software$\ucx\setup.msi",
            "MSSQL$SQLEXPRESS",
            "Express Edition (64-bit)",
            "Microsoft SQL Server 2019 (RTM-CU22) - 15.0.4322.2 (X64)",
            "Windows Server 2022 Standard",
            "sqlservr.exe",
            "ApolloService",
            "UCXSRV01",
            "node-1",
            "C++ runtime",
            "+5 % since yesterday",
            "growth +3.2 points a day",
        ]
        .iter()
        .map(|text| text.to_string())
        .collect();
        for n in 0..40 {
            corpus.push(format!("KB50{:05}", 34_439 + n * 7));
            corpus.push(format!("10.0.{}.{}", n, 20 + n));
            corpus.push(format!("2024.Winter.{n}"));
            corpus.push(format!("10.0.20348.{}", 2_000 + n * 13));
            corpus.push(format!(
                "{:08x}-1c2d-4e5f-9a6b-{:012x}",
                0x6f1c_2a9e_u32 + n as u32,
                n * 977
            ));
        }
        corpus
    }

    /// The corpus test: every personal case is found and its person's part is gone; every
    /// look-alike passes untouched. Prints the rates the README quotes.
    #[test]
    fn the_corpus_is_redacted_and_the_look_alikes_pass() {
        let personal = personal_corpus();
        let technical = technical_corpus();
        assert!(personal.len() >= 200 && technical.len() >= 200);
        let mut missed = Vec::new();
        for (text, person) in &personal {
            let (found, redacted) = scan_text(text);
            if found.is_empty() || redacted.contains(person.as_str()) {
                missed.push(format!("{text} → {redacted}"));
            }
        }
        let flagged: Vec<String> = technical
            .iter()
            .filter_map(|text| {
                let (found, redacted) = scan_text(text);
                (!found.is_empty() || &redacted != text).then(|| format!("{text} → {redacted}"))
            })
            .collect();
        println!(
            "personal data: {} of {} redacted; look-alikes: {} of {} touched",
            personal.len() - missed.len(),
            personal.len(),
            flagged.len(),
            technical.len()
        );
        assert!(missed.is_empty(), "missed: {missed:#?}");
        assert!(flagged.is_empty(), "false positives: {flagged:#?}");
    }

    fn any_detector_matches(text: &str) -> bool {
        let d = detectors();
        [
            &d.email,
            &d.profile_path,
            &d.home_share,
            &d.domain_account,
            &d.user_flag,
            &d.upn_account,
            &d.phone,
        ]
        .iter()
        .any(|detector| detector.is_match(text))
    }

    /// [`may_be_personal`] lets through everything a detector could match: every personal text
    /// of the corpus, and no detector matches the near misses without its `@`, `\`, `/` or `+`.
    #[test]
    fn only_texts_without_the_detectors_characters_skip_the_scan() {
        for (text, _) in personal_corpus() {
            assert!(may_be_personal(&text), "{text}");
        }
        let near_misses = [
            "john.doe at acme.example",
            "runas user=jdoe cmd.exe",
            "psexec -u jdoe cmd.exe",
            "ACME jdoe",
            "jdoe ACME",
            "39 333 123 4567",
            "(555) 010-2030",
            "C: Users jdoe AppData",
            "sqlservr.exe",
        ];
        for text in near_misses {
            assert!(!may_be_personal(text), "{text}");
            assert!(!any_detector_matches(text), "{text}");
        }
    }

    proptest::proptest! {
        /// Any text without `@`, `\`, `/` and `+`: no detector matches it, so skipping it loses nothing.
        #[test]
        fn no_detector_matches_a_text_the_scan_skips(text in r"[^@\\/+]{0,60}") {
            proptest::prop_assert!(!may_be_personal(&text));
            proptest::prop_assert!(!any_detector_matches(&text), "{}", text);
        }

        /// The same with the characters the detectors look for around them (letters, digits,
        /// `.`, `-`, `_`, `$`, `:`, `=`, spaces, parentheses, quotes).
        #[test]
        fn no_detector_matches_look_alike_text_the_scan_skips(text in r#"[a-zA-Z0-9.\-_$:= ()"äöü]{0,60}"#) {
            proptest::prop_assert!(!any_detector_matches(&text), "{}", text);
        }
    }

    #[test]
    fn the_profile_folder_itself_is_redacted_not_a_like_part_of_the_path() {
        assert_eq!(scan_text(r"C:\Users\ser\x").1, r"C:\Users\[redacted]\x");
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
