//! What DynamoDB charges for a request, by the sizing rules of its developer guide ("Item sizes
//! and formats", "Read and write operations", "Capacity management for transactions"): an item's
//! size from its wire form (DynamoDB JSON), write units per started KB of the larger of the item
//! before and after, read units per started 4 KB (a query's items summed first, a batch's each on
//! its own), halved for eventually consistent reads, doubled in transactions; and the writes a
//! change makes in a global secondary index, by what the index projects. The bench meters the
//! store's requests with these; they are pure so that a test holds them to the guide's examples.

use serde_json::Value;

/// The bytes DynamoDB counts for an item: every attribute's name and value.
pub fn item_size(item: &Value) -> usize {
    item.as_object().map_or(0, |attributes| attributes.iter().map(|(name, value)| name.len() + value_size(value)).sum())
}

/// The bytes of one attribute value (`{"S": "…"}`, `{"N": "…"}`, `{"M": {…}}`, …).
fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|v| v.iter().next()) else { return 0 };
    let texts = || inner.as_array().into_iter().flatten().filter_map(Value::as_str);
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => inner.as_str().map_or(1, number_size),
        "B" => inner.as_str().map_or(0, base64_len),
        "BOOL" | "NULL" => 1,
        "SS" => texts().map(str::len).sum(),
        "NS" => texts().map(number_size).sum(),
        "BS" => texts().map(base64_len).sum(),
        // Three bytes for the container, one more for each element.
        "L" => 3 + inner.as_array().map_or(0, |items| items.iter().map(|v| 1 + value_size(v)).sum()),
        "M" => {
            3 + inner.as_object().map_or(0, |items| items.iter().map(|(name, v)| 1 + name.len() + value_size(v)).sum())
        }
        _ => 0,
    }
}

