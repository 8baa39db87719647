//! The envelope: every message of the gateway is one JSON text frame shaped like the NestJS
//! `ws` adapter's, `{"event": "...", "data": ..., "id": 7}`.
//!
//! The `event` names what the message is (the router picks a handler with it), `data` is the
//! payload, and the optional `id` turns a message into a request: the gateway answers it with
//! exactly one `ack` or one `exception` carrying the same `id`. Chapter 6 ("The gateway")
//! shows the envelope next to NestJS's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The event name of a successful reply to a request.
pub const ACK: &str = "ack";
/// The event name of an error, NestJS's name for it.
pub const EXCEPTION: &str = "exception";

// ANCHOR: envelope
/// One message, in either direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// What the message is: the name a handler is registered under, or `ack`, `exception`,
    /// or the name of a pushed event.
    pub event: String,
    /// The request id: present on a request that wants an answer, and on that answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The payload; `null` when the message has none.
    #[serde(default)]
    pub data: Value,
}
// ANCHOR_END: envelope

impl Envelope {
    /// An envelope for `event` with `data` and an optional `id`.
    pub fn new(event: impl Into<String>, id: Option<u64>, data: Value) -> Self {
        Self {
            event: event.into(),
            id,
            data,
        }
    }

    /// The envelope as the JSON text of one frame.
    pub fn to_json(&self) -> String {
        // Serialising a struct of a String, an integer and a `Value` cannot fail: every map
        // key in a `Value` is a string.
        serde_json::to_string(self).expect("an envelope is always serialisable")
    }
}

/// What the gateway reads out of one text frame before routing it.
#[derive(Debug)]
pub enum Parsed {
    /// A well-formed envelope.
    Ok(Envelope),
    /// Not an envelope. `id` is the request id if one could still be found, so that even a
    /// broken request gets its answer matched to it.
    Malformed {
        /// The `id` field, if the text was a JSON object with a numeric `id`.
        id: Option<u64>,
        /// What was wrong, for the `exception`'s message.
        problem: String,
    },
}

// ANCHOR: parse
/// Parses one text frame: JSON first, then the envelope's shape.
pub fn parse(text: &str) -> Parsed {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            return Parsed::Malformed {
                id: None,
                problem: format!("not valid JSON: {err}"),
            };
        }
    };
    // Keep the id, if there is one, before the shape is checked.
    let id = value.get("id").and_then(Value::as_u64);
    // serde's derived `Deserialize` would also read the struct from an array of its fields
    // in order (`["join", 7, {...}]`): an envelope is an object, and nothing else is one.
    if !value.is_object() {
        return Parsed::Malformed {
            id,
            problem: "not an envelope {\"event\": string, \"data\": any, \"id\"?: integer}: \
                      a JSON object is expected"
                .to_owned(),
        };
    }
    match serde_json::from_value::<Envelope>(value) {
        Ok(envelope) => Parsed::Ok(envelope),
        Err(err) => Parsed::Malformed {
            id,
            problem: format!(
                "not an envelope {{\"event\": string, \"data\": any, \"id\"?: integer}}: {err}"
            ),
        },
    }
}
// ANCHOR_END: parse

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// Only an object is an envelope: the same fields as an array are refused.
    #[test]
    fn an_array_is_not_an_envelope() {
        let Parsed::Malformed { problem, .. } = parse(r#"["join", 7, {"room": "rust"}]"#) else {
            panic!("an array was accepted as an envelope")
        };
        assert!(problem.contains("object"), "{problem}");
    }

    /// A request round-trips, and a missing `data` is `null`.
    #[test]
    fn shapes() {
        let Parsed::Ok(env) = parse(r#"{"event":"join","data":{"room":"rust"},"id":7}"#) else {
            panic!("a valid envelope")
        };
        assert_eq!(env, Envelope::new("join", Some(7), json!({"room": "rust"})));
        let Parsed::Ok(env) = parse(r#"{"event":"ping"}"#) else {
            panic!("a valid envelope")
        };
        assert_eq!(env.data, Value::Null);
        assert_eq!(
            Envelope::new("ack", Some(1), json!(2)).to_json(),
            r#"{"event":"ack","id":1,"data":2}"#
        );
    }

    /// Broken input says what is wrong, and keeps the id when it can.
    #[test]
    fn malformed() {
        let Parsed::Malformed { id, problem } = parse("{nope") else {
            panic!()
        };
        assert_eq!(id, None);
        assert!(problem.contains("not valid JSON"));
        let Parsed::Malformed { id, problem } = parse(r#"{"event": 5, "id": 3}"#) else {
            panic!()
        };
        assert_eq!(id, Some(3));
        assert!(problem.contains("invalid type"), "{problem}");
        let Parsed::Malformed { problem, .. } = parse(r#"{"data": 1}"#) else {
            panic!()
        };
        assert!(problem.contains("missing field `event`"), "{problem}");
    }
}
