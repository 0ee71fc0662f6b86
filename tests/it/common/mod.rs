//! The test kit: `RepoBuilder` writes fixture histories with gix (fixed author and clock, so
//! commit ids are stable), and `TestEnv` runs the real binary in a clean environment and renders
//! everything the user sees for a snapshot.

pub mod db;
pub mod hostile_files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use gix::objs::tree::EntryKind;
use gix::refs::transaction::PreviousValue;

/// The fixtures folder of this repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Builds a repository commit by commit.
pub struct RepoBuilder {
    pub dir: PathBuf,
    repo: gix::Repository,
    files: BTreeMap<String, Vec<u8>>,
    branch: String,
    tips: BTreeMap<String, gix::ObjectId>,
    clock: u64,
}

impl RepoBuilder {
    /// Creates an empty repository with `main` as its default branch.
    pub fn init(dir: &Path, bare: bool) -> RepoBuilder {
        std::fs::create_dir_all(dir).unwrap();
        let kind = if bare { gix::create::Kind::Bare } else { gix::create::Kind::WithWorktree };
        let options = gix::open::Options::isolated().config_overrides([
            "init.defaultBranch=main",
            "core.logAllRefUpdates=false",
            "committer.name=Fixture",
            "committer.email=fixture@example.com",
        ]);
        let repo = gix::ThreadSafeRepository::init_opts(dir, kind, gix::create::Options::default(), options)
            .unwrap()
            .to_thread_local();
        RepoBuilder {
            dir: dir.to_path_buf(),
            repo,
            files: BTreeMap::new(),
            branch: "main".into(),
            tips: BTreeMap::new(),
            clock: 1_700_000_000,
        }
    }

    pub fn write(&mut self, path: &str, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.files.insert(path.to_string(), bytes.as_ref().to_vec());
        self
    }

    pub fn remove(&mut self, path: &str) -> &mut Self {
        assert!(self.files.remove(path).is_some(), "no file {path} to remove");
        self
    }

    /// Writes a fixture step (`fixtures/<name>/<step>/`) below `prefix`, applying its `DELETE`.
    pub fn fixture_step(&mut self, name: &str, step: &str, prefix: &str) -> &mut Self {
        let root = fixtures().join(name).join(step);
        for entry in walk(&root) {
            let relative = entry.strip_prefix(&root).unwrap().to_str().unwrap().replace('\\', "/");
            if relative == "DELETE" {
                for line in std::fs::read_to_string(&entry).unwrap().lines().filter(|l| !l.is_empty()) {
                    self.remove(&format!("{prefix}{line}"));
                }
            } else {
                self.write(&format!("{prefix}{relative}"), std::fs::read(&entry).unwrap());
            }
        }
        self
    }

    /// Commits the current files on the current branch; the clock moves 100 s per commit.
    pub fn commit(&mut self, message: &str) -> gix::ObjectId {
        let mut editor = self.repo.empty_tree().edit().unwrap();
        for (path, bytes) in &self.files {
            let blob = self.repo.write_blob(bytes).unwrap().detach();
            editor.upsert(path.as_str(), EntryKind::Blob, blob).unwrap();
        }
        let tree = editor.write().unwrap().detach();
        self.clock += 100;
        let time = format!("{} +0000", self.clock);
        let who = gix::actor::SignatureRef { name: "Fixture".into(), email: "fixture@example.com".into(), time: &time };
        let parents: Vec<gix::ObjectId> = self.tips.get(&self.branch).copied().into_iter().collect();
        let reference = format!("refs/heads/{}", self.branch);
        let id = self.repo.commit_as(who, who, reference.as_str(), message, tree, parents).unwrap().detach();
        self.tips.insert(self.branch.clone(), id);
        id
    }

    /// Starts a branch at the current branch's tip and switches to it (HEAD follows in a work tree).
    pub fn branch(&mut self, name: &str) -> &mut Self {
        self.branch_bare(name);
        git(&self.dir, &["symbolic-ref", "HEAD", &format!("refs/heads/{name}")]);
        self
    }

    pub fn tag(&mut self, name: &str, at: gix::ObjectId) -> &mut Self {
        self.repo.tag_reference(name, at, PreviousValue::MustNotExist).unwrap();
        self
    }

    /// Writes the current files into the work tree, as a checkout would.
    pub fn checkout(&self) -> &Self {
        for (path, bytes) in &self.files {
            let target = self.dir.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
        self
    }
}

/// Every file under `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Runs the git CLI (for what gix does not do here: symbolic refs, shallow clones).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", "1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "1700000000 +0000")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A temp folder and a clean environment to run `migrate` in.
pub struct TestEnv {
    pub root: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv { root: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// The `scripts` fixture in a bare repository: `1-base` (tag `base`), then `2-change` (tag
    /// `change`) on main.
    pub fn scripts(&self, name: &str) -> RepoBuilder {
        let mut repo = RepoBuilder::init(&self.path(name), true);
        repo.fixture_step("scripts", "1-base", "");
        let base = repo.commit("base");
        repo.tag("base", base);
        repo.fixture_step("scripts", "2-change", "");
        let change = repo.commit("change");
        repo.tag("change", change);
        repo
    }

    /// The `inventory` fixture: `1-initial` on main (tag `v1`), `2-feature` on branch `feature`
    /// (checked out in the work tree). Returns the builder.
    pub fn inventory(&self, name: &str, bare: bool) -> RepoBuilder {
        let mut repo = RepoBuilder::init(&self.path(name), bare);
        repo.fixture_step("inventory", "1-initial", "");
        let v1 = repo.commit("initial");
        repo.tag("v1", v1);
        if !bare {
            repo.branch("feature");
        } else {
            repo.branch_bare("feature");
        }
        repo.fixture_step("inventory", "2-feature", "");
        repo.commit("feature");
        if !bare {
            repo.checkout();
        }
        repo
    }

    /// Runs `migrate` in `dir` and renders stdout, stderr and the exit status.
    pub fn run(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.command(dir, args).output().expect("migrate runs");
        let root = self.root.path().to_str().unwrap();
        let clean = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(root, "[ROOT]");
        format!(
            "{}----- stderr -----\n{}[exit status: {}]\n",
            clean(&output.stdout),
            clean(&output.stderr),
            output.status.code().map_or("signal".to_string(), |c| c.to_string())
        )
    }

    /// The `migrate` command in a clean environment (no user config, fixed time zone, no colour).
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = self.isolated(Command::new(env!("CARGO_BIN_EXE_migrate")));
        command.current_dir(dir).args(args).env("NO_COLOR", "1").env("COLUMNS", "100");
        command
    }

