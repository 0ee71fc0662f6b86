//! Normalisation, content hashes, canonical JSON, semantic hashes and state ids.
//!
//! This is the only place any of them is computed: a hash that two commands compute differently
//! is a bundle that verifies on one machine and not on another. Every value travels as
//! `sha256:<hex>`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A `sha256:<64 hex>` digest of normalised bytes or of canonical JSON.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
/// Shared text: a manifest holds one per item, and items are cloned around freely.
pub struct ContentHash(std::sync::Arc<str>);

impl schemars::JsonSchema for ContentHash {
    fn schema_name() -> Cow<'static, str> {
        "ContentHash".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`sha256:` and 64 lowercase hex digits",
            "type": "string",
            "pattern": "^sha256:[0-9a-f]{64}$"
        })
    }
}

impl ContentHash {
    /// Returns the hash of `bytes`, exactly as given (callers normalise first).
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash::from_digest(&Sha256::digest(bytes))
    }

    fn from_digest(digest: &[u8]) -> ContentHash {
        let mut text = String::with_capacity(7 + 64);
        text.push_str("sha256:");
        for byte in digest.iter() {
            text.push(HEX[(byte >> 4) as usize] as char);
            text.push(HEX[(byte & 0xf) as usize] as char);
        }
        ContentHash(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the first 12 hex digits, for people; machines get the whole value.
    pub fn short(&self) -> &str {
        &self.0[7..19]
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl TryFrom<String> for ContentHash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let hex = value.strip_prefix("sha256:").ok_or_else(|| format!("`{value}` does not start with `sha256:`"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| HEX.contains(&b)) {
            return Err(format!("`{value}` is not `sha256:` and 64 lowercase hex digits"));
        }
        Ok(ContentHash(value.into()))
    }
}

impl From<ContentHash> for String {
    fn from(value: ContentHash) -> String {
        value.0.to_string()
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why bytes are not acceptable text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("not valid UTF-8 at line {line}, column {column} (byte offset {offset})")]
    NotUtf8 { line: usize, column: usize, offset: usize },
    #[error("contains a NUL byte at line {line}, column {column} (byte offset {offset})")]
    Nul { line: usize, column: usize, offset: usize },
}

/// Returns the normalised text of an item: UTF-8 BOM removed, CRLF turned into LF.
///
/// Offsets in errors refer to the bytes as given, so the user can find them in the file.
pub fn normalise(bytes: &[u8]) -> Result<Cow<'_, str>, TextError> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        let (line, column) = line_column(bytes, offset);
        return Err(TextError::Nul { line, column, offset });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let offset = error.valid_up_to();
            let (line, column) = line_column(bytes, offset);
            return Err(TextError::NotUtf8 { line, column, offset });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains("\r\n") { Ok(Cow::Owned(text.replace("\r\n", "\n"))) } else { Ok(Cow::Borrowed(text)) }
}

/// Returns the 1-based line and column (in characters) of a byte offset.
pub fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, column)
}

/// Returns the content hash of an item: sha256 over its normalised bytes.
pub fn content_hash(bytes: &[u8]) -> Result<ContentHash, TextError> {
    Ok(ContentHash::of(normalise(bytes)?.as_bytes()))
}

/// Returns the canonical JSON text of a value (RFC 8785: keys sorted by UTF-16 code units, no
/// insignificant whitespace, minimal string escapes, numbers as ECMAScript prints them).
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    // Integers that a double holds exactly print as themselves; everything else goes through the
    // double, as RFC 8785 (and every JavaScript reader of the manifest) would see it.
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= 1 << 53
    {
        out.push_str(&i.to_string());
        return;
    }
    if let Some(u) = n.as_u64()
        && u <= 1 << 53
    {
        out.push_str(&u.to_string());
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    out.push_str(&ecmascript_number(f));
}

/// Formats a finite double as ECMAScript's `Number.prototype.toString` does.
fn ecmascript_number(f: f64) -> String {
    if f == 0.0 {
        return "0".to_string();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // `{:e}` prints the shortest digits that round-trip, e.g. `1.2345e-7`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exponent + 1; // position of the decimal point relative to the digits
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e = if e >= 0 { format!("+{e}") } else { e.to_string() };
        if k == 1 { format!("{digits}e{e}") } else { format!("{}.{}e{e}", &digits[..1], &digits[1..]) }
    };
    format!("{sign}{body}")
}

/// Whether two values have the same canonical JSON (and so the same semantic hash), without
/// writing it: numbers compare as canonical JSON prints them, everything else structurally.
pub fn semantically_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (mut x_text, mut y_text) = (String::new(), String::new());
            write_number(x, &mut x_text);
            write_number(y, &mut y_text);
            x_text == y_text
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| semantically_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(key, x)| y.get(key).is_some_and(|y| semantically_equal(x, y)))
        }
        (x, y) => x == y,
    }
}

/// Returns the semantic hash of parsed data: sha256 over its canonical JSON.
pub fn semantic_hash(value: &serde_json::Value) -> ContentHash {
    ContentHash::of(canonical_json(value).as_bytes())
}

/// The sha256 of a dialect's session statements: each statement, then a newline.
pub fn session_sha256(statements: &[String]) -> ContentHash {
    let mut text = String::new();
    for statement in statements {
        text.push_str(statement);
        text.push('\n');
    }
    ContentHash::of(text.as_bytes())
}

