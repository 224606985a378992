//! Offsets per topic and partition, kept without an allocation per record: a stage reads a
//! handful of topics, found by name, each with its partitions.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Offsets {
    topics: Vec<(String, HashMap<i32, i64>)>,
}

impl Offsets {
    /// Sets the offset of (`topic`, `partition`).
    pub fn set(&mut self, topic: &str, partition: i32, offset: i64) {
        match self.topics.iter_mut().find(|(name, _)| name == topic) {
            Some((_, partitions)) => {
                partitions.insert(partition, offset);
            }
            None => self
                .topics
                .push((topic.to_string(), HashMap::from([(partition, offset)]))),
        }
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        let (_, partitions) = self.topics.iter().find(|(name, _)| name == topic)?;
        partitions.get(&partition).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.topics
            .iter()
            .all(|(_, partitions)| partitions.is_empty())
    }

    pub fn clear(&mut self) {
        self.topics.clear();
    }

    /// Every (topic, partition, offset).
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.topics.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(&partition, &offset)| (topic.as_str(), partition, offset))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_offset_of_each_partition_is_kept() {
        let mut offsets = Offsets::default();
        assert!(offsets.is_empty());
        offsets.set("beats", 0, 5);
        offsets.set("beats", 0, 6);
        offsets.set("alerts", 2, 1);
        assert_eq!(offsets.get("beats", 0), Some(6));
        assert_eq!(offsets.get("beats", 1), None);
        let mut all: Vec<_> = offsets.iter().collect();
        all.sort();
        assert_eq!(all, [("alerts", 2, 1), ("beats", 0, 6)]);
        offsets.clear();
        assert!(offsets.is_empty());
    }
}
