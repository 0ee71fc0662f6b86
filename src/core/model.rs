//! Plain data of the domain: versions, dialects, item identities.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A migration version: digits of any length, compared as a number (never through a machine
/// integer, so 20-digit timestamps and ids are fine). `0001` and `1` are the same version.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version(String);

impl schemars::JsonSchema for Version {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a migration version: digits, without leading zeros",
            "type": "string",
            "pattern": "^(0|[1-9][0-9]*)$"
        })
    }
}

impl Version {
    /// Parses digits; leading zeros are dropped (`0007` is `7`, `000` is `0`).
    pub fn parse(digits: &str) -> Option<Version> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        Some(Version(if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }))
    }

    /// The version without leading zeros, as state ids and history rows carry it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl TryFrom<String> for Version {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Version::parse(&value).ok_or_else(|| format!("`{value}` is not a version (digits only)"))
    }
}

impl From<Version> for String {
    fn from(value: Version) -> String {
        value.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A SQL dialect the project targets. `mysql` covers MariaDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    pub fn from_name(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An asset identity, `<kind>/<name>`, where the name may contain `/`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemId(String);

impl schemars::JsonSchema for ItemId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ItemId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "an asset identity, `<kind>/<name>`",
            "type": "string",
            "pattern": "^[^/.][^/]*(/[^/.][^/]*)+$"
        })
    }
}

impl TryFrom<String> for ItemId {
    type Error = IdentityError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ItemId::parse(&value)
    }
}

impl From<ItemId> for String {
    fn from(value: ItemId) -> String {
        value.0
    }
}

/// Why a string cannot be an asset identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("an identity needs a kind and a name, as in `query/active-hosts`")]
    NoKind,
    #[error("the segment `{0}` could escape the assets folder or is hidden")]
    UnsafeSegment(String),
    #[error("the character {0:?} is not allowed in an identity")]
    BadCharacter(char),
}

impl ItemId {
    /// Checks an identity. Segments may not be empty, `.`/`..` or hidden, and may not hold
    /// separators or control characters other than `/`: an identity becomes a path on the target.
    pub fn parse(text: &str) -> Result<ItemId, IdentityError> {
        if let Some(c) =
            text.chars().find(|c| c.is_control() || matches!(c, '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|'))
        {
            return Err(IdentityError::BadCharacter(c));
        }
        let segments: Vec<&str> = text.split('/').collect();
        if segments.len() < 2 {
            return Err(IdentityError::NoKind);
        }
        if let Some(bad) = segments.iter().find(|s| s.is_empty() || s.starts_with('.') || s.len() > 255) {
            return Err(IdentityError::UnsafeSegment((*bad).to_string()));
        }
        Ok(ItemId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> &str {
        self.0.split_once('/').map_or(&self.0, |(kind, _)| kind)
    }

    pub fn name(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, name)| name)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers_of_any_size() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(v("0001"), v("1"));
        assert!(v("9") < v("10"));
        assert!(v("20260101000000000001") > v("20260101000000000000"));
        assert!(v("99999999999999999999999") > v("18446744073709551615"));
        assert_eq!(v("000").as_str(), "0");
        assert!(Version::parse("1a").is_none());
        assert!(Version::parse("").is_none());
    }

    #[test]
    fn identities_that_could_escape_are_refused() {
        assert!(ItemId::parse("query/active-hosts").is_ok());
        assert!(ItemId::parse("query/team/a b").is_ok());
        assert_eq!(ItemId::parse("query"), Err(IdentityError::NoKind));
        assert!(matches!(ItemId::parse("query/../x"), Err(IdentityError::UnsafeSegment(_))));
        assert!(matches!(ItemId::parse("query//x"), Err(IdentityError::UnsafeSegment(_))));
        assert!(matches!(ItemId::parse("query/.hidden"), Err(IdentityError::UnsafeSegment(_))));
        assert!(matches!(ItemId::parse("query/a\\b"), Err(IdentityError::BadCharacter('\\'))));
        assert!(matches!(ItemId::parse("query/a\nb"), Err(IdentityError::BadCharacter('\n'))));
        let id = ItemId::parse("dashboard/ops/latency").unwrap();
        assert_eq!((id.kind(), id.name()), ("dashboard", "ops/latency"));
    }
}
