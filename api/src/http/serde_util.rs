//! PATCH bodies need three states per nullable field: absent (keep), null (clear), value (set).

use serde::{Deserialize, Deserializer};

pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
