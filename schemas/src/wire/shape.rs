//! Which fields the beat format knows, by place in a category's `data`, read from the category's
//! Avro schema (the contract; its aliases included). The probe's one pass over a beat's text
//! looks each key up here, so a beat whose every field is known (nearly all of them) is typed
//! without serde_ignored's bookkeeping, which copies every key it reads to name the unknown ones:
//! 44 % of the parse on the benchmark's beats. A beat with a field the schema does not name is
//! typed through serde_ignored as before, which says which fields those are.

use std::sync::OnceLock;

use apache_avro::schema::{Name, ResolvedSchema, Schema};

use crate::beats::Category;

/// What the schema says of a value at one place in `data`.
#[derive(Debug)]
pub(super) enum Shape {
    /// An object with these fields.
    Record(Vec<Field>),
    /// An array of these items.
    List(Box<Shape>),
    /// An object of any keys, each with this value.
    Dict(Box<Shape>),
    /// A value with no fields (a string, a number, an enum…), or one the schema does not pin to
    /// one shape (a union of several types): an object or an array here is not looked into, and
    /// the beat is typed the careful way.
    Scalar,
}

/// A field of a record: its name and aliases, and its value's shape.
#[derive(Debug)]
pub(super) struct Field {
    names: Box<[Box<str>]>,
    shape: Shape,
}

/// Deeper than any beat: a schema nested further (or one referring to itself) is not followed.
const MAX_DEPTH: usize = 32;

impl Shape {
    /// The shape of `category`'s `data` (built once per process).
    pub(super) fn of(category: Category) -> &'static Shape {
        static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
        let shapes = SHAPES.get_or_init(|| {
            Category::ALL
                .iter()
                .map(|category| data_shape(category.schema_source()))
                .collect()
        });
        &shapes[category as usize]
    }

    /// The shape of field `name` of a record, trying the field at `*next` first (fields mostly
    /// come in the schema's order) and leaving `*next` after the one found; `None`: the schema
    /// does not name it.
    pub(super) fn field<'s>(
        fields: &'s [Field],
        name: &str,
        next: &mut usize,
    ) -> Option<&'s Shape> {
        let named = |field: &Field| field.names.iter().any(|known| **known == *name);
        let found = match fields.get(*next) {
            Some(field) if named(field) => *next,
            _ => fields.iter().position(named)?,
        };
        *next = found + 1;
        Some(&fields[found].shape)
    }
}

/// The shape of the `data` field of a beat schema; [`Shape::Scalar`] (every beat typed the
/// careful way) if the schema has none, which the contract tests rule out.
fn data_shape(source: &str) -> Shape {
    let Ok(schema) = Schema::parse_str(source) else {
        return Shape::Scalar;
    };
    let Ok(resolved) = ResolvedSchema::try_from(&schema) else {
        return Shape::Scalar;
    };
    let Schema::Record(beat) = &schema else {
        return Shape::Scalar;
    };
    beat.fields
        .iter()
        .find(|field| field.name == "data")
        .map(|data| shape_of(&data.schema, resolved.get_names(), 0))
        .unwrap_or(Shape::Scalar)
}

