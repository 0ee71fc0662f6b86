//! The one place YAML is parsed. serde_yaml (the maintained `serde_norway` fork) refuses alias
//! bombs ("repetition limit exceeded") and nesting deeper than 128 levels with an error rather than
//! exhausting memory or the stack; this module turns its errors into spans and its values into
//! JSON for the semantic hash.

use serde::de::DeserializeOwned;

/// A YAML problem with the byte span it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub reason: String,
    pub offset: usize,
    pub len: usize,
}

/// Parses one YAML document into `T`, with the span of the first problem.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlProblem> {
    serde_yaml::from_str(text).map_err(|e| problem(text, &e))
}

/// Parses one YAML document into JSON data: merge keys (`<<`) applied, mapping keys that are
/// scalars turned into strings. Custom tags, non-scalar keys and NaN/infinity are refused: they
/// have no canonical JSON form.
pub fn parse_data(text: &str) -> Result<serde_json::Value, YamlProblem> {
    // The direct path builds JSON data without an intermediate `serde_yaml::Value` (most of the
    // time of validating 100,000 assets). It refuses everything unusual — tags, duplicate keys,
    // non-finite numbers — and merge keys never take it, so whenever it does not simply succeed
    // the general path below decides, with its messages.
    if !text.contains("<<")
        && let Ok(value) =
            serde::de::DeserializeSeed::deserialize(direct::Data, serde_yaml::Deserializer::from_str(text))
    {
        return Ok(value);
    }
    parse_general(text)
}

fn parse_general(text: &str) -> Result<serde_json::Value, YamlProblem> {
    let mut value: serde_yaml::Value = parse(text)?;
    value.apply_merge().map_err(|e| problem(text, &e))?;
    to_json(&value).map_err(|(reason, needle)| {
        let offset = needle.as_deref().and_then(|n| text.find(n)).unwrap_or(0);
        let len = needle.map_or(1, |n| n.len());
        YamlProblem { reason, offset, len }
    })
}

/// YAML events straight into JSON data.
mod direct {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    pub struct Data;

    impl<'de> DeserializeSeed<'de> for Data {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(DataVisitor)
        }
    }

    struct DataVisitor;

    impl<'de> Visitor<'de> for DataVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("plain YAML data")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number with no JSON form"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
            deserializer.deserialize_any(DataVisitor)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(Data)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key_seed(Data)? {
                let key = match key {
                    Value::String(s) => s,
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    Value::Null => "null".to_string(),
                    _ => return Err(de::Error::custom("a mapping key must be a scalar")),
                };
                let value = map.next_value_seed(Data)?;
                if object.insert(key, value).is_some() {
                    return Err(de::Error::custom("duplicate key"));
                }
            }
            Ok(Value::Object(object))
        }
        // Custom tags arrive as enums: refused here, explained by the general path.
        fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
            Err(de::Error::custom("a custom tag"))
        }
    }
}

type ConvertError = (String, Option<String>);

fn to_json(value: &serde_yaml::Value) -> Result<serde_json::Value, ConvertError> {
    use serde_json::Value as J;
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(n) => J::Number(n),
                    None => {
                        return Err((
                            format!("the number `{n}` has no JSON form; quote it if it is text"),
                            Some(n.to_string()),
                        ));
                    }
                }
            }
        }
        Y::String(s) => J::String(s.clone()),
        Y::Sequence(items) => J::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut object = serde_json::Map::new();
            for (key, item) in map {
                let key = match key {
                    Y::String(s) => s.clone(),
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_string(),
                    _ => {
                        return Err(("a mapping key must be a scalar".to_string(), None));
                    }
                };
                object.insert(key, to_json(item)?);
            }
            J::Object(object)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            return Err((format!("the custom tag `{tag}` is not allowed: assets must be plain data"), Some(tag)));
        }
    })
}

/// Turns a serde_yaml error into a reason and a span that miette can draw.
pub fn problem(text: &str, error: &serde_yaml::Error) -> YamlProblem {
    let message = error.to_string();
    match error.location() {
        Some(location) => {
            let reason = message.replacen(&format!(" at line {} column {}", location.line(), location.column()), "", 1);
            let trimmed_end = text.trim_end().len();
            let mut offset = location.index().min(text.len());
            // An error at the end of the input points past the last line, where miette draws
            // nothing: move it onto the last visible character.
            if offset >= trimmed_end && trimmed_end > 0 {
                offset = text[..trimmed_end].char_indices().last().map_or(0, |(i, _)| i);
            }
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            let len = text[offset..]
                .find(|c: char| "\n:,}] #".contains(c))
                .unwrap_or(text.len() - offset)
                .max(1)
                .min(text.len() - offset);
            YamlProblem { reason, offset, len }
        }
        None => YamlProblem { reason: message, offset: 0, len: 0 },
    }
}

/// Returns the byte span of a top-level key's line (`key:` at column 0), for findings about a
/// header field that parsed fine but is wrong.
pub fn top_level_key_span(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix(key)
            && rest.trim_start().starts_with(':')
        {
            return Some((offset, line.trim_end().len()));
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_bombs_fail_cleanly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let error = parse_data(&text).unwrap_err();
        assert!(error.reason.contains("repetition limit"), "{error:?}");
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        let text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = parse_data(&text).unwrap_err();
        assert!(error.reason.contains("recursion limit"), "{error:?}");
    }

    #[test]
    fn custom_tags_are_refused_with_their_position() {
        let text = "spec:\n  when: !now\n";
        let error = parse_data(text).unwrap_err();
        assert!(error.reason.contains("`!now`"), "{error:?}");
        assert_eq!(error.offset, text.find("!now").unwrap());
    }

    #[test]
    fn merge_keys_and_scalar_keys_become_json() {
        let text = "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n1: one\n";
        let value = parse_data(text).unwrap();
        assert_eq!(value, serde_json::json!({"base": {"x": 1}, "derived": {"x": 1, "y": 2}, "1": "one"}));
    }

    #[test]
    fn the_direct_path_gives_what_the_general_path_gives() {
        let documents = [
            "a: 1\nb: [x, 2.5, true, null, ~]\nc: {d: \"e\", 10: f, true: g}\n",
            "big: 18446744073709551615\nneg: -9223372036854775808\nfloat: 1e300\nstr: '007'\n",
            "anchors: &a {x: 1}\nuse: *a\nlist:\n  - *a\n",
            "empty:\nnested: {a: {b: {c: [[], {}]}}}\n",
        ];
        for text in documents {
            let direct =
                serde::de::DeserializeSeed::deserialize(direct::Data, serde_yaml::Deserializer::from_str(text));
            assert_eq!(direct.ok(), Some(parse_general(text).unwrap()), "{text}");
        }
        for refused in ["a: 1\na: 2\n", "a: !tag x\n", "a: .nan\n", "[a]: 1\n"] {
            let direct =
                serde::de::DeserializeSeed::deserialize(direct::Data, serde_yaml::Deserializer::from_str(refused));
            assert!(direct.is_err(), "{refused}");
            assert!(parse_data(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn errors_at_the_end_point_at_the_last_character() {
        let text = "a: \"open\n";
        let error = parse::<serde_yaml::Value>(text).unwrap_err();
        assert!(error.offset < text.trim_end().len());
    }
}
