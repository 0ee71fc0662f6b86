//! The release kind and the version bump a change needs.

use super::*;

/// What a release is, by what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// Nothing changes.
    None,
    /// Assets only; no SQL runs.
    Deployment,
    /// Migrations change (with or without assets).
    Migration,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Bump {
    #[default]
    None,
    Patch,
    Minor,
    Major,
}

/// The bump a release needs: `major` for destructive or blue/green-unsafe SQL (allowed or not),
/// `minor` for other SQL (migrations or session statements), `patch` for assets only. `plan`
/// and `export` both decide it here.
pub fn release_bump(sql_changes: bool, ships_assets: bool, breaking: bool) -> Bump {
    match (sql_changes, ships_assets) {
        (true, _) if breaking => Bump::Major,
        (true, _) => Bump::Minor,
        (false, true) => Bump::Patch,
        (false, false) => Bump::None,
    }
}

/// Whether a hazard rule id makes SQL a breaking change (a major bump).
pub fn is_breaking_rule(rule: &str) -> bool {
    rule.starts_with("destructive/") || rule.starts_with("blue-green/")
}

/// `1.2.3` or `v1.2.3` (a pre-release or build suffix is ignored) as numbers.
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.strip_prefix('v').unwrap_or(text);
    let core = core.split(['-', '+']).next().unwrap_or(core);
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) => Some((a, b, c)),
        _ => None,
    }
}

/// The bump from `previous` to `next`, or `None` when `next` is not newer.
pub fn bump_between(previous: (u64, u64, u64), next: (u64, u64, u64)) -> Option<Bump> {
    if next <= previous {
        None
    } else if next.0 > previous.0 {
        Some(Bump::Major)
    } else if next.1 > previous.1 {
        Some(Bump::Minor)
    } else {
        Some(Bump::Patch)
    }
}

/// A warning when `--release-version` is not a large enough step from the version shipped before.
pub(super) fn version_finding(input: &PlanInput<'_>, needed: Bump) -> Option<Finding> {
    let (next, previous) = (input.release_version.as_deref()?, input.previous_version.as_deref()?);
    let (Some(next_number), Some(previous_number)) = (parse_version(next), parse_version(previous)) else {
        return None;
    };
    let name = |bump: Bump| match bump {
        Bump::None => "no",
        Bump::Patch => "a patch",
        Bump::Minor => "a minor",
        Bump::Major => "a major",
    };
    let (message, help) = match bump_between(previous_number, next_number) {
        None => (format!("release version {next} is not newer than {previous}, shipped before"), None),
        Some(bump) if bump < needed => (
            format!(
                "release version {next} is {} bump from {previous}; this release needs {} bump",
                name(bump),
                name(needed)
            ),
            Some(match needed {
                Bump::Major => "the SQL is destructive or unsafe for a blue/green deploy: bump the major version",
                Bump::Minor => {
                    "SQL runs, so this is a migration, not a deployment (which stays within one major.minor): bump at least the minor version"
                }
                _ => "bump at least the patch version",
            }),
        ),
        Some(_) => return None,
    };
    let finding = match input.project.config.policy.version_bump {
        crate::core::project::PolicyLevel::Warning => Finding::warning("release_version_bump", message),
        crate::core::project::PolicyLevel::Error => Finding::error("release_version_bump", message),
    };
    Some(match help {
        Some(help) => finding.help(help),
        None => finding.help("give the release a version newer than the one shipped"),
    })
}