fn shape_of(
    schema: &Schema,
    names: &std::collections::HashMap<Name, &Schema>,
    depth: usize,
) -> Shape {
    if depth > MAX_DEPTH {
        return Shape::Scalar;
    }
    let nested = |schema: &Schema| shape_of(schema, names, depth + 1);
    match schema {
        Schema::Record(record) => Shape::Record(
            record
                .fields
                .iter()
                .map(|field| Field {
                    names: std::iter::once(field.name.as_str())
                        .chain(field.aliases.iter().flatten().map(String::as_str))
                        .map(Box::from)
                        .collect(),
                    shape: nested(&field.schema),
                })
                .collect(),
        ),
        Schema::Array(array) => Shape::List(Box::new(nested(&array.items))),
        Schema::Map(map) => Shape::Dict(Box::new(nested(&map.types))),
        Schema::Union(union) => match union.variants() {
            [Schema::Null, only] | [only, Schema::Null] | [only] => nested(only),
            _ => Shape::Scalar,
        },
        Schema::Ref { name } => names.get(name).map_or(Shape::Scalar, |named| nested(named)),
        _ => Shape::Scalar,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_the_shape_of_its_data() {
        for (index, category) in Category::ALL.iter().enumerate() {
            assert_eq!(
                *category as usize, index,
                "Category::ALL is in declaration order"
            );
            assert!(
                matches!(Shape::of(*category), Shape::Record(fields) if !fields.is_empty()),
                "{category:?}"
            );
        }
    }

    /// Each object of `value` that the shape calls a record, with each of its keys that has
    /// aliases: (JSON pointer of the object, key, alias).
    fn aliased(
        value: &serde_json::Value,
        shape: &Shape,
        at: String,
        found: &mut Vec<(String, String, String)>,
    ) {
        match (value, shape) {
            (serde_json::Value::Object(object), Shape::Record(fields)) => {
                for (key, field) in object {
                    let Some(known) = fields
                        .iter()
                        .find(|known| known.names.iter().any(|name| **name == *key))
                    else {
                        continue;
                    };
                    for alias in known.names.iter().filter(|name| ***name != *key) {
                        found.push((at.clone(), key.clone(), alias.to_string()));
                    }
                    aliased(field, &known.shape, format!("{at}/{key}"), found);
                }
            }
            (serde_json::Value::Array(items), Shape::List(item)) => {
                for (index, value) in items.iter().enumerate() {
                    aliased(value, item, format!("{at}/{index}"), found);
                }
            }
            _ => {}
        }
    }

    /// The unknown fields serde_ignored reports in `data` (the careful way of typing a beat).
    fn noted_by_serde(category: Category, data: &serde_json::Value) -> Vec<String> {
        let text = data.to_string();
        let mut unknown = Vec::new();
        crate::beats::BeatPayload::from_json(
            category,
            &mut serde_json::Deserializer::from_str(&text),
            false,
            |path| unknown.push(path.to_string()),
        )
        .expect("the example is typed");
        unknown
    }

    /// The shape says which fields are known and the Rust types decide: every name of the
    /// examples and every alias the schemas give is known to the types too, so a beat the probe
    /// finds nothing unknown in holds nothing serde would have reported.
    #[test]
    fn serde_knows_every_name_and_alias_the_schemas_give() {
        let mut aliases = 0;
        for category in Category::ALL {
            let example: serde_json::Value =
                serde_json::from_str(category.example_source()).expect("an example");
            let data = &example["data"];
            assert_eq!(
                noted_by_serde(*category, data),
                Vec::<String>::new(),
                "{category:?}"
            );
            let mut found = Vec::new();
            aliased(data, Shape::of(*category), String::new(), &mut found);
            for (pointer, key, alias) in found {
                let mut changed = data.clone();
                let object = changed
                    .pointer_mut(&pointer)
                    .and_then(serde_json::Value::as_object_mut)
                    .expect("an object");
                let value = object.remove(&key).expect("the key");
                object.insert(alias.clone(), value);
                assert_eq!(
                    noted_by_serde(*category, &changed),
                    Vec::<String>::new(),
                    "{category:?}: {alias} for {key} at {pointer}"
                );
                aliases += 1;
            }
        }
        assert!(aliases > 0, "the examples hold an aliased field");
    }

    #[test]
    fn a_field_is_found_by_name_or_alias_in_any_order() {
        let Shape::Record(fields) = Shape::of(Category::SoftwareInfoWindowsServices) else {
            panic!("a record");
        };
        let Some(Shape::List(service)) = Shape::field(fields, "services", &mut 0) else {
            panic!("services is a list: {fields:?}");
        };
        let Shape::Record(service) = &**service else {
            panic!("of records");
        };
        let mut next = 0;
        for name in ["name", "startup_mode", "startup_identity"] {
            assert!(Shape::field(service, name, &mut next).is_some(), "{name}");
        }
        let mut next = service.len() - 1;
        assert!(Shape::field(service, "startup_name", &mut next).is_some());
        assert!(Shape::field(service, "name", &mut next).is_some());
        assert!(Shape::field(service, "owner_hint", &mut next).is_none());
    }
}