/// A number: one byte per two significant digits (leading and trailing zeroes trimmed), plus one.
fn number_size(number: &str) -> usize {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// The raw length of a base64 text.
fn base64_len(text: &str) -> usize {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count();
    (text.len() / 4 * 3).saturating_sub(padding)
}

/// Write units of writing an item of `bytes` (the larger of before and after): one per started
/// KB, at least one.
pub fn write_units(bytes: usize) -> u64 {
    bytes.div_ceil(1024).max(1) as u64
}

/// Read units of reading `bytes` in one go (an item, or a query's items together): one per
/// started 4 KB, at least one, half of that when eventually consistent.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// What a global secondary index keeps of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

/// A global secondary index: its key attributes and projection; `table_keys` are the table's.
#[derive(Debug, Clone)]
pub struct IndexShape {
    pub keys: Vec<String>,
    pub table_keys: Vec<String>,
    pub projection: Projection,
}

impl IndexShape {
    /// The item as the index keeps it, or `None` when it has not all the index's keys (a sparse
    /// index leaves it out).
    fn entry(&self, item: Option<&Value>) -> Option<serde_json::Map<String, Value>> {
        let attributes = item?.as_object()?;
        if !self.keys.iter().all(|k| attributes.contains_key(k)) {
            return None;
        }
        let kept = |name: &String| match &self.projection {
            Projection::All => true,
            Projection::KeysOnly => self.keys.contains(name) || self.table_keys.contains(name),
            Projection::Include(extra) => {
                self.keys.contains(name) || self.table_keys.contains(name) || extra.contains(name)
            }
        };
        Some(attributes.iter().filter(|(name, _)| kept(name)).map(|(n, v)| (n.clone(), v.clone())).collect())
    }

    /// The write units a change of an item from `before` to `after` costs in this index: an entry
    /// put, deleted, or both when its key moves; one update when only what it projects changed;
    /// nothing when the index does not see the change.
    pub fn write_units(&self, before: Option<&Value>, after: Option<&Value>) -> u64 {
        let key = |entry: &serde_json::Map<String, Value>| {
            self.keys.iter().map(|k| entry.get(k).cloned()).collect::<Vec<_>>()
        };
        let size = |entry: serde_json::Map<String, Value>| item_size(&Value::Object(entry));
        match (self.entry(before), self.entry(after)) {
            (None, None) => 0,
            (Some(old), None) => write_units(size(old)),
            (None, Some(new)) => write_units(size(new)),
            (Some(old), Some(new)) if key(&old) != key(&new) => write_units(size(old)) + write_units(size(new)),
            (Some(old), Some(new)) if old == new => 0,
            (Some(old), Some(new)) => write_units(size(old).max(size(new))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An item of exactly `bytes` bytes: one string attribute named "p".
    fn item_of(bytes: usize) -> Value {
        json!({ "p": { "S": "x".repeat(bytes - 1) } })
    }

    #[test]
    fn sizes_follow_the_guide_rules_for_each_type() {
        // A string: its name and its UTF-8 bytes ("é" is two).
        assert_eq!(item_size(&json!({ "name": { "S": "José" } })), 4 + 5);
        // A number: a byte per two significant digits, plus one; zeroes at either end trimmed.
        assert_eq!(item_size(&json!({ "n": { "N": "123" } })), 1 + 3);
        assert_eq!(item_size(&json!({ "n": { "N": "0012300" } })), 1 + 3);
        assert_eq!(item_size(&json!({ "n": { "N": "-1.5" } })), 1 + 2);
        // Null and Boolean: one byte.
        assert_eq!(item_size(&json!({ "b": { "BOOL": true }, "z": { "NULL": true } })), 2 + 2);
        // List and map: three bytes, and one for each element (a map's element names count).
        assert_eq!(item_size(&json!({ "l": { "L": [] } })), 1 + 3);
        assert_eq!(item_size(&json!({ "l": { "L": [{ "S": "ab" }, { "N": "7" }] } })), 1 + 3 + (1 + 2) + (1 + 2));
        assert_eq!(item_size(&json!({ "m": { "M": { "k": { "S": "v" } } } })), 1 + 3 + (1 + 1 + 1));
        // Binary: the raw bytes, not the base64 text ("aGk=" is "hi").
        assert_eq!(item_size(&json!({ "b": { "B": "aGk=" } })), 1 + 2);
        assert_eq!(item_size(&json!({ "s": { "SS": ["a", "bc"] } })), 1 + 3);
    }

    #[test]
    fn reads_match_the_guide_examples() {
        // "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item"
        assert_eq!(read_units(3_500, true), 1.0);
        assert_eq!(read_units(3_500, false), 0.5);
        // "If you read a 10 KB item, DynamoDB rounds the item size to 12 KB."
        assert_eq!(read_units(10 * 1024, true), 3.0);
        // "if your item size is 8 KB, you require 2 read units ... 1 if eventually consistent"
        assert_eq!(read_units(8 * 1024, true), 2.0);
        assert_eq!(read_units(8 * 1024, false), 1.0);
        // BatchGetItem of a 1.5 KB and a 6.5 KB item: 4 KB + 8 KB, each item on its own.
        let batch = read_units(1536, true) + read_units(6656, true);
        assert_eq!(batch, 3.0);
        // A query returning items of 40.8 KB together: rounded once, to 44 KB.
        let kb_40_8 = 40 * 1024 + 819;
        assert_eq!(read_units(kb_40_8, true), 11.0);
        assert_eq!(read_units(kb_40_8, false), 5.5);
    }

    #[test]
    fn writes_match_the_guide_examples() {
        assert_eq!(write_units(item_size(&item_of(1024))), 1);
        assert_eq!(write_units(item_size(&item_of(1025))), 2);
        // "each transaction writes three 500-byte items ... you would need to provision six WCUs"
        let transaction: u64 = (0..3).map(|_| 2 * write_units(item_size(&item_of(500)))).sum();
        assert_eq!(transaction, 6);
        // Deleting an item or writing nothing still costs a unit.
        assert_eq!(write_units(0), 1);
    }

    fn shape(projection: Projection) -> IndexShape {
        IndexShape { keys: vec!["gk".into(), "gs".into()], table_keys: vec!["pk".into(), "sk".into()], projection }
    }

    #[test]
    fn an_index_writes_what_enters_leaves_or_moves_in_it() {
        let index = shape(Projection::All);
        let base = json!({ "pk": { "S": "a" }, "sk": { "S": "b" }, "x": { "S": "1" } });
        let indexed = json!({ "pk": { "S": "a" }, "sk": { "S": "b" }, "x": { "S": "1" }, "gk": { "S": "k" }, "gs": { "S": "1" } });
        let moved = json!({ "pk": { "S": "a" }, "sk": { "S": "b" }, "x": { "S": "1" }, "gk": { "S": "k" }, "gs": { "S": "2" } });
        let changed = json!({ "pk": { "S": "a" }, "sk": { "S": "b" }, "x": { "S": "2" }, "gk": { "S": "k" }, "gs": { "S": "1" } });
        assert_eq!(index.write_units(Some(&base), Some(&base)), 0, "never in the index");
        assert_eq!(index.write_units(None, Some(&indexed)), 1, "put");
        assert_eq!(index.write_units(Some(&indexed), None), 1, "deleted");
        assert_eq!(index.write_units(Some(&indexed), Some(&moved)), 2, "its key moved: a delete and a put");
        assert_eq!(index.write_units(Some(&indexed), Some(&changed)), 1, "what it projects changed");
        assert_eq!(index.write_units(Some(&indexed), Some(&indexed)), 0, "unchanged");
        // Keys only: a change of another attribute is not seen.
        assert_eq!(shape(Projection::KeysOnly).write_units(Some(&indexed), Some(&changed)), 0);
        assert_eq!(shape(Projection::Include(vec!["x".into()])).write_units(Some(&indexed), Some(&changed)), 1);
    }

    #[test]
    fn a_large_item_costs_a_unit_per_started_kilobyte_in_an_index_too() {
        let index = shape(Projection::All);
        let mut big = item_of(3000);
        big["gk"] = json!({ "S": "k" });
        big["gs"] = json!({ "S": "1" });
        assert_eq!(index.write_units(None, Some(&big)), 3);
        assert_eq!(shape(Projection::KeysOnly).write_units(None, Some(&big)), 1);
    }
}
