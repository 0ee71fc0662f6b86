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
///
/// Held as its 32 bytes (a manifest of a data migration holds one per statement: 800,000 of
/// them); written and read as text. Bytes order as their hex text does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

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
        ContentHash::from_digest(Sha256::digest(bytes).into())
    }

    /// The hash whose digest is `digest`.
    pub fn from_digest(digest: [u8; 32]) -> ContentHash {
        ContentHash(digest)
    }

    /// Returns the first 12 hex digits, for people; machines get the whole value.
    pub fn short(&self) -> String {
        hex(&self.0[..6])
    }

    /// Returns the 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(HEX[(byte >> 4) as usize] as char);
        text.push(HEX[(byte & 0xf) as usize] as char);
    }
    text
}

impl std::str::FromStr for ContentHash {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let digits = value.strip_prefix("sha256:").ok_or_else(|| format!("`{value}` does not start with `sha256:`"))?;
        let wrong = || format!("`{value}` is not `sha256:` and 64 lowercase hex digits");
        if digits.len() != 64 {
            return Err(wrong());
        }
        let nibble = |b: u8| HEX.iter().position(|&h| h == b).map(|n| n as u8);
        let mut digest = [0u8; 32];
        for (out, pair) in digest.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
            let (Some(high), Some(low)) = (nibble(pair[0]), nibble(pair[1])) else { return Err(wrong()) };
            *out = (high << 4) | low;
        }
        Ok(ContentHash(digest))
    }
}

impl TryFrom<String> for ContentHash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ContentHash> for String {
    fn from(value: ContentHash) -> String {
        value.to_string()
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ContentHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`sha256:` and 64 lowercase hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<ContentHash, E> {
                value.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 71];
        text[..7].copy_from_slice(b"sha256:");
        for (i, byte) in self.0.iter().enumerate() {
            text[7 + 2 * i] = HEX[(byte >> 4) as usize];
            text[8 + 2 * i] = HEX[(byte & 0xf) as usize];
        }
        // Every byte written above is ASCII.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A sink for text that keeps only its hash and length: a member that is written as it is
/// rendered (the offline script) is hashed by rendering it here first, and canonical JSON is
/// hashed as it is written. Small writes (a comma, a key) are gathered before they reach the
/// hash, which costs per call.
#[derive(Default)]
pub struct HashingWriter {
    hasher: Sha256,
    buffer: Vec<u8>,
    len: u64,
}

/// What `HashingWriter` gathers before hashing.
const HASH_BUFFER: usize = 8 << 10;

impl HashingWriter {
    /// The hash and the length in bytes of everything written.
    pub fn finish(mut self) -> (ContentHash, u64) {
        self.hasher.update(&self.buffer);
        (ContentHash::from_digest(self.hasher.finalize().into()), self.len)
    }
}

impl fmt::Write for HashingWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.len += text.len() as u64;
        if self.buffer.len() + text.len() > HASH_BUFFER {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
        if text.len() >= HASH_BUFFER {
            self.hasher.update(text.as_bytes());
        } else {
            self.buffer.extend_from_slice(text.as_bytes());
        }
        Ok(())
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
    write_canonical(value, &mut out, &[]);
    out
}

/// Writes the canonical JSON of `value`, leaving out the top-level keys `skip` names.
fn write_canonical<W: fmt::Write>(value: &serde_json::Value, out: &mut W, skip: &[&str]) {
    use serde_json::Value;
    match value {
        Value::Null => {
            let _ = out.write_str("null");
        }
        Value::Bool(b) => {
            let _ = out.write_str(if *b { "true" } else { "false" });
        }
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            let _ = out.write_char('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    let _ = out.write_char(',');
                }
                write_canonical(item, out, &[]);
            }
            let _ = out.write_char(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !skip.contains(&k.as_str())).collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            let _ = out.write_char('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    let _ = out.write_char(',');
                }
                write_string(key, out);
                let _ = out.write_char(':');
                write_canonical(&map[key], out, &[]);
            }
            let _ = out.write_char('}');
        }
    }
}

