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
    bounds::check(text)?;
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
    // Plainer still, and most assets: a line reader that answers only when it is sure.
    if !text.contains("<<")
        && let Some(value) = simple::parse(text)
    {
        return Ok(value);
    }
    parse_direct_or_general(text)
}

/// `parse_data` without the simple reader (its tests compare the two).
fn parse_direct_or_general(text: &str) -> Result<serde_json::Value, YamlProblem> {
    bounds::check(text)?;
    if !text.contains("<<")
        && let Ok(value) =
            serde::de::DeserializeSeed::deserialize(direct::Data, serde_yaml::Deserializer::from_str(text))
    {
        return Ok(value);
    }
    parse_general(text)
}

fn parse_general(text: &str) -> Result<serde_json::Value, YamlProblem> {
    let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| problem(text, &e))?;
    value.apply_merge().map_err(|e| problem(text, &e))?;
    to_json(&value).map_err(|(reason, needle)| {
        let offset = needle.as_deref().and_then(|n| text.find(n)).unwrap_or(0);
        let len = needle.map_or(1, |n| n.len());
        YamlProblem { reason, offset, len }
    })
}

/// What is checked before a document reaches the YAML parser, in time linear in its size: flow
/// nesting (libyaml takes time quadratic in the depth of `[[[[…`, 13 s for 100 KB, before
/// serde_yaml's own limit of 128 levels refuses it) and alias expansion (a 4 MB document of
/// aliases to one 1,000-item list is 400 million nodes, within serde_yaml's repetition limit).
mod bounds {
    use std::cell::Cell;

    use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

    use super::YamlProblem;

    /// The nesting serde_yaml refuses beyond.
    pub const MAX_DEPTH: usize = 128;

    /// Nodes that aliases may add to a document beyond one per byte of its text (a document
    /// without aliases has fewer nodes than bytes).
    pub const ALIAS_ALLOWANCE: u64 = 100_000;

    pub fn check(text: &str) -> Result<(), YamlProblem> {
        flow_depth(text)?;
        if text.contains('&') && text.contains('*') {
            expansion(text)?;
        }
        Ok(())
    }

    /// Refuses flow collections nested deeper than `MAX_DEPTH`, pointing at the bracket that goes
    /// too deep. A bracket opens a collection at the start of a token (after a space, a line
    /// start, or another flow indicator) and anywhere inside a flow collection, as in YAML;
    /// quoted scalars and comments are skipped.
    fn flow_depth(text: &str) -> Result<(), YamlProblem> {
        let bytes = text.as_bytes();
        let mut depth = 0usize;
        let mut i = 0;
        let token_start =
            |i: usize| i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',');
        while i < bytes.len() {
            match bytes[i] {
                b'#' if token_start(i) => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                quote @ (b'"' | b'\'') if token_start(i) || (depth > 0 && bytes[i - 1] == b':') => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != quote {
                        // In double quotes a backslash escapes the next character; in single
                        // quotes `''` is a quote, which the loop reads as a close and a reopen.
                        if quote == b'"' && bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                b'[' | b'{' if depth > 0 || token_start(i) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(YamlProblem {
                            reason: format!("flow collections nested deeper than {MAX_DEPTH} levels"),
                            offset: i,
                            len: 1,
                        });
                    }
                }
                b']' | b'}' if depth > 0 => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        Ok(())
    }

    /// Refuses a document whose aliases expand it past one node per byte plus
    /// `ALIAS_ALLOWANCE`, counting nodes as serde_yaml replays them and building nothing.
    fn expansion(text: &str) -> Result<(), YamlProblem> {
        let budget = Cell::new(text.len() as u64 + ALIAS_ALLOWANCE);
        match Count(&budget).deserialize(serde_yaml::Deserializer::from_str(text)) {
            Err(e) if budget.get() == 0 => {
                let mut problem = super::problem(text, &e);
                problem.reason = format!(
                    "aliases expand this document past {} nodes (one per byte of text and {ALIAS_ALLOWANCE} more)",
                    text.len() as u64 + ALIAS_ALLOWANCE
                );
                Err(problem)
            }
            // Any other error is the parser's to report, with its own message.
            _ => Ok(()),
        }
    }

