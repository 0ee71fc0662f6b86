//! The fleet file: the targets of one rollout — tenants, replicas, sites — in waves, in order.
//! Pure: parsed and checked from text, and shared out (`--shard I/N`) by name alone.
//!
//! ```yaml
//! version: 1
//! waves:
//!   - name: canary
//!     targets: [{ name: tenant-test, db_env: TENANT_TEST_URL }]
//!   - name: rest
//!     parallel: 8
//!     max_failures: 2%
//!     targets:
//!       - { name: tenant-01, db: "postgres://migrator@db1/app?options=-csearch_path%3Dtenant_01" }
//!       - { name: tenant-02, db_file: /run/secrets/tenant-02-url, folder: /srv/tenant-02 }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::core::yaml;

/// The fleet file format this build reads.
pub const FLEET_VERSION: u32 = 1;

/// A fleet file as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Always 1.
    pub version: u32,
    /// The waves, in the order they run: a wave starts when the one before it has finished
    /// within its failure budget.
    pub waves: Vec<WaveSpec>,
}

/// One wave as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaveSpec {
    /// Unique in the file (`--wave NAME` runs this one).
    pub name: String,
    /// How many targets of this wave run at once (default 1; `--parallel` overrides).
    #[serde(default)]
    pub parallel: Option<u32>,
    /// How many targets of this wave may fail before the rollout stops before the next wave:
    /// a count (`2`) or a share (`"2%"`); default 0 (`--max-failures` overrides).
    #[serde(default)]
    pub max_failures: Option<BudgetSpec>,
    pub targets: Vec<TargetSpec>,
}

/// A failure budget as written: a count or a percentage.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum BudgetSpec {
    Count(u64),
    Text(String),
}

/// One target as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Unique in the file: letters, digits, `.`, `_`, `-`.
    pub name: String,
    /// The database URL (`--db`'s forms).
    #[serde(default)]
    pub db: Option<String>,
    /// The name of an environment variable that holds the database URL.
    #[serde(default)]
    pub db_env: Option<String>,
    /// A file that holds the database URL (e.g. a mounted secret).
    #[serde(default)]
    pub db_file: Option<String>,
    /// The target folder (default: a folder named after the target beside the fleet file);
    /// without a database, its embedded SQLite database is the target's.
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Where a target's database URL comes from. The URL itself is read by the shell, at run time,
/// and never printed with its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSource {
    Url(String),
    Env(String),
    File(String),
    /// The embedded SQLite database of the target's folder.
    Embedded,
}

/// A failure budget: how many failed targets a wave tolerates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureBudget {
    Count(u64),
    /// A percentage of the wave's targets, 0 to 100.
    Percent(f64),
}

impl FailureBudget {
    /// Reads `N` or `P%` (as `--max-failures` and `max_failures:` take it).
    pub fn parse(text: &str) -> Result<FailureBudget, String> {
        let text = text.trim();
        let wrong = || format!("`{text}` is not a count (`2`) or a percentage (`2%`)");
        match text.strip_suffix('%') {
            Some(percent) => {
                let value: f64 = percent.trim().parse().map_err(|_| wrong())?;
                if !(0.0..=100.0).contains(&value) {
                    return Err(format!("`{text}` is not a percentage from 0% to 100%"));
                }
                Ok(FailureBudget::Percent(value))
            }
            None => text.parse().map(FailureBudget::Count).map_err(|_| wrong()),
        }
    }

    /// Whether `failed` failures of a wave of `total` targets are within the budget.
    pub fn allows(&self, failed: usize, total: usize) -> bool {
        match *self {
            FailureBudget::Count(count) => failed as u64 <= count,
            // Whole targets: 2% of 120 targets allows 2 (2.4 rounded down).
            FailureBudget::Percent(percent) => (failed as f64) <= (percent / 100.0 * total as f64).floor() + 1e-9,
        }
    }
}

impl std::fmt::Display for FailureBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureBudget::Count(count) => write!(f, "{count}"),
            FailureBudget::Percent(percent) => write!(f, "{percent}%"),
        }
    }
}

/// A fleet, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub waves: Vec<Wave>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    pub name: String,
    pub parallel: u32,
    pub max_failures: FailureBudget,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub database: DatabaseSource,
    pub folder: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// Why a fleet file cannot be used: the reason, where (a byte span of the text, when known), and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetProblem {
    pub reason: String,
    pub span: Option<(usize, usize)>,
    pub help: &'static str,
}

