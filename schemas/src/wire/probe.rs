//! One pass over a beat's `data` before it is typed: its content hash and whether any of its
//! strings holds personal data. It runs over the JSON text of nearly every beat (no personal
//! data: the beat is then typed straight from the text, with no tree in between) and over the
//! parsed tree of a beat whose personal data was redacted, with one hash for both.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::pii;

/// What one pass over `data` found.
pub(super) struct Probe {
    /// Equal for equal category, node and data, whatever the order of the data's fields.
    pub content_hash: u64,
    /// Whether a string of the data holds personal data.
    pub personal: bool,
}

/// A fixed hash: equal content gives an equal hash in every process (it is only ever compared
/// with hashes of the same gateway, but a fixed seed keeps it reproducible).
fn hasher() -> foldhash::quality::FoldHasher<'static> {
    foldhash::quality::FixedState::with_seed(0x0ca7_0b3a).build_hasher()
}

/// Hashes `category`, `node_id` and the data `deserializer` yields, and looks for personal data
/// in its strings.
pub(super) fn probe<'de, D: Deserializer<'de>>(
    category: &str,
    node_id: &str,
    data: D,
) -> Result<Probe, D::Error> {
    let mut personal = false;
    let content_hash = hash_data(category, node_id, data, Some(&mut personal))?;
    Ok(Probe {
        content_hash,
        personal,
    })
}

/// [`probe`]'s content hash alone (of data already redacted: nothing to look for).
pub(super) fn content_hash<'de, D: Deserializer<'de>>(
    category: &str,
    node_id: &str,
    data: D,
) -> Result<u64, D::Error> {
    hash_data(category, node_id, data, None)
}

/// The content hash, looking for personal data on the way when `personal` is given.
fn hash_data<'de, D: Deserializer<'de>>(
    category: &str,
    node_id: &str,
    data: D,
    personal: Option<&mut bool>,
) -> Result<u64, D::Error> {
    let mut hash = hasher();
    (category, node_id).hash(&mut hash);
    Walk {
        hash: &mut hash,
        personal,
    }
    .deserialize(data)?;
    Ok(hash.finish())
}

/// Feeds one JSON value to `hash`. Tags keep the kinds apart (`"1"` is not `1`, `[]` is not
/// `{}`); an object's fields are hashed one by one and summed, so their order does not count.
struct Walk<'a> {
    hash: &'a mut foldhash::quality::FoldHasher<'static>,
    /// Set when a string holds personal data; `None`: not looked for.
    personal: Option<&'a mut bool>,
}

impl Walk<'_> {
    fn nested(&mut self) -> Walk<'_> {
        Walk {
            hash: self.hash,
            personal: self.personal.as_deref_mut(),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        0u8.hash(self.hash);
        Ok(())
    }

    fn visit_bool<E>(self, flag: bool) -> Result<(), E> {
        (1u8, flag).hash(self.hash);
        Ok(())
    }

    fn visit_i64<E>(self, integer: i64) -> Result<(), E> {
        (2u8, integer).hash(self.hash);
        Ok(())
    }

    fn visit_u64<E>(self, integer: u64) -> Result<(), E> {
        match i64::try_from(integer) {
            Ok(integer) => (2u8, integer).hash(self.hash),
            Err(_) => (3u8, integer).hash(self.hash),
        }
        Ok(())
    }

    fn visit_f64<E>(self, float: f64) -> Result<(), E> {
        (4u8, float.to_bits()).hash(self.hash);
        Ok(())
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        (5u8, text).hash(self.hash);
        if let Some(personal) = self.personal {
            if !*personal && pii::holds_personal_data(text) {
                *personal = true;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> Result<(), A::Error> {
        6u8.hash(self.hash);
        let mut count = 0usize;
        while items.next_element_seed(self.nested())?.is_some() {
            count += 1;
        }
        count.hash(self.hash);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut fields: A) -> Result<(), A::Error> {
        let (mut count, mut sum) = (0usize, 0u64);
        loop {
            let mut field = hasher();
            if fields.next_key_seed(Key(&mut field))?.is_none() {
                break;
            }
            fields.next_value_seed(Walk {
                hash: &mut field,
                personal: self.personal.as_deref_mut(),
            })?;
            sum = sum.wrapping_add(field.finish());
            count += 1;
        }
        (7u8, count, sum).hash(self.hash);
        Ok(())
    }
}

/// Feeds an object's key to its field's hash.
struct Key<'a>(&'a mut foldhash::quality::FoldHasher<'static>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> Result<(), E> {
        name.hash(self.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of_text(data: &str) -> Probe {
        let mut deserializer = serde_json::Deserializer::from_str(data);
        probe("c", "n", &mut deserializer).expect("JSON")
    }

    fn hash_of_tree(data: &str) -> Probe {
        let tree: serde_json::Value = serde_json::from_str(data).expect("JSON");
        probe("c", "n", &tree).expect("a tree")
    }

    #[test]
    fn text_and_tree_hash_alike_and_field_order_does_not_count() {
        let data = r#"{"processes": [{"pid": 1, "name": "a.exe", "cpu": 1.5, "x": null, "on": true},
            {"pid": 18446744073709551615, "name": "b\u00e9"}], "n": -3}"#;
        let reordered = r#"{"n": -3, "processes": [{"name": "a.exe", "x": null, "pid": 1, "on": true, "cpu": 1.5},
            {"name": "bé", "pid": 18446744073709551615}]}"#;
        let hash = hash_of_text(data).content_hash;
        assert_eq!(hash, hash_of_tree(data).content_hash);
        let tree: serde_json::Value = serde_json::from_str(data).expect("JSON");
        assert_eq!(hash, content_hash("c", "n", &tree).expect("a tree"));
        assert_eq!(hash, hash_of_text(reordered).content_hash);
        assert_eq!(hash, hash_of_tree(reordered).content_hash);
    }

    #[test]
    fn other_content_hashes_otherwise() {
        let hash = hash_of_text(r#"{"a": [1, 2], "b": "x"}"#).content_hash;
        for other in [
            r#"{"a": [2, 1], "b": "x"}"#,
            r#"{"a": [1, 2], "b": "y"}"#,
            r#"{"a": [1, 2], "c": "x"}"#,
            r#"{"a": [1, 2, 3], "b": "x"}"#,
            r#"{"a": ["1", 2], "b": "x"}"#,
            r#"{"a": [1.0, 2], "b": "x"}"#,
            r#"{"a": {"0": 1, "1": 2}, "b": "x"}"#,
            r#"{"a": [1, 2]}"#,
        ] {
            assert_ne!(hash, hash_of_text(other).content_hash, "{other}");
        }
        let mut deserializer = serde_json::Deserializer::from_str(r#"{"a": [1, 2], "b": "x"}"#);
        let elsewhere = probe("c", "m", &mut deserializer).expect("JSON");
        assert_ne!(hash, elsewhere.content_hash, "another node");
    }

    #[test]
    fn personal_data_is_found_in_any_string_of_the_data() {
        assert!(!hash_of_text(r#"{"a": ["sqlservr.exe", "C:\\Program Files\\x.exe"]}"#).personal);
        assert!(hash_of_text(r#"{"a": [{"b": "C:\\Users\\jdoe\\x.exe"}]}"#).personal);
        assert!(hash_of_text(r#"{"a": "mail john\u0040acme.example"}"#).personal);
        assert!(hash_of_tree(r#"{"a": 1, "b": "ACME\\jdoe"}"#).personal);
    }
}
