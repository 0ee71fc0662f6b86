//! Table tests of the planner over in-memory sources: every classification, without git.

use super::*;
use crate::core::record::{AppliedMigration, MigrationStatus, Receipt, ReceiptRelease, ReceiptSource};
use crate::core::source::{MemorySource, diff_listings};
use std::collections::BTreeMap;

const CONFIG: &str = "version: 1\nproject: p\ndialects: [sqlite, postgres]\nignore: [\"assets/legacy/**\"]\n";

fn source(files: &[(&str, &str)]) -> MemorySource {
    let mut all = vec![("migrate.yaml", CONFIG)];
    all.extend_from_slice(files);
    MemorySource::from_files(all.iter().map(|(p, c)| (*p, c.as_bytes())))
}

fn run_with(base: &[(&str, &str)], head: &[(&str, &str)], config: &str, records: &[EnvironmentRecord]) -> Plan {
    run_versions(base, head, config, records, None, None)
}

fn run_versions(
    base: &[(&str, &str)],
    head: &[(&str, &str)],
    config: &str,
    records: &[EnvironmentRecord],
    release_version: Option<&str>,
    previous_version: Option<&str>,
) -> Plan {
    let base = source(base);
    let head = source(head);
    let project = Project::parse("migrate.yaml", "", config.as_bytes()).unwrap();
    let changes = diff_listings(&base.list("assets").unwrap(), &head.list("assets").unwrap());
    plan(&PlanInput {
        base: Some(&base),
        base_revision: Some(Revision { spec: "base".into(), commit: None }),
        asset_changes: &changes,
        records,
        release_version: release_version.map(str::to_string),
        previous_version: previous_version.map(str::to_string),
        ..PlanInput::new(&project, &head, Revision { spec: "head".into(), commit: None }, 2)
    })
    .unwrap()
}

fn run(base: &[(&str, &str)], head: &[(&str, &str)]) -> Plan {
    run_with(base, head, CONFIG, &[])
}

fn asset_kinds(plan: &Plan) -> Vec<(String, AssetChangeKind)> {
    plan.assets.iter().map(|c| (c.id.to_string(), c.change)).collect()
}

