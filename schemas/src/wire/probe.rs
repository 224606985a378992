//! One pass over a beat's `data` before it is typed: its content hash and whether any of its
//! strings holds personal data. It runs over the JSON text of nearly every beat (no personal
//! data: the beat is then typed straight from the text, with no tree in between) and over the
//! parsed tree of a beat whose personal data was redacted, with one hash for both. Over the text
//! it also looks each field up in the category's [`Shape`], so that a beat whose every field the
//! schema names is typed without noting unknown fields.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::shape::{Field, Shape};
use crate::pii;

/// What one pass over `data` found.
pub(super) struct Probe {
    /// Equal for equal category, node and data, whatever the order of the data's fields.
    pub content_hash: u64,
    /// Whether a string of the data holds personal data.
    pub personal: bool,
    /// Whether the data holds a field the schema does not name, or an object or array where the
    /// schema has no fields (the beat is then typed noting the unknown fields, or refused).
    pub unknown_fields: bool,
}

/// A fixed hash: equal content gives an equal hash in every process (it is only ever compared
/// with hashes of the same gateway, but a fixed seed keeps it reproducible).
fn hasher() -> foldhash::quality::FoldHasher<'static> {
    foldhash::quality::FixedState::with_seed(0x0ca7_0b3a).build_hasher()
}

/// Hashes `category`, `node_id` and the data `deserializer` yields, looks for personal data in
/// its strings and for fields `shape` does not name.
pub(super) fn probe<'de, D: Deserializer<'de>>(
    category: &str,
    node_id: &str,
    shape: &Shape,
    data: D,
) -> Result<Probe, D::Error> {
    let (mut personal, mut unknown_fields) = (false, false);
    let mut hash = hasher();
    (category, node_id).hash(&mut hash);
    Walk {
        hash: &mut hash,
        personal: Some(&mut personal),
        shape: Some(shape),
        unknown: Some(&mut unknown_fields),
    }
    .deserialize(data)?;
    Ok(Probe {
        content_hash: hash.finish(),
        personal,
        unknown_fields,
    })
}

/// [`probe`]'s content hash alone (of data already redacted and typed: nothing to look for).
pub(super) fn content_hash<'de, D: Deserializer<'de>>(
    category: &str,
    node_id: &str,
    data: D,
) -> Result<u64, D::Error> {
    let mut hash = hasher();
    (category, node_id).hash(&mut hash);
    Walk {
        hash: &mut hash,
        personal: None,
        shape: None,
        unknown: None,
    }
    .deserialize(data)?;
    Ok(hash.finish())
}

/// Feeds one JSON value to `hash`. Tags keep the kinds apart (`"1"` is not `1`, `[]` is not
/// `{}`); an object's fields are hashed one by one and summed, so their order does not count.
struct Walk<'a, 's> {
    hash: &'a mut foldhash::quality::FoldHasher<'static>,
    /// Set when a string holds personal data; `None`: not looked for.
    personal: Option<&'a mut bool>,
    /// What the schema says of this value; `None`: not looked at (not asked for, or inside a
    /// field already found unknown).
    shape: Option<&'s Shape>,
    /// Set on a field `shape` does not name (or a value it has no fields for).
    unknown: Option<&'a mut bool>,
}

impl<'s> Walk<'_, 's> {
    /// The walk of a value inside this one, whose shape is `shape`.
    fn nested(&mut self, shape: Option<&'s Shape>) -> Walk<'_, 's> {
        Walk {
            hash: self.hash,
            personal: self.personal.as_deref_mut(),
            shape,
            unknown: self.unknown.as_deref_mut(),
        }
    }

    /// Notes that this value is not what the schema says, or holds what it does not name.
    fn strange(&mut self) {
        if let Some(unknown) = self.unknown.as_deref_mut() {
            *unknown = true;
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
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
        let item = match self.shape {
            Some(Shape::List(item)) => Some(&**item),
            Some(_) => {
                self.strange();
                None
            }
            None => None,
        };
        let mut count = 0usize;
        while items.next_element_seed(self.nested(item))?.is_some() {
            count += 1;
        }
        count.hash(self.hash);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut fields: A) -> Result<(), A::Error> {
        let (mut record, mut dict) = (None, None);
        match self.shape {
            Some(Shape::Record(known)) => record = Some(&known[..]),
            Some(Shape::Dict(value)) => dict = Some(&**value),
            Some(_) => self.strange(),
            None => {}
        }
        let (mut count, mut sum, mut next) = (0usize, 0u64, 0);
        loop {
            let mut field = hasher();
            let key = Key {
                hash: &mut field,
                record,
                next: &mut next,
            };
            let Some(named) = fields.next_key_seed(key)? else {
                break;
            };
            if record.is_some() && named.is_none() {
                self.strange();
            }
            fields.next_value_seed(Walk {
                hash: &mut field,
                personal: self.personal.as_deref_mut(),
                shape: named.or(dict),
                unknown: self.unknown.as_deref_mut(),
            })?;
            sum = sum.wrapping_add(field.finish());
            count += 1;
        }
        (7u8, count, sum).hash(self.hash);
        Ok(())
    }
}

