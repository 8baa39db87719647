//! Where a room's message sits in its history: the position a client remembers and sends
//! back when it rejoins, on whichever node the balancer gives it.
//!
//! With Redis as the broker, a room's history is a Redis Stream, and each message's id is the
//! one `XADD` gave it: `<milliseconds>-<sequence>`, for example `1718000000000-3`. Stream ids
//! only grow, within one stream, so "what came after the last id I saw" is a question any
//! node can answer (`XRANGE room (<id> +`): the history is in Redis, not in the node that
//! delivered the message. That is recovery across nodes.
//!
//! A position also names the history's **epoch**, as the resilience lab's does (chapter 10):
//! a random id stored in Redis by the first node that finds none. This lab's Redis keeps
//! nothing on disk (`--save "" --appendonly no`), so a restarted Redis has lost every
//! stream, and a new epoch says so: a client whose position names the old epoch is told
//! `recovered: false` instead of being handed a history with a silent hole in it. Without a
//! broker (`--broker none`) each node draws its own epoch and counts its own ids: a client
//! that lands on another node finds a foreign epoch there, which is the problem this lab
//! shows first. Chapter "Scaling out" walks through it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

// ANCHOR: stream_id
/// A Redis Stream entry id: `<ms>-<seq>`. Ordered as Redis orders them: by time, then by
/// sequence within the millisecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Redis's clock when the entry was added, in milliseconds.
    pub ms: u64,
    /// The entry's number within that millisecond.
    pub seq: u64,
}
// ANCHOR_END: stream_id

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Why a position or a stream id was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadPosition {
    /// Not `<ms>-<seq>`.
    #[error("a stream id is <ms>-<seq>, two numbers, such as 1718000000000-0")]
    StreamId,
    /// Not `<epoch>:<ms>-<seq>`.
    #[error(
        "since must be <epoch>:<ms>-<seq>: an epoch of 1 to 64 letters or digits, then a stream id"
    )]
    Position,
}

impl FromStr for StreamId {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').ok_or(BadPosition::StreamId)?;
        let number = |part: &str| {
            // `u64::from_str` accepts a leading `+`; Redis never writes one.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadPosition::StreamId);
            }
            part.parse::<u64>().map_err(|_| BadPosition::StreamId)
        };
        Ok(Self {
            ms: number(ms)?,
            seq: number(seq)?,
        })
    }
}

// ANCHOR: position
/// A client's place in one room's history: which history (the epoch), and the id of the last
/// message it saw there.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The history's epoch.
    pub epoch: String,
    /// The last message seen.
    pub id: StreamId,
}
// ANCHOR_END: position

impl fmt::Display for Position {
    /// `<epoch>:<ms>-<seq>`, the form of `since` in a `join`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.id)
    }
}

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, id) = s.split_once(':').ok_or(BadPosition::Position)?;
        let epoch_ok =
            (1..=64).contains(&epoch.len()) && epoch.bytes().all(|b| b.is_ascii_alphanumeric());
        if !epoch_ok {
            return Err(BadPosition::Position);
        }
        let id = id.parse().map_err(|_| BadPosition::Position)?;
        Ok(Self {
            epoch: epoch.to_owned(),
            id,
        })
    }
}

impl Serialize for Position {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A new epoch: 64 random bits in hex, so two histories never share one.
pub fn new_epoch() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Stream ids parse, print and order as Redis's do; malformed ones are refused.
    #[test]
    fn stream_ids() {
        let a: StreamId = "1718000000000-3".parse().unwrap();
        let b: StreamId = "1718000000001-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "1718000000000-3");
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-+2",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert_eq!(bad.parse::<StreamId>(), Err(BadPosition::StreamId), "{bad}");
        }
    }

    /// A position round-trips through its text form; bad epochs and ids are refused.
    #[test]
    fn positions() {
        let p: Position = "9f0c:1718000000000-3".parse().unwrap();
        assert_eq!(p.epoch, "9f0c");
        assert_eq!(p.to_string(), "9f0c:1718000000000-3");
        assert_eq!(
            serde_json::from_str::<Position>("\"9f0c:5-0\"").unwrap().id,
            StreamId { ms: 5, seq: 0 }
        );
        for bad in ["", "9f0c", ":1-0", "9f-0c:1-0", "9f0c:1", "9f0c:x-0"] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }
}