fn codes(plan: &Plan) -> Vec<&str> {
    plan.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn asset_classifications() {
    let base = [
        ("assets/query/kept.yaml", "spec: {a: 1}\n"),
        ("assets/query/modified.yaml", "spec: {a: 1}\n"),
        ("assets/query/cosmetic.yaml", "spec: {a: 1, b: 2}\n"),
        ("assets/query/crlf.yaml", "spec: {a: 1}\n"),
        ("assets/query/old-name.yaml", "name: old-name\nspec: {moved: true}\n"),
        ("assets/query/removed.yaml", "spec: {gone: true}\n"),
        ("assets/legacy/x.yaml", "a: 1\n"),
    ];
    let head = [
        ("assets/query/kept.yaml", "spec: {a: 1}\n"),
        ("assets/query/modified.yaml", "spec: {a: 2}\n"),
        ("assets/query/cosmetic.yaml", "# reordered\nspec:\n  b: 2\n  a: 1\n"),
        ("assets/query/crlf.yaml", "\u{feff}spec: {a: 1}\r\n"),
        ("assets/query/new-name.yaml", "name: new-name\nspec: {moved: true}\n"),
        ("assets/query/added.yaml", "spec: {new: true}\n"),
        ("assets/legacy/x.yaml", "a: 2\n"),
    ];
    let plan = run(&base, &head);
    assert_eq!(
        asset_kinds(&plan),
        [
            ("query/added".to_string(), AssetChangeKind::Added),
            ("query/cosmetic".to_string(), AssetChangeKind::Cosmetic),
            ("query/modified".to_string(), AssetChangeKind::Modified),
            ("query/new-name".to_string(), AssetChangeKind::Renamed),
            ("query/removed".to_string(), AssetChangeKind::Removed),
        ]
    );
    let renamed = plan.assets.iter().find(|c| c.change == AssetChangeKind::Renamed).unwrap();
    assert_eq!(renamed.renamed_from.as_ref().unwrap().as_str(), "query/old-name");
    assert!(renamed.diff.contains("-name: old-name\n+name: new-name"));
    assert_eq!(plan.ignored, ["assets/legacy/x.yaml"]);
    assert_eq!(plan.release.kind, ReleaseKind::Deployment);
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
}

#[test]
fn migration_classifications_per_dialect() {
    let base = [
        ("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n"),
        ("migrations/0002_b.sql", "CREATE TABLE b (id INT);\n"),
    ];
    let head = [
        ("migrations/0001_a.sql", "CREATE TABLE a (id INT);\r\n"),
        ("migrations/0002_b.sql", "CREATE TABLE b (id INT);\n"),
        ("migrations/0003_c.sql", "CREATE TABLE c (id INT);\n"),
        ("migrations/0004_d.postgres.sql", "-- migrate:no-transaction\nCREATE INDEX CONCURRENTLY d ON c (id);\n"),
    ];
    let plan = run(&base, &head);
    let got: Vec<_> =
        plan.migrations.iter().map(|m| (m.version.to_string(), m.dialect, m.change, m.no_transaction)).collect();
    assert_eq!(
        got,
        [
            ("3".to_string(), Dialect::Sqlite, MigrationChangeKind::Added, false),
            ("3".to_string(), Dialect::Postgres, MigrationChangeKind::Added, false),
            ("4".to_string(), Dialect::Postgres, MigrationChangeKind::Added, true),
        ]
    );
    assert_eq!(plan.release.kind, ReleaseKind::Migration);
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
}

#[test]
fn shipped_migrations_are_immutable() {
    let base = [
        ("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n"),
        ("migrations/0002_b.sql", "CREATE TABLE b (id INT);\n"),
    ];
    let head = [
        ("migrations/0001_a.sql", "CREATE TABLE a (id BIGINT);\n"),
        ("migrations/0002_b.postgres.sql", "CREATE TABLE b (id SERIAL);\n"),
        ("migrations/0002_b.sql", "CREATE TABLE b (id INT);\n"),
    ];
    let plan = run(&base, &head);
    let got: Vec<_> = plan.migrations.iter().map(|m| (m.version.to_string(), m.dialect, m.change)).collect();
    assert_eq!(
        got,
        [
            ("1".to_string(), Dialect::Sqlite, MigrationChangeKind::Edited),
            ("1".to_string(), Dialect::Postgres, MigrationChangeKind::Edited),
            ("2".to_string(), Dialect::Postgres, MigrationChangeKind::Edited),
        ]
    );
    assert_eq!(codes(&plan), ["migrate::shipped_migration_edited"; 2]);
    assert_eq!(plan.findings[0].message, "migration `0001_a` (sqlite, postgres) changed after it shipped at the base");
    assert_eq!(
        plan.findings[1].message,
        "migration `0002_b` shipped at the base; a `postgres` variant now changes its text"
    );
    let location = plan.findings[0].location.as_ref().unwrap();
    assert_eq!((location.path.as_str(), location.line), ("migrations/0001_a.sql", Some(1)));
    assert!(plan.findings[0].label.as_deref().unwrap().starts_with("shipped sha256:"));

    let deleted = run(&base, &base[..1]);
    assert_eq!(codes(&deleted), ["migrate::shipped_migration_deleted"]);
    assert!(deleted.findings[0].message.contains("(sqlite, postgres)"));
}

#[test]
fn out_of_order_is_an_error_unless_allowed() {
    let base = [("migrations/0005_e.sql", "SELECT 5;\n")];
    let head = [("migrations/0005_e.sql", "SELECT 5;\n"), ("migrations/0003_c.sql", "SELECT 3;\n")];
    let plan = run(&base, &head);
    assert_eq!(codes(&plan), ["migrate::out_of_order"]);
    assert!(plan.has_errors());
    let allowed = run_with(&base, &head, &format!("{CONFIG}allow_out_of_order: true\n"), &[]);
    assert_eq!(codes(&allowed), ["migrate::out_of_order"]);
    assert!(!allowed.has_errors());
}

#[test]
fn twenty_digit_versions_and_duplicates() {
    let head = [
        ("migrations/20260101000000000001_a.sql", "SELECT 1;\n"),
        ("migrations/20260101000000000002_b.sql", "SELECT 2;\n"),
        ("migrations/0001_x.sql", "SELECT 1;\n"),
        ("migrations/1_y.sql", "SELECT 1;\n"),
    ];
    let plan = run(&[], &head);
    assert!(codes(&plan).contains(&"migrate::duplicate_version"));
    let versions: Vec<_> =
        plan.migrations.iter().filter(|m| m.dialect == Dialect::Sqlite).map(|m| m.version.to_string()).collect();
    assert_eq!(versions, ["1", "20260101000000000001", "20260101000000000002"]);
}

fn record(version: &str, sql: &str, partial: bool) -> EnvironmentRecord {
    let receipt = Receipt {
        format_version: 1,
        environment: "prod".into(),
        project: "p".into(),
        target_id: "t1".into(),
        database: "sqlite:db.sqlite3".into(),
        release: ReceiptRelease { id: ContentHash::of(b"r"), version: None },
        source: ReceiptSource { head_commit: "0".repeat(40), head_depth: 1 },
        migrations: BTreeMap::from([(
            Dialect::Sqlite,
            vec![AppliedMigration {
                version: Version::parse(version).unwrap(),
                sha256: ContentHash::of(sql.as_bytes()),
                status: if partial { MigrationStatus::Partial } else { MigrationStatus::Applied },
                statements: None,
            }],
        )]),
        assets: vec![],
        skipped: vec![],
        applied_at: "2026-01-01T00:00:00Z".into(),
    };
    EnvironmentRecord {
        format_version: 1,
        environment: "prod".into(),
        targets: BTreeMap::from([("t1".into(), receipt)]),
    }
}

#[test]
fn recorded_migrations_are_shipped_too() {
    let config = "version: 1\nproject: p\ndialects: [sqlite]\n";
    let head = [("migrations/0007_g.sql", "SELECT 7;\n")];
    let same = run_with(&[], &head, config, &[record("7", "SELECT 7;\n", false)]);
    assert!(same.migrations.is_empty(), "already on the target: nothing ships");
    let edited = run_with(&[], &head, config, &[record("7", "SELECT 0;\n", false)]);
    assert_eq!(codes(&edited), ["migrate::shipped_migration_edited"]);
    assert!(edited.findings[0].message.contains("to `prod`"));
    let partial = run_with(&[], &head, config, &[record("7", "SELECT 0;\n", true)]);
    assert_eq!(codes(&partial), ["migrate::partial_migration_edited"]);
    assert!(!partial.has_errors());
    let older =
        run_with(&[], &[("migrations/0003_c.sql", "SELECT 3;\n")], config, &[record("7", "SELECT 7;\n", false)]);
    assert_eq!(codes(&older), ["migrate::shipped_migration_deleted", "migrate::out_of_order"], "7 is gone too");
}

#[test]
fn changed_assets_are_validated_with_their_dependencies() {
    let base = [("assets/a/x.yaml", "spec: {}\n"), ("assets/a/y.yaml", "depends_on: [a/x]\n")];
    let head = [
        ("assets/a/x.yaml", "depends_on: [a/y]\n"),
        ("assets/a/y.yaml", "depends_on: [a/x]\n"),
        ("assets/a/z.yaml", "kind: b\n"),
        ("assets/a/w.yaml", "depends_on: [a/nope]\n"),
        ("assets/a/v.yml", "x: 1\n"),
    ];
    let plan = run(&base, &head);
    assert_eq!(
        codes(&plan),
        [
            "migrate::asset_extension",
            "migrate::unknown_dependency",
            "migrate::dependency_cycle",
            "migrate::header_mismatch"
        ]
    );
}

#[test]
fn nothing_changes() {
    let files = [("migrations/0001_a.sql", "SELECT 1;\n"), ("assets/a/x.yaml", "spec: {}\n")];
    let plan = run(&files, &files);
    assert_eq!(plan.release.kind, ReleaseKind::None);
    assert!(plan.assets.is_empty() && plan.migrations.is_empty() && plan.findings.is_empty());
}

#[test]
fn markdown_stays_under_the_limit() {
    let base: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("assets/q/a{i:03}.yaml"),
                format!("spec:\n{}", (0..40).map(|l| format!("  k{l}: {i}\n")).collect::<String>()),
            )
        })
        .collect();
    let head: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("assets/q/a{i:03}.yaml"),
                format!("spec:\n{}", (0..40).map(|l| format!("  k{l}: {}\n", i + 1)).collect::<String>()),
            )
        })
        .collect();
    let as_refs = |v: &Vec<(String, String)>| v.iter().map(|(a, b)| (a.clone(), b.clone())).collect::<Vec<_>>();
    let base = as_refs(&base);
    let head = as_refs(&head);
    let base: Vec<(&str, &str)> = base.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let head: Vec<(&str, &str)> = head.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let plan = run(&base, &head);
    assert_eq!(plan.assets.len(), 300);
    let full = crate::core::report::markdown::plan_with_limit(&plan, usize::MAX);
    assert!(full.chars().count() > 65_536);
    let short = crate::core::report::markdown::plan(&plan);
    assert!(short.chars().count() <= 65_536);
    assert!(short.contains("Diffs are shortened"));
    let tiny = crate::core::report::markdown::plan_with_limit(&plan, 20_000);
    assert!(tiny.chars().count() <= 20_000, "{}", tiny.chars().count());
    assert!(tiny.contains("not shown"));
}