/// Parses and checks a fleet file's text.
pub fn parse(text: &str) -> Result<Fleet, FleetProblem> {
    let file: FleetFile = yaml::parse(text).map_err(|p| FleetProblem {
        reason: p.reason,
        span: Some((p.offset, p.len)),
        help: "a fleet file is `version: 1` and `waves:`, each wave a `name:` and `targets:`",
    })?;
    // The span of the first occurrence of `needle` after `from`, to point at the value at fault.
    let at = |needle: &str| text.find(needle).map(|offset| (offset, needle.len()));
    let problem =
        |reason: String, span: Option<(usize, usize)>, help: &'static str| FleetProblem { reason, span, help };
    if file.version != FLEET_VERSION {
        return Err(problem(
            format!(
                "fleet file version {} is not known to this migrate, which reads version {FLEET_VERSION}",
                file.version
            ),
            at("version"),
            "write `version: 1`",
        ));
    }
    if file.waves.is_empty() {
        return Err(problem("the fleet has no waves".into(), at("waves"), "list at least one wave with its targets"));
    }
    let mut wave_names = BTreeSet::new();
    let mut target_names = BTreeSet::new();
    let mut waves = Vec::new();
    // A wave's or a target's name: well formed, and unique among its kind.
    let named = |names: &mut BTreeSet<String>, kind: &str, name: &str, example: &'static str| {
        if !crate::core::project::is_project_name(name) {
            return Err(problem(
                format!("`{name}` is not a {kind} name: letters, digits, `.`, `_` or `-`"),
                at(name),
                example,
            ));
        }
        if !names.insert(name.to_string()) {
            return Err(problem(
                format!("two {kind}s are named `{name}`"),
                at(name),
                "give each its own name: receipts and summaries tell them apart by it",
            ));
        }
        Ok(())
    };
    for spec in file.waves {
        named(&mut wave_names, "wave", &spec.name, "name waves like `canary` or `rest`")?;
        let parallel = spec.parallel.unwrap_or(1);
        if parallel == 0 {
            return Err(problem(
                format!("wave `{}` has `parallel: 0`", spec.name),
                at("parallel"),
                "run at least one target at a time",
            ));
        }
        let max_failures = match &spec.max_failures {
            None => FailureBudget::Count(0),
            Some(BudgetSpec::Count(count)) => FailureBudget::Count(*count),
            Some(BudgetSpec::Text(text)) => FailureBudget::parse(text)
                .map_err(|reason| problem(reason, at(text), "write a count (`2`) or a percentage (`2%`)"))?,
        };
        if spec.targets.is_empty() {
            return Err(problem(
                format!("wave `{}` has no targets", spec.name),
                at(&spec.name),
                "list its targets, or remove the wave",
            ));
        }
        let mut targets = Vec::new();
        for target in spec.targets {
            named(&mut target_names, "target", &target.name, "name targets like `tenant-01`")?;
            let database = match (target.db, target.db_env, target.db_file) {
                (Some(url), None, None) => DatabaseSource::Url(url),
                (None, Some(variable), None) => DatabaseSource::Env(variable),
                (None, None, Some(file)) => DatabaseSource::File(file),
                (None, None, None) => DatabaseSource::Embedded,
                _ => {
                    return Err(problem(
                        format!("target `{}` names its database more than once", target.name),
                        at(&target.name),
                        "keep one of `db`, `db_env` and `db_file`",
                    ));
                }
            };
            targets.push(Target { name: target.name, database, folder: target.folder, labels: target.labels });
        }
        waves.push(Wave { name: spec.name, parallel, max_failures, targets });
    }
    Ok(Fleet { waves })
}

/// `--shard I/N`: the I-th of N shares (I from 0, as a Kubernetes Indexed Job's completion index
/// and a CI matrix's job index count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let wrong = || format!("`{text}` is not `I/N` with 0 <= I < N (e.g. `0/4`)");
        let (index, count) = text.split_once('/').ok_or_else(wrong)?;
        let index: u32 = index.trim().parse().map_err(|_| wrong())?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        if count == 0 || index >= count {
            return Err(wrong());
        }
        Ok(Shard { index, count })
    }

    /// Whether the target named `name` is in this share. Decided by the name alone (rendezvous
    /// hashing: the share whose hash of (name, share) is highest), so a target stays in its share
    /// when others are added or removed, and only about 1/N of the targets move when N changes.
    pub fn holds(&self, name: &str) -> bool {
        (0..self.count).max_by_key(|share| weight(name, *share)) == Some(self.index)
    }
}

