//! The two wrappers the raw config structs use so that every problem in a policy file, type
//! errors included, goes through the validator with its key path and line:
//! - `Sp<T>` carries a value with its source location (serde-saphyr's `Spanned`) and describes
//!   itself in the JSON Schema as `T` does;
//! - `Lenient<T>` accepts any YAML scalar and keeps its text, so that `min_tasks: zero` becomes
//!   a validator issue ("is not a whole number ≥ 0") instead of a deserializer error with no key
//!   path. Its schema is `T`'s, so editors still flag the mistake as you type.
//!
//! Range checks and messages for out-of-range values are left to `raw.rs`.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// A value with the line it came from.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub(super) struct Sp<T>(pub(super) Spanned<T>);

impl<T> Deref for Sp<T> {
    type Target = Spanned<T>;
    fn deref(&self) -> &Spanned<T> {
        &self.0
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// The words a message uses for the type a key wants, without Rust's type names.
pub(super) trait Kind: std::str::FromStr {
    const WANTED: &'static str;
}
impl Kind for u32 {
    const WANTED: &'static str = "a whole number ≥ 0";
}
impl Kind for u64 {
    const WANTED: &'static str = "a whole number ≥ 0";
}
impl Kind for f64 {
    const WANTED: &'static str = "a number";
}
impl Kind for bool {
    const WANTED: &'static str = "true or false";
}

/// Any scalar's text, to be read as a `T` by the validator.
#[derive(Debug, Clone)]
pub(super) struct Lenient<T> {
    pub(super) text: String,
    kind: PhantomData<T>,
}

impl<T: Kind> Lenient<T> {
    /// The value, or the message for a key that holds something else.
    pub(super) fn parse(&self) -> Result<T, String> {
        let t = self.text.trim();
        t.parse::<T>().map_err(|_| {
            let shown = if t.is_empty() {
                "nothing".to_string()
            } else {
                format!("{t:?}")
            };
            format!("{shown} is not {}", T::WANTED)
        })
    }
}

impl<'de, T> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (a number, true/false or text), not a list or a map")
            }
            fn visit_str<E>(self, v: &str) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_bool<E>(self, v: bool) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i64<E>(self, v: i64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u64<E>(self, v: u64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_i128<E>(self, v: i128) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_u128<E>(self, v: u128) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_f64<E>(self, v: f64) -> Result<String, E> {
                Ok(v.to_string())
            }
            fn visit_unit<E>(self) -> Result<String, E> {
                Ok(String::new())
            }
        }
        Ok(Lenient {
            text: d.deserialize_any(Text)?,
            kind: PhantomData,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Lenient<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenient<T>(text: &str) -> Lenient<T> {
        Lenient {
            text: text.to_string(),
            kind: PhantomData,
        }
    }

    #[test]
    fn messages_name_the_type_in_words() {
        assert_eq!(lenient::<u32>("3").parse(), Ok(3));
        assert_eq!(
            lenient::<u32>("-1").parse(),
            Err("\"-1\" is not a whole number ≥ 0".to_string())
        );
        assert_eq!(
            lenient::<u32>("zero").parse(),
            Err("\"zero\" is not a whole number ≥ 0".to_string())
        );
        assert_eq!(
            lenient::<f64>("").parse(),
            Err("nothing is not a number".to_string())
        );
        assert_eq!(
            lenient::<bool>("yes").parse(),
            Err("\"yes\" is not true or false".to_string())
        );
    }
}