    struct Count<'a>(&'a Cell<u64>);

    impl Count<'_> {
        fn tick<E: de::Error>(&self) -> Result<(), E> {
            match self.0.get() {
                0 => Err(E::custom("alias expansion limit")),
                left => {
                    self.0.set(left - 1);
                    Ok(())
                }
            }
        }
    }

    impl<'de> DeserializeSeed<'de> for Count<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Count<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any YAML")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            self.tick()
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            self.tick()
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            self.tick()
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
            self.tick()
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
            self.tick()
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            self.tick()
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            self.tick()
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.tick()
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            self.tick()
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            self.tick()?;
            while seq.next_element_seed(Count(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            self.tick()?;
            while map.next_key_seed(Count(self.0))?.is_some() {
                map.next_value_seed(Count(self.0))?;
            }
            Ok(())
        }
        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
            // A tagged value: count what it tags.
            self.tick()?;
            let (_, variant) = data.variant::<de::IgnoredAny>()?;
            variant.newtype_variant_seed(Count(self.0))
        }
    }
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

/// A line-by-line reader of the plain YAML most assets are: block mappings and sequences
/// indented with spaces, plain, quoted and flow scalars on one line, comments. It returns `None`
/// for anything else (anchors, tags, block and multi-line scalars, unusual numbers, escapes it
/// does not know, duplicate keys, documents markers, tabs), and `parse_data` then asks the full
/// parser, so that its answer is always the full parser's answer — a test compares them.
mod simple {
    use serde_json::{Map, Value};

    /// Deeper than this, the full parser decides (it refuses past 128 levels).
    const MAX_DEPTH: usize = 64;

