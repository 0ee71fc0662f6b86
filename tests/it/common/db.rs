//! `TestDb`: one fresh database per test on the machine's PostgreSQL or MariaDB, dropped on
//! success and kept (with its name printed) on failure. An unreachable server fails the test in
//! CI (`CI=true`) and is skipped loudly elsewhere.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Postgres,
    Mariadb,
}

pub struct TestDb {
    pub server: Server,
    pub name: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// Creates a database, or returns `None` (after saying so) when the server is unreachable
    /// outside CI.
    pub fn create(server: Server) -> Option<TestDb> {
        let probe = admin(server, "SELECT 1");
        if !probe.status.success() {
            let how = match server {
                Server::Postgres => "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                Server::Mariadb => "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
            };
            let why = String::from_utf8_lossy(&probe.stderr).into_owned();
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{server:?} is not reachable on 127.0.0.1 ({why}); start it with `{how}`");
            }
            skip_notice(server, &why, how);
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("migrate_test_{}_{n}_{nanos}", std::process::id());
        let created = admin(server, &format!("CREATE DATABASE {name}"));
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        Some(TestDb { server, name })
    }

    /// Runs a SQL file with the dialect's client, as the README tells a DBA to.
    pub fn run_script(&self, path: &std::path::Path) -> Output {
        let file = std::fs::File::open(path).unwrap();
        match self.server {
            Server::Postgres => Command::new("psql")
                .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", &self.name, "-f"])
                .arg(path)
                .output()
                .unwrap(),
            Server::Mariadb => Command::new("mariadb")
                .args(["--comments", "-h", "127.0.0.1", "-u", "root", &self.name])
                .stdin(file)
                .output()
                .unwrap(),
        }
    }

    /// Runs one query and returns its output as tab-separated text.
    pub fn query(&self, sql: &str) -> String {
        let output = match self.server {
            Server::Postgres => Command::new("psql")
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-F",
                    "\t",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    &self.name,
                    "-c",
                    sql,
                ])
                .output()
                .unwrap(),
            Server::Mariadb => Command::new("mariadb")
                .args(["-N", "-B", "-h", "127.0.0.1", "-u", "root", &self.name, "-e", sql])
                .output()
                .unwrap(),
        };
        assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A dump of the schema and data, without what differs between two dumps of the same state.
    pub fn dump(&self) -> String {
        let output = match self.server {
            Server::Postgres => {
                Command::new("pg_dump").args(["-h", "127.0.0.1", "-U", "postgres", &self.name]).output().unwrap()
            }
            Server::Mariadb => Command::new("mariadb-dump")
                .args(["-h", "127.0.0.1", "-u", "root", "--skip-dump-date", "--routines", "--triggers", &self.name])
                .output()
                .unwrap(),
        };
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            keep_notice(&self.name);
            return;
        }
        let _ = admin(self.server, &format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

fn admin(server: Server, sql: &str) -> Output {
    match server {
        Server::Postgres => Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", sql])
            .output(),
        Server::Mariadb => Command::new("mariadb").args(["-h", "127.0.0.1", "-u", "root", "-e", sql]).output(),
    }
    .unwrap_or_else(|e| panic!("cannot run the {server:?} client (install postgresql-client / mariadb-client): {e}"))
}

#[allow(clippy::print_stderr)] // the test kit's one notice: a skip must be loud
fn skip_notice(server: Server, why: &str, how: &str) {
    eprintln!("SKIPPED: {server:?} is not reachable on 127.0.0.1 ({}); start it with `{how}`", why.trim());
}

#[allow(clippy::print_stderr)]
fn keep_notice(name: &str) {
    eprintln!("kept database `{name}` for inspection");
}