fn write_string<W: fmt::Write>(s: &str, out: &mut W) {
    let _ = out.write_char('"');
    // Runs of characters that need no escape are written whole.
    let mut plain = 0;
    for (at, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        let _ = out.write_str(&s[plain..at]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            let _ = out.write_str(escaped);
        }
        plain = at + c.len_utf8();
    }
    let _ = out.write_str(&s[plain..]);
    let _ = out.write_char('"');
}

fn write_number<W: fmt::Write>(n: &serde_json::Number, out: &mut W) {
    // Integers that a double holds exactly print as themselves; everything else goes through the
    // double, as RFC 8785 (and every JavaScript reader of the manifest) would see it.
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= 1 << 53
    {
        let _ = write!(out, "{i}");
        return;
    }
    if let Some(u) = n.as_u64()
        && u <= 1 << 53
    {
        let _ = write!(out, "{u}");
        return;
    }
    let f = n.as_f64().unwrap_or(0.0);
    let _ = out.write_str(&ecmascript_number(f));
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

/// Returns the semantic hash of parsed data: sha256 over its canonical JSON, hashed as it is
/// written (the canonical JSON of a 200 MB asset is never held).
pub fn semantic_hash(value: &serde_json::Value) -> ContentHash {
    semantic_hash_without(value, &[])
}

/// The semantic hash of `value` with the top-level keys `skip` names left out.
pub fn semantic_hash_without(value: &serde_json::Value, skip: &[&str]) -> ContentHash {
    let mut digest = HashingWriter::default();
    write_canonical(value, &mut digest, skip);
    digest.finish().0
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

/// Returns the state id of a list of entries, as docs/guide.md defines it: entries sorted by the UTF-8
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
            write_string(&e.sha256.to_string(), &mut out);
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
    ContentHash::from_digest(hasher.finalize().into())
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
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(ContentHash::of(b"").to_string(), empty);
        assert_eq!(ContentHash::of(b"").short(), "e3b0c44298fc");
        // Read back from text, and written as text in JSON.
        assert_eq!(empty.parse::<ContentHash>(), Ok(ContentHash::of(b"")));
        assert_eq!(serde_json::to_string(&ContentHash::of(b"")).unwrap(), format!("\"{empty}\""));
        assert_eq!(serde_json::from_str::<ContentHash>(&format!("\"{empty}\"")).unwrap(), ContentHash::of(b""));
        for wrong in [
            "e3b0c442",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(wrong.parse::<ContentHash>().is_err(), "{wrong}");
        }
        // Hashes order as their text does (manifests and state ids sort by it).
        let (a, b) = (ContentHash::of(b"a"), ContentHash::of(b"b"));
        assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
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

    #[test]
    fn hashes_written_as_they_stream_equal_hashes_of_the_whole_text() {
        let value = json!({"kind": "query", "name": "a", "spec": {"b": "x\ty\u{1}\"z\"", "a": [1.5, null, true]}});
        assert_eq!(semantic_hash(&value), ContentHash::of(canonical_json(&value).as_bytes()));
        // The content key leaves out the top-level `kind` and `name`, and nothing below.
        let mut identityless = value.clone();
        identityless.as_object_mut().unwrap().retain(|k, _| k != "kind" && k != "name");
        assert_eq!(semantic_hash_without(&value, &["kind", "name"]), semantic_hash(&identityless));
        let nested = json!({"spec": {"kind": 1}});
        assert_eq!(semantic_hash_without(&nested, &["kind"]), semantic_hash(&nested));
        let mut writer = HashingWriter::default();
        let _ = fmt::Write::write_str(&mut writer, "ab");
        let _ = fmt::Write::write_str(&mut writer, "c");
        assert_eq!(writer.finish(), (ContentHash::of(b"abc"), 3));
    }
}
