//! Property tests: random valid beats of every category round-trip, and neither the JSON wire
//! parser nor the Avro decoder panics on arbitrary input (a bounded fuzz run).

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use ucx_schemas::{
    decode_beat, encode_beat, parse_beat, parse_beat_json, Category, PiiPolicy, WireError,
};

const NOW_MS: i64 = 1_795_428_300_000;

fn example(category: Category) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(format!("{}.json", category.id()));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Replaces every leaf of `value` with a random value of the same kind, drawn from `entropy`.
/// Numbers stay within their field's sensible range where the name says (percent), strings get
/// random text, lists keep between 0 and 3 copies of their first item.
fn randomize(value: &mut serde_json::Value, field: &str, entropy: &mut impl Iterator<Item = u64>) {
    let mut next = || entropy.next().unwrap_or(0);
    match value {
        serde_json::Value::Number(number) => {
            *value = if field.ends_with("_percent") {
                serde_json::json!((next() % 10_001) as f64 / 100.0)
            } else if number.is_f64() {
                serde_json::json!((next() % 1_000_000) as f64 / 7.0)
            } else if field == "bitness" {
                serde_json::json!(if next() % 2 == 0 { 32 } else { 64 })
            } else {
                serde_json::json!(next() % (1 << 50))
            };
        }
        serde_json::Value::String(text) if !matches!(field, "authentication") => {
            let alphabet: Vec<char> = "abcXYZ019 .-_:é漢/".chars().collect();
            let length = 1 + next() % 24;
            *text = (0..length)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
        }
        serde_json::Value::Bool(flag) => *flag = next() % 2 == 0,
        serde_json::Value::Array(items) => {
            if let Some(first) = items.first().cloned() {
                let copies = next() % 4;
                *items = (0..copies).map(|_| first.clone()).collect();
                for item in items.iter_mut() {
                    randomize(item, field, entropy);
                }
            }
        }
        serde_json::Value::Object(fields) => {
            for (name, field_value) in fields.iter_mut() {
                randomize(field_value, name, entropy);
            }
        }
        _ => {}
    }
}

fn random_beat(category: Category, seeds: Vec<u64>) -> serde_json::Value {
    let mut beat = example(category);
    randomize(&mut beat["data"], "data", &mut seeds.into_iter());
    beat
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_valid_beats_round_trip(index in 0..Category::ALL.len(), seeds in prop::collection::vec(any::<u64>(), 64)) {
        let category = Category::ALL[index];
        let body = serde_json::to_vec(&random_beat(category, seeds)).unwrap();
        let beat = match parse_beat_json(&body, NOW_MS) {
            Ok(beat) => beat,
            // Random values may be impossible together (free > size): not this property's concern.
            Err(WireError::Invalid(_)) => return Err(TestCaseError::reject("impossible values")),
            Err(error) => return Err(TestCaseError::fail(format!("{}: {error}", category.id()))),
        };
        prop_assert_eq!(decode_beat(&encode_beat(&beat).unwrap()).unwrap(), beat.clone());
        let reposted = serde_json::to_vec(&beat.to_wire_json()).unwrap();
        prop_assert_eq!(parse_beat_json(&reposted, NOW_MS).unwrap(), beat);
    }

    #[test]
    fn the_wire_parser_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_beat(&bytes, NOW_MS, PiiPolicy::Reject);
    }

    #[test]
    fn the_wire_parser_survives_mutated_beats(
        index in 0..Category::ALL.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = serde_json::to_vec(&example(Category::ALL[index])).unwrap();
        for (position, byte) in flips {
            let at = position.index(body.len());
            body[at] = byte;
        }
        let _ = parse_beat(&body, NOW_MS, PiiPolicy::Redact);
    }

    #[test]
    fn the_avro_decoder_survives_corrupted_records(
        index in 0..Category::ALL.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let beat = parse_beat_json(&serde_json::to_vec(&example(Category::ALL[index])).unwrap(), NOW_MS).unwrap();
        let mut record = encode_beat(&beat).unwrap();
        // Keep the header intact so the decoder gets past the fingerprint and into the datum.
        for (position, byte) in flips {
            let at = 10 + position.index(record.len() - 10);
            record[at] = byte;
        }
        record.truncate(10 + cut.index(record.len() - 9));
        let _ = decode_beat(&record);
    }
}