#[test]
fn the_bump_a_release_needs() {
    let config = "version: 1\nproject: p\ndialects: [postgres]\n";
    let base = [("migrations/0001_a.sql", "CREATE TABLE a (id int);\n"), ("assets/query/q.yaml", "spec: 1\n")];
    let bump = |head: &[(&str, &str)]| run_with(&base, head, config, &[]).release.bump;
    assert_eq!(bump(&base), Bump::None);
    let assets_only = [base[0], ("assets/query/q.yaml", "spec: 2\n")];
    assert_eq!(bump(&assets_only), Bump::Patch);
    let additive = [base[0], base[1], ("migrations/0002_b.sql", "ALTER TABLE a ADD COLUMN b int;\n")];
    assert_eq!(bump(&additive), Bump::Minor);
    let allowed = "-- migrate:allow destructive/drop-table archived\nDROP TABLE a;\n";
    let destructive = [base[0], base[1], ("migrations/0002_b.sql", allowed)];
    assert_eq!(bump(&destructive), Bump::Major, "an allowed hazard still breaks the running version");
    let renaming = [base[0], base[1], ("migrations/0002_b.sql", "ALTER TABLE a RENAME TO b;\n")];
    assert_eq!(bump(&renaming), Bump::Major);
}

#[test]
fn a_release_version_too_small_for_its_changes_is_a_warning() {
    let config = "version: 1\nproject: p\ndialects: [postgres]\n";
    let base = [("migrations/0001_a.sql", "CREATE TABLE a (id int);\n")];
    let head = [base[0], ("migrations/0002_b.sql", "DROP TABLE a;\n")];
    let codes = |release: &str, previous: &str| -> Vec<String> {
        let plan = run_versions(&base, &head, config, &[], Some(release), Some(previous));
        plan.findings.iter().filter(|f| f.code == "migrate::release_version_bump").map(|f| f.message.clone()).collect()
    };
    assert_eq!(
        codes("1.3.1", "v1.3.0"),
        ["release version 1.3.1 is a patch bump from v1.3.0; this release needs a major bump"]
    );
    assert_eq!(codes("1.4.0", "1.3.0").len(), 1);
    assert!(codes("2.0.0", "1.3.0").is_empty());
    assert_eq!(codes("1.3.0", "1.3.0"), ["release version 1.3.0 is not newer than 1.3.0, shipped before"]);
    // Without a version before, or with words that are not versions, nothing is said.
    assert!(codes("next", "1.3.0").is_empty());
    assert_eq!(parse_version("v1.2.3-rc.1"), Some((1, 2, 3)));
    assert_eq!(parse_version("1.2"), None);
}

