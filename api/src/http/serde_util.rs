//! PATCH bodies need three states per nullable field: absent (keep), null (clear), value (set).

use serde::{Deserialize, Deserializer};

pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A nested object that must be a JSON object. serde's derived structs also accept an array of
/// their fields in order (`[null, null]`), which the spec does not allow and a client never means.
pub fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)? {
        None => Ok(None),
        Some(map) => serde_json::from_value(serde_json::Value::Object(map)).map(Some).map_err(serde::de::Error::custom),
    }
}