    struct Line<'a> {
        indent: usize,
        text: &'a str,
    }

    pub fn parse(text: &str) -> Option<Value> {
        let mut lines = Vec::new();
        for raw in text.split('\n') {
            if raw.contains('\t') || raw.contains('\r') {
                return None;
            }
            let content = raw.trim_start_matches(' ');
            let content = content.trim_end_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if raw.starts_with("---") || raw.starts_with("...") || raw.starts_with('%') {
                return None;
            }
            lines.push(Line { indent: raw.len() - raw.trim_start_matches(' ').len(), text: content });
        }
        if lines.is_empty() || lines[0].indent != 0 {
            return None;
        }
        let mut pos = 0;
        let value = block_map(&lines, &mut pos, 0, 0)?;
        (pos == lines.len()).then_some(value)
    }

    fn is_item(text: &str) -> bool {
        text == "-" || text.starts_with("- ")
    }

    fn block_map(lines: &[Line<'_>], pos: &mut usize, indent: usize, depth: usize) -> Option<Value> {
        let mut map = Map::new();
        entries(lines, pos, indent, depth, &mut map)?;
        Some(Value::Object(map))
    }

    /// The `key: value` lines at `indent` from `pos` on, into `map`.
    fn entries(
        lines: &[Line<'_>],
        pos: &mut usize,
        indent: usize,
        depth: usize,
        map: &mut Map<String, Value>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        while let Some(line) = lines.get(*pos) {
            if line.indent != indent || is_item(line.text) {
                break;
            }
            *pos += 1;
            let (key, value) = entry(line.text, lines, pos, indent, depth)?;
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        // A line indented deeper than the block but not part of it: a multi-line scalar or an
        // error; the full parser decides.
        if lines.get(*pos).is_some_and(|l| l.indent > indent) {
            return None;
        }
        Some(())
    }

    /// One `key: value` (or `key:` and a nested block on the lines after `pos`) at `indent`.
    fn entry(text: &str, lines: &[Line<'_>], pos: &mut usize, indent: usize, depth: usize) -> Option<(String, Value)> {
        let (key, rest) = split_key(text)?;
        let rest = strip_comment_start(rest);
        let value = if rest.is_empty() {
            match lines.get(*pos) {
                Some(next) if next.indent >= indent && is_item(next.text) => {
                    block_seq(lines, pos, next.indent, depth + 1)?
                }
                Some(next) if next.indent > indent => block_map(lines, pos, next.indent, depth + 1)?,
                _ => Value::Null,
            }
        } else {
            inline(rest, depth + 1)?
        };
        Some((key, value))
    }

    fn block_seq(lines: &[Line<'_>], pos: &mut usize, indent: usize, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        while let Some(line) = lines.get(*pos) {
            if line.indent != indent || !is_item(line.text) {
                break;
            }
            let after_dash = line.text.strip_prefix('-')?;
            let item = after_dash.trim_start_matches(' ');
            let item = strip_comment_start(item);
            // An empty item or a nested block: the full parser decides.
            if item.is_empty() {
                return None;
            }
            *pos += 1;
            if split_key(item).is_some() {
                // `- key: value`, and more keys of the same mapping below at its column.
                let column = indent + 1 + (after_dash.len() - item.len());
                let mut map = Map::new();
                let (key, value) = entry(item, lines, pos, column, depth + 1)?;
                map.insert(key, value);
                entries(lines, pos, column, depth + 1, &mut map)?;
                items.push(Value::Object(map));
            } else {
                items.push(inline(item, depth + 1)?);
            }
        }
        if lines.get(*pos).is_some_and(|l| l.indent > indent) {
            return None;
        }
        Some(Value::Array(items))
    }

    /// `key: rest` or `key:` with a plain key of safe characters.
    fn split_key(text: &str) -> Option<(String, &str)> {
        let colon = text.find(':')?;
        let (key, after) = (&text[..colon], &text[colon + 1..]);
        if !(after.is_empty() || after.starts_with(' ')) || key.is_empty() {
            return None;
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
        if !key.chars().all(safe) || key.starts_with(['-', '.']) {
            return None;
        }
        let key = match scalar(key)? {
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => "null".to_string(),
            _ => return None,
        };
        Some((key, after.trim_start_matches(' ')))
    }

    /// A value that begins with a comment is no value.
    fn strip_comment_start(text: &str) -> &str {
        if text.starts_with('#') { "" } else { text }
    }

    /// The rest of a line after `key: ` or `- `: a quoted or plain scalar, or a flow collection.
    fn inline(text: &str, depth: usize) -> Option<Value> {
        let mut cursor = Cursor { text, at: 0 };
        let value = match text.as_bytes().first()? {
            b'[' | b'{' => cursor.flow(depth)?,
            b'"' | b'\'' => cursor.quoted()?,
            _ => {
                let end = text.find(" #").unwrap_or(text.len());
                let plain = text[..end].trim_end_matches(' ');
                cursor.at = end;
                if plain.contains(": ") || plain.ends_with(':') || plain.contains(" :") {
                    return None;
                }
                scalar(plain)?
            }
        };
        cursor.end()?;
        Some(value)
    }

    struct Cursor<'a> {
        text: &'a str,
        at: usize,
    }

    impl Cursor<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.at).copied()
        }

        fn spaces(&mut self) {
            while self.peek() == Some(b' ') {
                self.at += 1;
            }
        }

        /// Only spaces and a comment may follow.
        fn end(&mut self) -> Option<()> {
            let before = self.at;
            self.spaces();
            match self.peek() {
                None => Some(()),
                Some(b'#') if self.at > before => Some(()),
                _ => None,
            }
        }

        fn quoted(&mut self) -> Option<Value> {
            let quote = self.peek()?;
            self.at += 1;
            let mut out = String::new();
            loop {
                let rest = &self.text[self.at..];
                let c = rest.chars().next()?;
                self.at += c.len_utf8();
                match (quote, c) {
                    (b'\'', '\'') => {
                        if self.peek() == Some(b'\'') {
                            self.at += 1;
                            out.push('\'');
                        } else {
                            return Some(Value::String(out));
                        }
                    }
                    (b'"', '"') => return Some(Value::String(out)),
                    (b'"', '\\') => {
                        let escaped = self.text[self.at..].chars().next()?;
                        self.at += escaped.len_utf8();
                        out.push(match escaped {
                            '"' => '"',
                            '\\' => '\\',
                            '/' => '/',
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            _ => return None,
                        });
                    }
                    (_, c) => out.push(c),
                }
            }
        }

        fn flow(&mut self, depth: usize) -> Option<Value> {
            if depth > MAX_DEPTH {
                return None;
            }
            let open = self.peek()?;
            self.at += 1;
            let close = if open == b'[' { b']' } else { b'}' };
            let mut items = Vec::new();
            let mut map = Map::new();
            self.spaces();
            if self.peek() == Some(close) {
                self.at += 1;
                return Some(if open == b'[' { Value::Array(items) } else { Value::Object(map) });
            }
            loop {
                self.spaces();
                if open == b'{' {
                    let start = self.at;
                    while self.peek().is_some_and(|b| b != b':' && b != b',' && b != b'}') {
                        self.at += 1;
                    }
                    let key_text = self.text[start..self.at].trim_end_matches(' ');
                    if self.peek() != Some(b':') || !self.text[self.at + 1..].starts_with(' ') {
                        return None;
                    }
                    self.at += 1;
                    let (key, _) = split_key(&format!("{key_text}:"))?;
                    self.spaces();
                    let value = self.flow_value(depth)?;
                    if map.insert(key, value).is_some() {
                        return None;
                    }
                } else {
                    items.push(self.flow_value(depth)?);
                }
                self.spaces();
                match self.peek()? {
                    b',' => self.at += 1,
                    b if b == close => {
                        self.at += 1;
                        return Some(if open == b'[' { Value::Array(items) } else { Value::Object(map) });
                    }
                    _ => return None,
                }
            }
        }

        fn flow_value(&mut self, depth: usize) -> Option<Value> {
            match self.peek()? {
                b'[' | b'{' => self.flow(depth + 1),
                b'"' | b'\'' => self.quoted(),
                _ => {
                    let start = self.at;
                    while self.peek().is_some_and(|b| !b",[]{}#:".contains(&b)) {
                        self.at += 1;
                    }
                    if matches!(self.peek(), Some(b'#' | b':' | b'[' | b'{')) {
                        return None;
                    }
                    let plain = self.text[start..self.at].trim_end_matches(' ');
                    if plain.is_empty() {
                        return None;
                    }
                    scalar(plain)
                }
            }
        }
    }

    /// A plain scalar as the full parser resolves it: null, true/false, a decimal integer, or a
    /// string; other numbers and indicators are left to the full parser.
    fn scalar(text: &str) -> Option<Value> {
        match text {
            "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
            "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
            "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
            _ => {}
        }
        let first = text.chars().next()?;
        if first.is_ascii_digit() || first == '-' || first == '+' || first == '.' {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let decimal = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            if !decimal {
                return None;
            }
            return if text.starts_with('-') {
                text.parse::<i64>().ok().map(Value::from)
            } else {
                text.parse::<u64>().ok().map(Value::from)
            };
        }
        if "?:,[]{}#&*!|>'\"%@`".contains(first) || text.contains('\t') {
            return None;
        }
        Some(Value::String(text.to_string()))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The full parser's answer for `text`.
        fn full(text: &str) -> Option<Value> {
            super::super::parse_direct_or_general(text).ok()
        }

        /// Small random YAML from pieces that are in the subset and pieces that are not: when
        /// the simple reader answers, the full parser must give the same data.
        #[test]
        fn the_simple_reader_agrees_with_the_full_parser() {
            let scalars = [
                "a",
                "team-38",
                "g000/item-00007",
                "http://x:80/a",
                "0",
                "7",
                "-12",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775809",
                "007",
                "1.5",
                "1e3",
                "0x1F",
                "+1",
                ".inf",
                "~",
                "null",
                "Null",
                "NULL",
                "true",
                "True",
                "FALSE",
                "yes",
                "no",
                "on",
                "\"q\"",
                "\"a\\\"b\"",
                "\"a\\u00e9\"",
                "\"t\\tu\"",
                "'it''s'",
                "'a # b'",
                "a # comment",
                "a#b",
                "\"x\" # c",
                "[]",
                "{}",
                "[a, b]",
                "[a, [b, c]]",
                "{ rows: 100, timeout_ms: 5400 }",
                "{a: 1}",
                "[a,b]",
                "[a, ]",
                "{ a: 1, a: 2 }",
                "&anchor a",
                "*alias",
                "!tag a",
                "|",
                ">",
                "a: b",
                "a:",
                "@x",
                "`x`",
                "é",
                "SELECT status FROM users WHERE shard = 7",
                "- x",
                "-x",
                "-",
                "?",
                "2024-01-01",
                "'multi",
                "\"unterminated",
                "[a, b",
                "{a: [1, 2], b: {c: d}}",
                "[\"a, b\", 'c']",
                "{a:1}",
            ];
            let keys =
                ["kind", "name", "spec", "1", "true", "null", "~", "a.b", "a/b", "a-b", "key with space", "\"q\""];
            let mut seed: u64 = 7;
            let mut next = |n: usize| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((seed >> 33) as usize) % n
            };
            let mut answered = 0;
            for case in 0..4000 {
                let mut text = String::new();
                let mut indent = 0;
                for _ in 0..1 + next(8) {
                    let pad = " ".repeat(indent);
                    match next(8) {
                        0 => {
                            text.push_str(&format!("{pad}{}:\n", keys[next(keys.len())]));
                            indent += 2;
                        }
                        1 if indent > 0 => indent -= 2,
                        2 => text.push_str(&format!("{pad}- {}\n", scalars[next(scalars.len())])),
                        5 if next(2) == 0 => {
                            text.push_str(&format!(
                                "{pad}- {}: {}\n",
                                keys[next(keys.len())],
                                scalars[next(scalars.len())]
                            ));
                            if next(2) == 0 {
                                text.push_str(&format!(
                                    "{pad}  {}: {}\n",
                                    keys[next(keys.len())],
                                    scalars[next(scalars.len())]
                                ));
                            }
                        }
                        3 => text.push_str(&format!("{pad}# a comment\n\n")),
                        _ => text.push_str(&format!(
                            "{pad}{}: {}\n",
                            keys[next(keys.len())],
                            scalars[next(scalars.len())]
                        )),
                    }
                }
                if case % 50 == 0 {
                    text = format!("---\n{text}");
                }
                if let Some(simple) = parse(&text) {
                    answered += 1;
                    assert_eq!(Some(&simple), full(&text).as_ref(), "case {case}:\n{text}");
                }
            }
            assert!(answered > 300, "the simple reader answered only {answered} of 4000 cases");
            // The shape of a typical asset takes the simple path.
            let asset = "kind: query\nname: g000/item-00007\nspec:\n  sql: \"SELECT status FROM users WHERE shard = 7\"\n  dialect: postgres\n  owner: team-38\n  tags: [billing, legacy]\n  limits: { rows: 100, timeout_ms: 5400 }\n";
            assert_eq!(parse(asset), full(asset));
            assert!(parse(asset).is_some());
            let steps = "spec:\n  steps:\n    - run: extract-0\n      timeout: 5\n    -   run: load-1\n        env: {a: b}\n    - run:\n        deep: 1\n  after: x\n";
            assert_eq!(parse(steps), full(steps));
            assert!(parse(steps).is_some());
            for broken in [
                "a:\n  - b: 1\n     c: 2\n",
                "a:\n  - b: 1\n   c: 2\n",
                "a:\n  - b: 1\n    b: 2\n",
                "a:\n  -\n    b: 1\n",
            ] {
                assert_eq!(parse(broken).map(Some), parse(broken).map(|_| full(broken)), "{broken}");
            }
            let listed = "depends_on:\n- datasource/main\n- model/m # why\nspec:\n  x:\n    - 1\n    - -2\n  y: ~\n";
            assert_eq!(parse(listed), full(listed));
            assert!(parse(listed).is_some());
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
        assert!(error.reason.contains("aliases expand this document past"), "{error:?}");
    }

    #[test]
    fn deep_nesting_fails_cleanly() {
        let text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = parse_data(&text).unwrap_err();
        assert!(error.reason.contains("nested deeper than 128"), "{error:?}");
        assert_eq!(error.offset, 128, "the first bracket too deep");
        // Block nesting deeper than 128 is serde_yaml's to refuse, as quickly.
        let mut block = String::new();
        for depth in 0..1000 {
            block.push_str(&format!("{}a{depth}:\n", " ".repeat(depth)));
        }
        assert!(parse_data(&block).unwrap_err().reason.contains("recursion limit"));
    }

    #[test]
    fn brackets_in_scalars_strings_and_comments_are_not_nesting() {
        let deep = "[".repeat(200);
        let text = format!(
            "a: x{deep}\nb: \"{deep}\"\nc: '{deep}'\nd: 1 # {deep}\ne: [\"{deep}\", 'it''s {deep}']\nf: \"\\\"{deep}\"\n"
        );
        let value = parse_data(&text).unwrap();
        assert_eq!(value["a"], serde_json::json!(format!("x{deep}")));
        assert_eq!(value["e"][1], serde_json::json!(format!("it's {deep}")));
        // 128 levels are allowed; the parser decides what lies inside.
        let allowed = format!("a: {}1{}\n", "[".repeat(120), "]".repeat(120));
        assert!(parse_data(&allowed).is_ok());
    }

    #[test]
    fn alias_amplification_is_refused_before_anything_is_built() {
        // Every alias is within serde_yaml's repetition limit; together they are 20 million nodes.
        let mut text = format!("base: &a [{}]\nspec:\n", vec!["x"; 1000].join(", "));
        for i in 0..20_000 {
            text.push_str(&format!("  k{i}: *a\n"));
        }
        let error = parse_data(&text).unwrap_err();
        assert!(error.reason.contains("aliases expand this document past"), "{error:?}");
        assert!(parse::<serde_yaml::Value>(&text).is_err(), "typed parsing is bounded too");
        // The control: a few aliases are data like any other.
        let fine = "base: &a [1, 2]\nx: *a\ny: {z: *a}\n";
        assert_eq!(parse_data(fine).unwrap()["y"]["z"], serde_json::json!([1, 2]));
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
