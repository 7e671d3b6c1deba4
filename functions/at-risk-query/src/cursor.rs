//! Opaque page cursors. A cursor names the list it belongs to (whose, which plan year, which
//! archived filter) and the position in it; a cursor from another list is refused, so a cursor
//! can never be a way into someone else's data. It is hex-encoded JSON: opaque to clients, easy
//! to read when debugging.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `agent:{id}` or `agency:{id}`, plus the plan year and the filter: the list's identity.
    pub list: String,
    pub position: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        json.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The position, if `raw` is a cursor of `list`.
    pub fn position_in(raw: &str, list: &str) -> Result<String, CursorError> {
        if !raw.len().is_multiple_of(2) || raw.len() > 2048 {
            return Err(CursorError::Garbled);
        }
        // By bytes, not by string slices: a cursor may hold anything, multi-byte characters too.
        let hex = |digit: u8| char::from(digit).to_digit(16).ok_or(CursorError::Garbled);
        let bytes = raw
            .as_bytes()
            .chunks(2)
            .map(|pair| Ok(u8::try_from(hex(pair[0])? * 16 + hex(pair[1])?).unwrap_or_default()))
            .collect::<Result<Vec<u8>, CursorError>>()?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Garbled)?;
        if cursor.list != list {
            return Err(CursorError::OtherList);
        }
        Ok(cursor.position)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("cursor is not one this API gave out")]
    Garbled,
    #[error("cursor belongs to another list (another person's, plan year or archived filter)")]
    OtherList,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_within_its_list() {
        let cursor = Cursor { list: "agent:ana/2026/exclude".into(), position: "2026#x#y".into() };
        assert_eq!(Cursor::position_in(&cursor.encode(), "agent:ana/2026/exclude").unwrap(), "2026#x#y");
    }

    #[test]
    fn a_cursor_of_another_list_is_refused() {
        let cursor = Cursor { list: "agent:bob/2026/exclude".into(), position: "p".into() };
        assert_eq!(Cursor::position_in(&cursor.encode(), "agent:ana/2026/exclude"), Err(CursorError::OtherList));
        let other_filter = Cursor { list: "agent:ana/2026/include".into(), position: "p".into() };
        assert_eq!(Cursor::position_in(&other_filter.encode(), "agent:ana/2026/exclude"), Err(CursorError::OtherList));
    }

    #[test]
    fn garbage_is_refused() {
        for raw in ["zz", "abc", "7b7d", "not a cursor", "éé", "7é", "aé1"] {
            assert_eq!(Cursor::position_in(raw, "agent:ana/2026/exclude"), Err(CursorError::Garbled), "{raw}");
        }
    }
}

/// Property tests of the parser of outside input (`PROPTEST_CASES` cases each: a few thousand in
/// `make test`, 100,000 in `make fuzz`).
#[cfg(test)]
mod fuzz {
    use super::*;

    proptest::proptest! {
        /// Whatever a client sends as a cursor, the answer is a position or a refusal, never a panic.
        #[test]
        fn any_string_is_a_position_or_a_refusal(raw in ".{0,64}", hexish in "[0-9a-fé]{0,64}") {
            let _ = Cursor::position_in(&raw, "agent:ana/2026/exclude");
            let _ = Cursor::position_in(&hexish, "agent:ana/2026/exclude");
        }

        /// Every cursor this API gives out leads back to its position, and only in its own list.
        #[test]
        fn every_cursor_given_out_round_trips(position in ".{0,200}", list in "[a-z:/0-9]{1,40}") {
            let cursor = Cursor { list: list.clone(), position: position.clone() };
            proptest::prop_assert_eq!(Cursor::position_in(&cursor.encode(), &list), Ok(position));
            proptest::prop_assert_eq!(
                Cursor::position_in(&cursor.encode(), &format!("{list}x")),
                Err(CursorError::OtherList)
            );
        }
    }
}