fn weight(name: &str, share: u32) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(share.to_be_bytes());
    hasher.update(name.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = "version: 1
waves:
  - name: canary
    targets: [{ name: tenant-test, db_env: TENANT_TEST_URL }]
  - name: rest
    parallel: 8
    max_failures: 2%
    targets:
      - { name: tenant-01, db: \"postgres://migrator@db1/app?options=-csearch_path%3Dtenant_01\" }
      - { name: tenant-02, db_file: /run/secrets/tenant-02-url, folder: /srv/tenant-02, labels: { region: eu } }
      - { name: site-03, folder: /srv/site-03 }
";

    #[test]
    fn a_fleet_file_reads_into_waves_of_targets() {
        let fleet = parse(FLEET).unwrap();
        let names: Vec<_> = fleet.waves.iter().map(|w| (w.name.as_str(), w.parallel, w.targets.len())).collect();
        assert_eq!(names, [("canary", 1, 1), ("rest", 8, 3)]);
        assert_eq!(fleet.waves[0].max_failures, FailureBudget::Count(0));
        assert_eq!(fleet.waves[1].max_failures, FailureBudget::Percent(2.0));
        let rest = &fleet.waves[1].targets;
        assert_eq!(fleet.waves[0].targets[0].database, DatabaseSource::Env("TENANT_TEST_URL".into()));
        assert!(matches!(&rest[0].database, DatabaseSource::Url(url) if url.starts_with("postgres://")));
        assert_eq!(rest[1].database, DatabaseSource::File("/run/secrets/tenant-02-url".into()));
        assert_eq!(rest[1].labels.get("region").map(String::as_str), Some("eu"));
        assert_eq!(rest[2].database, DatabaseSource::Embedded);
    }

    #[test]
    fn a_wrong_fleet_file_says_what_and_where() {
        let cases = [
            ("version: 2\nwaves: []\n", "version 2", "version"),
            ("version: 1\nwaves: []\n", "no waves", "waves"),
            (
                "version: 1\nwaves: [{name: a, targets: [{name: x, folder: f}]}, {name: a, targets: [{name: y, folder: f}]}]\n",
                "two waves are named `a`",
                "a",
            ),
            (
                "version: 1\nwaves: [{name: a, targets: [{name: x, folder: f}, {name: x, folder: g}]}]\n",
                "two targets are named `x`",
                "x",
            ),
            ("version: 1\nwaves: [{name: a, targets: [{name: x, db: u, db_env: V}]}]\n", "more than once", "x"),
            (
                "version: 1\nwaves: [{name: a, parallel: 0, targets: [{name: x, folder: f}]}]\n",
                "parallel: 0",
                "parallel",
            ),
            (
                "version: 1\nwaves: [{name: a, max_failures: lots, targets: [{name: x, folder: f}]}]\n",
                "`lots` is not a count",
                "lots",
            ),
            ("version: 1\nwaves: [{name: a, targets: []}]\n", "has no targets", "a"),
            ("version: 1\nwaves: [{name: a, targets: [{name: x, folder: f, dbb: u}]}]\n", "dbb", "dbb"),
            ("version: 1\nwaves: [{name: 'a b', targets: [{name: x, folder: f}]}]\n", "not a wave name", "a b"),
        ];
        for (text, reason, points_at) in cases {
            let problem = parse(text).unwrap_err();
            assert!(problem.reason.contains(reason), "{text}: {problem:?}");
            let (offset, len) = problem.span.unwrap_or_else(|| panic!("{text}: no span"));
            assert!(
                text[offset..offset + len].contains(points_at) || text[offset..].starts_with(points_at),
                "{text}: {problem:?}"
            );
        }
    }

    #[test]
    fn failure_budgets_count_whole_targets() {
        assert_eq!(FailureBudget::parse("2"), Ok(FailureBudget::Count(2)));
        assert_eq!(FailureBudget::parse("2.5%"), Ok(FailureBudget::Percent(2.5)));
        assert!(FailureBudget::parse("101%").is_err() && FailureBudget::parse("-1").is_err());
        let two = FailureBudget::Count(2);
        assert!(two.allows(2, 10) && !two.allows(3, 10));
        let percent = FailureBudget::Percent(2.0);
        assert!(percent.allows(2, 120) && !percent.allows(3, 120), "2% of 120 is 2 targets");
        assert!(percent.allows(0, 10) && !percent.allows(1, 10), "2% of 10 is no target");
        assert!(FailureBudget::Percent(100.0).allows(10, 10));
        assert!(FailureBudget::Percent(50.0).allows(1, 3) && !FailureBudget::Percent(50.0).allows(2, 3));
    }

    #[test]
    fn shards_split_the_fleet_once_and_stay_put_when_targets_are_added() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        for wrong in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(Shard::parse(wrong).is_err(), "{wrong}");
        }
        let names: Vec<String> = (0..1000).map(|i| format!("tenant-{i:04}")).collect();
        let shards: Vec<Shard> = (0..4).map(|index| Shard { index, count: 4 }).collect();
        // Every target is in exactly one share, and the shares are about even.
        for name in &names {
            assert_eq!(shards.iter().filter(|s| s.holds(name)).count(), 1, "{name}");
        }
        for shard in &shards {
            let held = names.iter().filter(|n| shard.holds(n)).count();
            assert!((200..300).contains(&held), "share {} holds {held} of 1000", shard.index);
        }
        // A share is decided by the name alone: adding targets moves none of the others.
        let before: Vec<bool> = names.iter().map(|n| shards[2].holds(n)).collect();
        let more: Vec<String> = (0..1500).map(|i| format!("tenant-{i:04}")).collect();
        let after: Vec<bool> = more.iter().take(1000).map(|n| shards[2].holds(n)).collect();
        assert_eq!(before, after);
        // Going from 4 to 5 shares moves about a fifth of the targets, not most of them.
        let five: Vec<Shard> = (0..5).map(|index| Shard { index, count: 5 }).collect();
        let moved = names
            .iter()
            .filter(|n| {
                let old = shards.iter().position(|s| s.holds(n));
                let new = five.iter().position(|s| s.holds(n));
                old != new
            })
            .count();
        assert!((120..300).contains(&moved), "{moved} of 1000 moved");
    }
}
