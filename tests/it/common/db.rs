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

/// A MariaDB of the test's own, serving TLS with a certificate for `localhost` signed by a CA
/// made for the test: the machine's shared server has no TLS. Stopped when dropped.
pub struct TlsMariadb {
    pub port: u16,
    /// The CA's PEM file.
    pub ca: std::path::PathBuf,
    server: std::process::Child,
}

impl TlsMariadb {
    /// Starts one in `dir`, or returns `None` (after saying so) where MariaDB's server or
    /// `openssl` is not installed, outside CI.
    pub fn start(dir: &std::path::Path) -> Option<TlsMariadb> {
        let missing: Vec<&str> = ["/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/openssl"]
            .into_iter()
            .filter(|p| !std::path::Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "missing in CI: {missing:?}");
            #[allow(clippy::print_stderr)] // the notice of a skipped test is the point
            {
                eprintln!("SKIPPED: a private TLS MariaDB needs {missing:?}");
            }
            return None;
        }
        let path = |name: &str| dir.join(name);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(path("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=migrate test CA", "-days", "30"],
            ]
            .concat(),
        );
        openssl(&[&["req"], &ec[..], &["-keyout", "key.pem", "-out", "server.csr", "-subj", "/CN=localhost"]].concat());
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
        ]);
        let data = path("data");
        let mut install = Command::new("mariadb-install-db");
        install.arg("--no-defaults").arg(format!("--datadir={}", data.display()));
        install.args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            install.arg("--user=root");
        }
        let out = install.output().unwrap();
        assert!(out.status.success(), "mariadb-install-db: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new("/usr/sbin/mariadbd");
        command.arg("--no-defaults").arg(format!("--datadir={}", data.display()));
        command.arg(format!("--socket={}", path("sock").display())).arg(format!("--port={port}"));
        command.args(["--bind-address=127.0.0.1", "--skip-log-bin"]);
        command.arg(format!("--pid-file={}", path("pid").display()));
        command.arg(format!("--ssl-cert={}", path("cert.pem").display()));
        command.arg(format!("--ssl-key={}", path("key.pem").display()));
        if root {
            command.arg("--user=root");
        }
        let log = std::fs::File::create(path("server.log")).unwrap();
        let server = command.stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        let mut db = TlsMariadb { port, ca: path("ca.pem"), server };
        for _ in 0..150 {
            if db.query("SELECT 1").is_some() {
                return Some(db);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = db.server.kill();
        panic!(
            "the private MariaDB did not start: {}",
            std::fs::read_to_string(path("server.log")).unwrap_or_default()
        );
    }

    /// Runs SQL as root over TCP; `None` when it fails.
    pub fn query(&self, sql: &str) -> Option<String> {
        let out = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &self.port.to_string(), "-u", "root", "-N", "-B", "-e", sql])
            .output()
            .ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for TlsMariadb {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