    /// `command` with nothing of the user's environment: home and temporary files in the test's
    /// folder, UTC, and only `PATH` kept.
    pub fn isolated(&self, mut command: Command) -> Command {
        command
            .env_clear()
            .env("HOME", self.root.path())
            .env("TMPDIR", self.root.path())
            .env("TZ", "UTC")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        command
    }

    /// Exports with `args` (revisions, flags) from `repo` to `out`, which must succeed.
    pub fn export(&self, repo: &Path, out: &Path, args: &[&str]) {
        let mut all = vec!["export"];
        all.extend_from_slice(args);
        all.extend(["-o", out.to_str().unwrap()]);
        let result = self.run(repo, &all);
        assert!(result.ends_with("[exit status: 0]\n"), "{result}");
    }

    /// Runs `migrate` and returns stdout only, asserting the exit status.
    pub fn stdout(&self, dir: &Path, args: &[&str], status: i32) -> String {
        let rendered = self.run(dir, args);
        assert!(rendered.ends_with(&format!("[exit status: {status}]\n")), "{rendered}");
        rendered.split("----- stderr -----\n").next().unwrap().to_string()
    }
}

impl RepoBuilder {
    /// Starts a branch in a bare repository (no HEAD change).
    pub fn branch_bare(&mut self, name: &str) -> &mut Self {
        let Some(&tip) = self.tips.get(&self.branch) else {
            self.branch = name.to_string(); // nothing committed yet: the first commit starts it
            return self;
        };
        self.repo.reference(format!("refs/heads/{name}"), tip, PreviousValue::MustNotExist, "branch").unwrap();
        self.tips.insert(name.to_string(), tip);
        self.branch = name.to_string();
        self
    }
}

/// Copies a folder recursively (a target, to try two futures of it).
pub fn copy_dir(from: &Path, to: &Path) {
    for path in walk(from) {
        let relative = path.strip_prefix(from).unwrap();
        let destination = to.join(relative);
        std::fs::create_dir_all(destination.parent().unwrap()).unwrap();
        std::fs::copy(&path, &destination).unwrap();
    }
}

impl TestEnv {
    /// Imports `bundle` into `target` for `environment`, writing the receipt to `receipt`; the
    /// import must succeed. Returns the receipt.
    pub fn import_for(&self, bundle: &Path, target: &Path, environment: &str, receipt: &Path) -> serde_json::Value {
        let args = [
            "import",
            bundle.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "--env",
            environment,
            "--receipt",
            receipt.to_str().unwrap(),
        ];
        let out = self.run(self.root.path(), &args);
        assert!(out.ends_with("[exit status: 0]\n"), "{out}");
        serde_json::from_slice(&std::fs::read(receipt).unwrap()).unwrap()
    }
}

/// Every member of a bundle file in archive order (the manifest first), read with the `tar`
/// crate rather than the tool's own reader, so tests can look at and rebuild hostile archives.
pub fn members(bundle: impl AsRef<Path>) -> Vec<(String, Vec<u8>)> {
    hostile_files::read_members(bundle.as_ref())
}

/// A project with two releases, with data: v1 creates `accounts` with two rows (and, with
/// `asset`, an asset), v2 adds a balance to every row. For the dialects SQLite, PostgreSQL and
/// MySQL, environment `prod`. Returns the repository and the two full bundles.
pub fn two_releases(env: &TestEnv, project: &str, asset: bool) -> (PathBuf, PathBuf, PathBuf) {
    let dir = env.path("repo");
    let mut repo = RepoBuilder::init(&dir, false);
    repo.write(
        "migrate.yaml",
        format!("version: 1\nproject: {project}\ndialects: [sqlite, postgres, mysql]\nenvironments: [prod]\n"),
    )
    .write(
        "migrations/0001_accounts.sql",
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL);\nINSERT INTO accounts (id, name) VALUES (1, 'first'), (2, 'second');\n",
    );
    if asset {
        repo.write("assets/query/balances.yaml", "spec: {sql: SELECT 1}\n");
    }
    repo.commit("v1");
    let v1 = env.path("v1.tar");
    env.export(&dir, &v1, &[]);
    repo.write(
        "migrations/0002_balance.sql",
        "ALTER TABLE accounts ADD COLUMN balance INTEGER NOT NULL DEFAULT 0;\nUPDATE accounts SET balance = id * 10;\n",
    );
    repo.commit("v2");
    let v2 = env.path("v2.tar");
    env.export(&dir, &v2, &[]);
    repo.checkout();
    (dir, v1, v2)
}