/// A receipt of `target` in `environment` holding `migrations` (sqlite).
fn holding(environment: &str, target: &str, migrations: &[(&str, &str)]) -> EnvironmentRecord {
    let mut record = record("1", "", false);
    record.environment = environment.into();
    let mut receipt = record.targets.remove("t1").unwrap();
    receipt.environment = environment.into();
    receipt.target_id = target.into();
    receipt.migrations = BTreeMap::from([(
        Dialect::Sqlite,
        migrations
            .iter()
            .map(|(v, sql)| AppliedMigration {
                version: Version::parse(v).unwrap(),
                sha256: ContentHash::of(sql.as_bytes()),
                status: MigrationStatus::Applied,
                statements: None,
            })
            .collect(),
    )]);
    record.targets = BTreeMap::from([(target.to_string(), receipt)]);
    record
}

fn plan_of(
    base: (&str, &[(&str, &str)]),
    head: (&str, &[(&str, &str)]),
    records: &[EnvironmentRecord],
    environment: Option<EnvironmentBase>,
) -> Plan {
    let with_config = |config: &str, files: &[(&str, &str)]| {
        let mut all = vec![("migrate.yaml", config)];
        all.extend_from_slice(files);
        MemorySource::from_files(all.iter().map(|(p, c)| (*p, c.as_bytes())))
    };
    let (base_source, head_source) = (with_config(base.0, base.1), with_config(head.0, head.1));
    let base_project = Project::parse("migrate.yaml", "", base.0.as_bytes()).unwrap();
    let project = Project::parse("migrate.yaml", "", head.0.as_bytes()).unwrap();
    let changes = diff_listings(&base_source.list("assets").unwrap(), &head_source.list("assets").unwrap());
    plan(&PlanInput {
        base: Some(&base_source),
        base_project: Some(&base_project),
        base_revision: Some(Revision { spec: "base".into(), commit: None }),
        asset_changes: &changes,
        records,
        environment,
        ..PlanInput::new(&project, &head_source, Revision { spec: "head".into(), commit: None }, 2)
    })
    .unwrap()
}