/// Feeds an object's key to its field's hash and, when the object is a record of the schema,
/// finds the field's shape (`None`: the schema does not name it, or was not asked).
struct Key<'a, 's> {
    hash: &'a mut foldhash::quality::FoldHasher<'static>,
    record: Option<&'s [Field]>,
    /// Where the next field probably is in `record` (see [`Shape::field`]).
    next: &'a mut usize,
}

impl<'de, 's> DeserializeSeed<'de> for Key<'_, 's> {
    type Value = Option<&'s Shape>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 's> Visitor<'de> for Key<'_, 's> {
    type Value = Option<&'s Shape>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
        name.hash(self.hash);
        Ok(self
            .record
            .and_then(|fields| Shape::field(fields, name, self.next)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of_text(data: &str) -> Probe {
        let mut deserializer = serde_json::Deserializer::from_str(data);
        probe("c", "n", &Shape::Scalar, &mut deserializer).expect("JSON")
    }

    fn hash_of_tree(data: &str) -> Probe {
        let tree: serde_json::Value = serde_json::from_str(data).expect("JSON");
        probe("c", "n", &Shape::Scalar, &tree).expect("a tree")
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
        let elsewhere = probe("c", "m", &Shape::Scalar, &mut deserializer).expect("JSON");
        assert_ne!(hash, elsewhere.content_hash, "another node");
    }

    /// The JSON pointers of every object in `value` (itself included).
    fn objects(value: &serde_json::Value, at: String, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (name, field) in fields {
                    objects(field, format!("{at}/{name}"), found);
                }
                found.push(at);
            }
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    objects(item, format!("{at}/{index}"), found);
                }
            }
            _ => {}
        }
    }

    fn unknown_fields_in(category: crate::Category, data: &serde_json::Value) -> bool {
        let text = data.to_string();
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        probe("c", "n", Shape::of(category), &mut deserializer)
            .expect("JSON")
            .unknown_fields
    }

    /// The examples hold every kind of object of each category: none is taken for unknown (the
    /// fast way is taken), and a field added to any of them is found.
    #[test]
    fn a_field_the_schema_does_not_name_is_found_in_any_object_of_the_data() {
        for category in crate::Category::ALL {
            let example: serde_json::Value =
                serde_json::from_str(category.example_source()).expect("an example");
            let data = &example["data"];
            assert!(!unknown_fields_in(*category, data), "{category:?}");
            let mut places = Vec::new();
            objects(data, String::new(), &mut places);
            for place in places {
                let mut changed = data.clone();
                let object = changed.pointer_mut(&place).expect("an object");
                object["owner_hint"] = serde_json::json!("x");
                assert!(
                    unknown_fields_in(*category, &changed),
                    "{category:?} at {place}"
                );
                // an array or object where the schema has a plain value is not looked into
                let mut changed = data.clone();
                let object = changed.pointer_mut(&place).expect("an object");
                let Some(name) = object
                    .as_object()
                    .and_then(|fields| {
                        fields.iter().find(|(_, value)| {
                            !value.is_object() && !value.is_array() && !value.is_null()
                        })
                    })
                    .map(|(name, _)| name.clone())
                else {
                    continue;
                };
                object[&name] = serde_json::json!({"x": 1});
                assert!(
                    unknown_fields_in(*category, &changed),
                    "{category:?} at {place}/{name}"
                );
            }
        }
    }

    #[test]
    fn personal_data_is_found_in_any_string_of_the_data() {
        assert!(!hash_of_text(r#"{"a": ["sqlservr.exe", "C:\\Program Files\\x.exe"]}"#).personal);
        assert!(hash_of_text(r#"{"a": [{"b": "C:\\Users\\jdoe\\x.exe"}]}"#).personal);
        assert!(hash_of_text(r#"{"a": "mail john\u0040acme.example"}"#).personal);
        assert!(hash_of_tree(r#"{"a": 1, "b": "ACME\\jdoe"}"#).personal);
    }
}
