//! Installation keys: `ucx_<key id>_<secret>`. The key id is public and finds the installation
//! record; only the SHA-256 of the secret is stored (the secret is 256 random bits, so a fast
//! hash is enough: there is nothing to brute-force), and the presented secret's hash is
//! compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "ucx_";
const KEY_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A freshly issued key: `key` is shown once, the rest is stored.
pub struct IssuedKey {
    pub key: String,
    pub key_id: String,
    pub key_sha256: String,
}

pub fn issue() -> IssuedKey {
    let mut key_id = [0u8; KEY_ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut key_id).expect("the operating system's random source");
    getrandom::fill(&mut secret).expect("the operating system's random source");
    let key_id = hex::encode(key_id);
    let secret = hex::encode(secret);
    IssuedKey {
        key: format!("{PREFIX}{key_id}_{secret}"),
        key_sha256: sha256_hex(&secret),
        key_id,
    }
}

/// A presented key split into its parts; `None` when it does not have the key's shape.
pub struct PresentedKey<'a> {
    pub key_id: &'a str,
    secret: &'a str,
}

pub fn parse(key: &str) -> Option<PresentedKey<'_>> {
    let (key_id, secret) = key.strip_prefix(PREFIX)?.split_once('_')?;
    let well_formed = key_id.len() == 2 * KEY_ID_BYTES
        && secret.len() == 2 * SECRET_BYTES
        && key_id
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(PresentedKey { key_id, secret })
}

impl PresentedKey<'_> {
    /// Whether the secret hashes to `stored_sha256`, compared in constant time.
    pub fn matches(&self, stored_sha256: &str) -> bool {
        sha256_hex(self.secret)
            .as_bytes()
            .ct_eq(stored_sha256.as_bytes())
            .into()
    }
}

/// Compares a presented secret (e.g. the admin token) with the expected one in constant time
/// (both are hashed first, so their lengths leak nothing either).
pub fn secrets_equal(presented: &str, expected: &str) -> bool {
    sha256_hex(presented)
        .as_bytes()
        .ct_eq(sha256_hex(expected).as_bytes())
        .into()
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_key_matches_its_stored_hash_only() {
        let issued = issue();
        let presented = parse(&issued.key).expect("issued keys parse");
        assert_eq!(presented.key_id, issued.key_id);
        assert!(presented.matches(&issued.key_sha256));
        assert!(!presented.matches(&issue().key_sha256));
        assert!(!issued.key.contains(&issued.key_sha256));
    }

    #[test]
    fn keys_of_the_wrong_shape_do_not_parse() {
        let issued = issue();
        let truncated = &issued.key[..issued.key.len() - 1];
        for bad in [
            "",
            "ucx_",
            "ucx_abc_def",
            truncated,
            &issued.key.replace("ucx_", "abc_"),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_equal("token", "token"));
        assert!(!secrets_equal("token", "token2"));
    }
}