fn migrations_of(plan: &Plan) -> Vec<String> {
    plan.migrations.iter().map(|m| format!("{} {} {:?}", m.dialect, m.version, m.change)).collect()
}

/// Issue 11: adding `mysql` to `dialects:` made `plan` say "nothing to ship" while `export`
/// shipped the whole MySQL history: a dialect the base did not target has no history there.
#[test]
fn a_dialect_added_since_the_base_ships_its_whole_history() {
    let files = [("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n")];
    let plan = plan_of(
        ("version: 1\nproject: p\ndialects: [sqlite]\n", &files),
        ("version: 1\nproject: p\ndialects: [sqlite, mysql]\n", &files),
        &[],
        None,
    );
    assert_eq!(migrations_of(&plan), ["mysql 1 Added"]);
    assert_eq!(plan.release.kind, ReleaseKind::Migration);
}

/// Issue 11, item 2: `plan --env prod` left out every migration another environment held, with
/// its hazards, while `export --env prod` shipped it. What prod needs is what prod's least
/// advanced target lacks; immutability still counts every record.
#[test]
fn plan_env_shows_what_the_environments_target_lacks_whatever_others_hold() {
    let config = "version: 1\nproject: p\ndialects: [sqlite]\nenvironments: [test, prod]\n";
    let one = ("migrations/0001_a.sql", "CREATE TABLE a (id INT);\n");
    let two = ("migrations/0002_b.sql", "DROP TABLE a;\n");
    let three = ("migrations/0003_c.sql", "CREATE TABLE c (id INT);\n");
    let records = [
        holding("test", "t-test", &[("1", one.1), ("2", two.1), ("3", three.1)]),
        holding("prod", "t-prod", &[("1", one.1)]),
    ];
    let prod = EnvironmentBase {
        name: "prod".into(),
        target_id: "t-prod".into(),
        release_id: ContentHash::of(b"r"),
        targets: 1,
        targets_disagree: false,
        holdings: Vec::new(),
        release_version: None,
    };
    let plan = plan_of((config, &[one]), (config, &[one, two, three]), &records, Some(prod));
    assert_eq!(migrations_of(&plan), ["sqlite 2 Added", "sqlite 3 Added"]);
    assert_eq!(codes(&plan), ["migrate::destructive/drop-table"], "its hazards, and no out-of-order error");
    assert_eq!((plan.release.kind, plan.release.bump), (ReleaseKind::Migration, Bump::Major));
    // A pull request's plan from the same base still counts what `test` holds as shipped.
    let plan = plan_of((config, &[one]), (config, &[one, two, three]), &records, None);
    assert!(plan.migrations.is_empty(), "{:?}", migrations_of(&plan));
}