/// One entry of a state: `[type, identity, dialect, sha256]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub item_type: &'static str,
    pub identity: String,
    pub dialect: String,
    pub sha256: ContentHash,
}

/// Returns the state id of a list of entries, as SPEC defines it: entries sorted by the UTF-8
/// bytes of their canonical JSON, then sha256 over the canonical JSON of the list.
pub fn state_id(entries: &[StateEntry]) -> ContentHash {
    // Each entry is four strings, so its canonical JSON is written directly: this runs over every
    // item of a 100,000-asset project.
    let mut rendered: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut out = String::with_capacity(e.identity.len() + e.dialect.len() + 100);
            out.push('[');
            write_string(e.item_type, &mut out);
            out.push(',');
            write_string(&e.identity, &mut out);
            out.push(',');
            write_string(&e.dialect, &mut out);
            out.push(',');
            write_string(e.sha256.as_str(), &mut out);
            out.push(']');
            out
        })
        .collect();
    rendered.sort_unstable();
    let mut hasher = Sha256::new();
    hasher.update(b"[");
    for (i, entry) in rendered.iter().enumerate() {
        if i > 0 {
            hasher.update(b",");
        }
        hasher.update(entry.as_bytes());
    }
    hasher.update(b"]");
    ContentHash::from_digest(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bom_and_crlf_hash_like_plain_lf() {
        let plain = content_hash(b"a: 1\nb: 2\n").unwrap();
        assert_eq!(content_hash(b"\xEF\xBB\xBFa: 1\r\nb: 2\r\n").unwrap(), plain);
        assert_eq!(content_hash(b"a: 1\r\nb: 2\n").unwrap(), plain);
        // A lone CR is content, not a line ending.
        assert_ne!(content_hash(b"a: 1\rb: 2\n").unwrap(), plain);
        // Tabs are content too.
        assert_ne!(content_hash(b"a:\t1\nb: 2\n").unwrap(), plain);
    }

    #[test]
    fn known_sha256_value() {
        assert_eq!(
            ContentHash::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn non_utf8_and_nul_name_their_position() {
        assert_eq!(normalise(b"ok\nab\xff").unwrap_err(), TextError::NotUtf8 { line: 2, column: 3, offset: 5 });
        assert_eq!(normalise(b"x\n\ny\0").unwrap_err(), TextError::Nul { line: 3, column: 2, offset: 4 });
    }

    #[test]
    fn canonical_json_sorts_keys_by_utf16_and_escapes_minimally() {
        let value = json!({"b": [1, "x\u{1}\"\\/é"], "a": {"\u{e000}": 1, "\u{1f600}": 2}, "": null});
        assert_eq!(
            canonical_json(&value),
            "{\"\":null,\"a\":{\"\u{1f600}\":2,\"\u{e000}\":1},\"b\":[1,\"x\\u0001\\\"\\\\/é\"]}"
        );
    }

    #[test]
    fn numbers_print_as_ecmascript_does() {
        let cases = [
            (json!(0), "0"),
            (json!(-0.0), "0"),
            (json!(1.0), "1"),
            (json!(1.5), "1.5"),
            (json!(-12), "-12"),
            (json!(1e21), "1e+21"),
            (json!(1e20), "100000000000000000000"),
            (json!(0.000001), "0.000001"),
            (json!(1e-7), "1e-7"),
            (json!(123456789012345680000.0), "123456789012345680000"),
            (json!(9007199254740993u64), "9007199254740992"),
            (json!(4.35), "4.35"),
            (json!(0.1), "0.1"),
        ];
        for (value, expected) in cases {
            assert_eq!(canonical_json(&value), expected, "{value}");
        }
    }

    #[test]
    fn state_id_ignores_entry_order() {
        let a = StateEntry {
            item_type: "asset",
            identity: "query/a".into(),
            dialect: String::new(),
            sha256: ContentHash::of(b"a"),
        };
        let m = StateEntry {
            item_type: "migration",
            identity: "1".into(),
            dialect: "sqlite".into(),
            sha256: ContentHash::of(b"m"),
        };
        assert_eq!(state_id(&[a.clone(), m.clone()]), state_id(&[m.clone(), a.clone()]));
        let expected = format!(
            "[[\"asset\",\"query/a\",\"\",\"{}\"],[\"migration\",\"1\",\"sqlite\",\"{}\"]]",
            a.sha256, m.sha256
        );
        assert_eq!(state_id(&[m, a]), ContentHash::of(expected.as_bytes()));
    }

    #[test]
    fn semantic_equality_agrees_with_the_semantic_hash() {
        let pairs = [
            (serde_json::json!({"a": 1, "b": [1.0, "x"]}), serde_json::json!({"b": [1, "x"], "a": 1.0})),
            (serde_json::json!({"a": 1}), serde_json::json!({"a": 2})),
            (serde_json::json!({"a": null}), serde_json::json!({})),
            (serde_json::json!([1e21]), serde_json::json!([1000000000000000000000u128 as f64])),
            (serde_json::json!({"a": {"b": true}}), serde_json::json!({"a": {"b": "true"}})),
        ];
        for (a, b) in pairs {
            assert_eq!(semantically_equal(&a, &b), semantic_hash(&a) == semantic_hash(&b), "{a} {b}");
        }
    }
}
