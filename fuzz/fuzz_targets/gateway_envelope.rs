//! Fuzzes the gateway's envelope decoder, `envelope::parse` (labs/gateway, `envelope.rs`):
//! the first thing the gateway does with every text frame a client sends.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run gateway_envelope   # from fuzz/ (see README.md)
//! ```
//!
//! Input: the frame's text (bytes that are not UTF-8 are replaced, as a text frame is
//! already valid UTF-8 when the gateway sees it). What must hold, besides never panicking:
//!
//! - only a JSON object is accepted, and an accepted envelope is what the JSON says: its
//!   `event` is the JSON's `"event"`, its `id` the JSON's `"id"`, its `data` the JSON's
//!   `"data"` or `null`;
//! - a refused one still carries the request id whenever the JSON had a numeric `"id"`,
//!   so that the `exception` can be matched to the request, and says what was wrong;
//! - an envelope the gateway writes (`to_json`) is read back as the same envelope, floats
//!   within one unit in the last place: serde_json's default float parser (without its
//!   `float_roundtrip` feature) is not always correctly rounded, so a float relayed through
//!   the gateway may come out one ULP away (`1.7976931348311579e308` does).

#![no_main]

use lab_gateway::envelope::{self, Envelope, Parsed};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let json = serde_json::from_str::<Value>(&text).ok();
    match envelope::parse(&text) {
        Parsed::Ok(envelope) => {
            let json = json.expect("an accepted envelope is JSON");
            check_fields(&envelope, &json);
            let written = envelope.to_json();
            match envelope::parse(&written) {
                Parsed::Ok(again) => {
                    assert_eq!(again.event, envelope.event);
                    assert_eq!(again.id, envelope.id);
                    assert!(same_json(&again.data, &envelope.data), "{written}");
                }
                Parsed::Malformed { problem, .. } => {
                    panic!("the gateway cannot read its own {written}: {problem}")
                }
            }
        }
        Parsed::Malformed { id, problem } => {
            assert!(!problem.is_empty());
            let expected = json
                .as_ref()
                .and_then(|json| json.get("id"))
                .and_then(Value::as_u64);
            assert_eq!(id, expected);
        }
    }
});

/// The envelope's fields against the JSON object it came from. (serde's derived
/// `Deserialize` would also read a struct from an array of its fields; the gateway refuses
/// that, and this target once found it accepting `["join", 7, {"room": "rust"}]`.)
fn check_fields(envelope: &Envelope, json: &Value) {
    assert!(json.is_object(), "accepted a non-object: {json}");
    let field = |name: &str| json.get(name).cloned().unwrap_or(Value::Null);
    assert_eq!(field("event").as_str(), Some(envelope.event.as_str()));
    assert_eq!(field("id").as_u64(), envelope.id);
    assert_eq!(field("data"), envelope.data);
}

/// Equal JSON, except that two floats one unit in the last place apart count as equal.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y || x.to_bits().abs_diff(y.to_bits()) <= 1,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same_json(x, y)))
        }
        _ => a == b,
    }
}