/// Issue 11: `check` refused an edit of a shipped migration but not its deletion.
#[test]
fn a_recorded_migration_gone_from_head_is_a_deletion() {
    let config = "version: 1\nproject: p\ndialects: [sqlite]\n";
    let plan = run_with(&[], &[("migrations/0008_h.sql", "SELECT 8;\n")], config, &[record("7", "SELECT 7;\n", false)]);
    assert_eq!(codes(&plan), ["migrate::shipped_migration_deleted"]);
    assert!(
        plan.findings[0].message.contains("migration 7 (sqlite) shipped to `prod`"),
        "{}",
        plan.findings[0].message
    );
}

/// An asset over `LARGE_ASSET` is compared by semantic hash, its data let go: every verdict is
/// the one the comparison of the data gives.
#[test]
fn large_assets_compared_by_digest_agree_with_their_data() {
    let id = ItemId::parse("query/a").unwrap();
    let texts = [
        ("spec: {a: 1, b: [x, y]}\n", "spec:\n  b: [x, y]\n  a: 1.0\n", true),
        ("spec: {a: 1}\n", "spec: {a: 2}\n", false),
        ("kind: query\nspec: {a: 1}\n", "spec: {a: 1}\n", false),
        ("name: a\nspec: {a: 1}\n", "name: a\nspec: {a: 1}  # same\n", true),
    ];
    let schemas = Schemas::default();
    let project = Project::parse("migrate.yaml", "", CONFIG.as_bytes()).unwrap();
    for (before, after, same) in texts {
        for (let_go_before, let_go_after) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut base = Side::base(&id, before.as_bytes()).unwrap();
            let mut analysed =
                crate::core::check::analyse_asset(&project, &schemas, &id, "assets/query/a.yaml", after.into());
            let mut head = Side::head(&analysed);
            let key_before = base.content_key();
            if let_go_before {
                base.let_go();
            }
            if let_go_after {
                head.let_go_of(&mut analysed);
            }
            let data = analysed.parsed.as_ref().unwrap();
            assert_eq!(base.same_data(&head, data), same, "{before:?} {after:?} {let_go_before} {let_go_after}");
            assert_eq!(base.content_key(), key_before, "{before:?}");
        }
    }
    // The content key leaves `kind` and `name` out whether the data is held or let go.
    let (mut named, plain) =
        (Side::base(&id, b"kind: query\nspec: {a: 1}\n").unwrap(), Side::base(&id, b"spec: {a: 1}\n").unwrap());
    named.let_go();
    assert_eq!(named.content_key(), plain.content_key());
}
