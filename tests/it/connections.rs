//! The clients' own connection conventions (issue 13, item 2), against the machine's servers:
//! what `--db` leaves out comes from `PG*` variables, service files and `~/.pgpass` on
//! PostgreSQL, from option files, `MYSQL_*` variables on MariaDB, and from `--db-password-file`
//! on both; `-v` names each part and where it came from. `migrate` runs with a cleared
//! environment whose HOME is the test's folder, so `~/.pgpass` and `~/.my.cnf` are the test's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::TestEnv;
use crate::common::db::{Server, TestDb};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A bundle of one migration for both servers.
fn bundle(env: &TestEnv) -> PathBuf {
    let dir = env.path("repo");
    let mut repo = crate::common::RepoBuilder::init(&dir, false);
    repo.write("migrate.yaml", "version: 1\nproject: conn\ndialects: [postgres, mysql]\n")
        .write("migrations/0001_things.sql", "CREATE TABLE things (id INTEGER);\n");
    repo.commit("things");
    let bundle = env.path("conn.tar");
    env.export(&dir, &bundle, &[]);
    bundle
}

/// Runs `migrate` with `variables` added to the cleared environment: stdout and stderr together,
/// and the exit code.
fn run(env: &TestEnv, args: &[&str], variables: &[(&str, &str)]) -> (String, i32) {
    let mut command = env.command(env.root.path(), args);
    for (name, value) in variables {
        command.env(name, value);
    }
    let output = command.output().expect("migrate runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (text, output.status.code().unwrap_or(-1))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql])
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A PostgreSQL login role made for the test, allowed to create tables in `databases`; dropped
/// with what it owns there.
struct PgRole {
    name: String,
    databases: Vec<String>,
}

impl PgRole {
    fn create(databases: &[&TestDb]) -> PgRole {
        let name = unique("migrate_conn_role");
        psql("test", &format!("CREATE ROLE {name} LOGIN"));
        let databases: Vec<String> = databases.iter().map(|db| db.name.clone()).collect();
        for database in &databases {
            psql(database, &format!("GRANT CREATE ON SCHEMA public TO {name}"));
        }
        PgRole { name, databases }
    }
}

impl Drop for PgRole {
    fn drop(&mut self) {
        for database in &self.databases {
            let _ = Command::new("psql")
                .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c"])
                .arg(format!("DROP OWNED BY {}", self.name))
                .output();
        }
        let _ = Command::new("psql")
            .args(["-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c"])
            .arg(format!("DROP ROLE IF EXISTS {}", self.name))
            .output();
    }
}

/// A MariaDB account with a password, with every privilege on one database; dropped after.
struct MariaUser {
    name: String,
    password: String,
}

impl MariaUser {
    fn create(db: &TestDb) -> MariaUser {
        let name = unique("mconn");
        // Characters a URL must encode, and `#`, which an option file must quote.
        let password = format!("Pw-{} s3cret@#:%/x", COUNTER.fetch_add(1, Ordering::SeqCst));
        db.query(&format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; GRANT ALL ON `{}`.* TO '{name}'@'%';",
            db.name
        ));
        MariaUser { name, password }
    }
}

impl Drop for MariaUser {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e"])
            .arg(format!("DROP USER IF EXISTS '{}'@'%'", self.name))
            .output();
    }
}

/// PGHOST, PGPORT, PGUSER and PGDATABASE complete `postgres://`: the history table is the PGUSER
/// role's, in PGDATABASE; `-v` names each part with its variable; state.json and the receipt
/// record the effective URL. The same database given by other means later (the URL whole, parts
/// of it) is the same target; another database through the same variables is refused before it
/// is opened.
#[test]
fn postgres_takes_user_host_port_and_database_from_the_pg_variables() {
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let Some(other) = TestDb::create(Server::Postgres) else { return };
    let role = PgRole::create(&[&db, &other]);
    let env = TestEnv::new();
    let bundle = bundle(&env);
    let (target, receipt) = (env.path("target"), env.path("receipt.json"));
    let (b, t, r) = (bundle.to_str().unwrap(), target.to_str().unwrap(), receipt.to_str().unwrap());
    let variables =
        [("PGHOST", "127.0.0.1"), ("PGPORT", "5432"), ("PGUSER", role.name.as_str()), ("PGDATABASE", db.name.as_str())];

    let import = ["-v", "import", b, "--target", t, "--db", "postgres://", "--env", "test", "--receipt", r];
    let (out, code) = run(&env, &import, &variables);
    assert_eq!(code, 0, "{out}");
    let owner = db.query("SELECT tableowner FROM pg_tables WHERE tablename = 'migrate_history'");
    assert_eq!(owner.trim(), role.name, "the history table is the PGUSER role's, in PGDATABASE");
    for part in [
        format!("user `{}` (PGUSER)", role.name),
        "host `127.0.0.1` (PGHOST)".to_string(),
        "port 5432 (PGPORT)".to_string(),
        format!("database `{}` (PGDATABASE)", db.name),
    ] {
        assert!(out.contains(&part), "-v names {part}: {out}");
    }
    let effective = format!("postgres://{}@127.0.0.1:5432/{}", role.name, db.name);
    assert_eq!(json(&target.join(".migrate/state.json"))["database"], effective.as_str());
    assert_eq!(json(&receipt)["database"], effective.as_str());

    // The same database by other means: the recorded URL alone (status), the URL whole, parts of
    // it with the rest from the variables.
    let (out, code) = run(&env, &["status", "--target", t], &[]);
    assert_eq!(code, 0, "{out}");
    let without_port = format!("postgres://{}@127.0.0.1/{}", role.name, db.name);
    let path_only = format!("postgres:///{}", db.name);
    let database_from_url = [("PGHOST", "127.0.0.1"), ("PGUSER", role.name.as_str())];
    for (url, variables) in
        [(effective.as_str(), &[][..]), (without_port.as_str(), &[][..]), (path_only.as_str(), &database_from_url[..])]
    {
        let (out, code) = run(&env, &["import", b, "--target", t, "--db", url], variables);
        assert_eq!(code, 0, "{url} is the recorded database: {out}");
    }

    // Another database through the same variables: refused, and never opened.
    let elsewhere = [("PGHOST", "127.0.0.1"), ("PGUSER", role.name.as_str()), ("PGDATABASE", other.name.as_str())];
    let (out, code) = run(&env, &["import", b, "--target", t, "--db", "postgres://"], &elsewhere);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("migrate::other_database"), "{out}");
    assert_eq!(other.query("SELECT count(*) FROM pg_tables WHERE tablename = 'migrate_history'").trim(), "0");
}

/// Without a user anywhere, the operating-system user is taken as libpq takes it, and said so:
/// `-v` names it as the operating-system user, and the state records it.
#[test]
fn the_operating_system_user_is_named_never_silent() {
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let env = TestEnv::new();
    let bundle = bundle(&env);
    let whoami = Command::new("id").arg("-un").output().unwrap();
    let whoami = String::from_utf8_lossy(&whoami.stdout).trim().to_string();
    let target = env.path("target");
    let url = format!("postgres://127.0.0.1:5432/{}", db.name);
    let args = ["-v", "import", bundle.to_str().unwrap(), "--target", target.to_str().unwrap(), "--db", &url];
    let (out, code) = run(&env, &args, &[]);
    assert!(out.contains(&format!("user `{whoami}` (operating-system user)")), "{out}");
    assert!(out.contains("host `127.0.0.1` (URL)") && out.contains("no password"), "{out}");
    if code == 0 {
        let recorded = json(&target.join(".migrate/state.json"))["database"].clone();
        assert_eq!(recorded, format!("postgres://{whoami}@127.0.0.1:5432/{}", db.name).as_str());
    } else {
        // A machine without a role for its user: the server names the user it was given.
        assert!(out.contains(&whoami), "{out}");
    }
}

/// A service file (`?service=`, PGSERVICE, PGSERVICEFILE) names host, port, user and database;
/// `MIGRATE_DATABASE_URL=postgres://` works with it; `~/.pgpass` gives the password when it is
/// private (0600), and is ignored with libpq's warning when others may read it.
#[test]
fn a_service_file_and_the_password_file_complete_a_postgres_url() {
    let Some(db) = TestDb::create(Server::Postgres) else { return };
    let role = PgRole::create(&[&db]);
    let env = TestEnv::new();
    let bundle = bundle(&env);
    let (b, home) = (bundle.to_str().unwrap(), env.root.path());
    std::fs::write(
        home.join(".pg_service.conf"),
        format!(
            "# a comment\n[other]\nhost=192.0.2.1\n\n[inv]\nhost=127.0.0.1\nport=5432\nuser={}\ndbname={}\n",
            role.name, db.name
        ),
    )
    .unwrap();
    let target = env.path("target");
    let t = target.to_str().unwrap();
    let (out, code) = run(&env, &["-v", "import", b, "--target", t, "--db", "postgres://?service=inv"], &[]);
    assert_eq!(code, 0, "{out}");
    let owner = db.query("SELECT tableowner FROM pg_tables WHERE tablename = 'migrate_history'");
    assert_eq!(owner.trim(), role.name, "the service's user, in the service's database");
    let service = "service `inv` in ~/.pg_service.conf";
    assert!(out.contains(&format!("user `{}` ({service})", role.name)), "{out}");
    assert!(out.contains(&format!("host `127.0.0.1` ({service})")), "{out}");
    assert!(out.contains(&format!("database `{}` ({service})", db.name)), "{out}");
    assert!(out.contains("no password"), "{out}");

    // PGSERVICE with MIGRATE_DATABASE_URL, and a service file elsewhere (PGSERVICEFILE).
    let (out, code) =
        run(&env, &["-v", "status", "--target", t], &[("MIGRATE_DATABASE_URL", "postgres://"), ("PGSERVICE", "inv")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(service), "{out}");
    let elsewhere = env.path("services.conf");
    std::fs::rename(home.join(".pg_service.conf"), &elsewhere).unwrap();
    let variables = [("PGSERVICEFILE", elsewhere.to_str().unwrap()), ("PGSERVICE", "inv")];
    let (out, code) = run(&env, &["-v", "import", b, "--target", t, "--db", "postgres://"], &variables);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(service `inv` in ~/services.conf)"), "{out}");
    // A service that is not defined is an error, not a guess.
    let (out, code) = run(&env, &["status", "--target", t, "--db", "postgres://?service=nope"], &variables);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("service `nope` not found"), "{out}");

    // ~/.pgpass: used when private, ignored with a warning when others may read it. (Trust
    // authentication does not check it; where it came from is what shows.)
    let pgpass = home.join(".pgpass");
    write_private(&pgpass, &format!("127.0.0.1:5432:{}:{}:Pgpass-pw\n", db.name, role.name));
    let (out, code) = run(&env, &["-v", "import", b, "--target", t, "--db", "postgres://"], &variables);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("password from ~/.pgpass"), "{out}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (out, code) = run(&env, &["-v", "import", b, "--target", t, "--db", "postgres://"], &variables);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: password file `~/.pgpass` has group or world access"), "{out}");
    assert!(out.contains("no password") && !out.contains("Pgpass-pw"), "{out}");
}

/// MariaDB checks passwords: an account made with one is refused without it (the control), and
/// gets it from `~/.my.cnf`, from MYSQL_PWD, from `--db-password-file` and from
/// `--defaults-extra-file` (which also names user, host, port and database, and is recognised as
/// the recorded database); MYSQL_HOST and MYSQL_TCP_PORT complete a URL without host. A wrong
/// password is refused and not printed.
#[test]
fn mariadb_takes_the_password_from_option_files_mysql_pwd_or_a_password_file() {
    let Some(db) = TestDb::create(Server::Mariadb) else { return };
    let user = MariaUser::create(&db);
    let env = TestEnv::new();
    let bundle = bundle(&env);
    let home = env.root.path();
    let (target, receipt) = (env.path("target"), env.path("receipt.json"));
    let (b, t, r) = (bundle.to_str().unwrap(), target.to_str().unwrap(), receipt.to_str().unwrap());
    let url = format!("mysql://{}@127.0.0.1:3306/{}", user.name, db.name);

    // The control: no password anywhere.
    let (out, code) = run(&env, &["import", b, "--target", t, "--db", &url], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("migrate::database_permission_denied") && out.contains("using password: NO"), "{out}");
    assert!(!target.join(".migrate/state.json").exists());

    // ~/.my.cnf, quoted, among other groups and comments.
    let cnf = home.join(".my.cnf");
    write_private(
        &cnf,
        &format!("# mine\n[mysqld]\npassword=server\n[client]\npassword = \"{}\"  # quoted\n", user.password),
    );
    let args = ["-v", "import", b, "--target", t, "--db", &url, "--env", "test", "--receipt", r];
    let (out, code) = run(&env, &args, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("password from option file ~/.my.cnf"), "{out}");
    assert!(out.contains(&format!("user `{}` (URL)", user.name)), "{out}");
    assert_eq!(db.query("SELECT count(*) FROM migrate_history").trim(), "1");
    std::fs::remove_file(&cnf).unwrap();

    // MYSQL_PWD, on the recorded database.
    let (out, code) = run(&env, &["-v", "status", "--target", t], &[("MYSQL_PWD", &user.password)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("password from MYSQL_PWD"), "{out}");
    let (out, code) = run(&env, &["status", "--target", t], &[]);
    assert_ne!(code, 0, "without it, refused: {out}");

    // --db-password-file: its first line.
    let password_file = env.path("db-password");
    std::fs::write(&password_file, format!("{}\nnot this line\n", user.password)).unwrap();
    let p = password_file.to_str().unwrap();
    let (out, code) = run(&env, &["-v", "status", "--target", t, "--db-password-file", p], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("password from --db-password-file ~/db-password"), "{out}");
    let (out, code) = run(&env, &["import", b, "--target", t, "--db-password-file", p], &[]);
    assert_eq!(code, 0, "{out}");

    // --defaults-extra-file names everything: `mysql://` is the recorded database.
    let extra = env.path("extra.cnf");
    std::fs::write(
        &extra,
        format!(
            "[client]\nuser={}\nhost=127.0.0.1\nport=3306\ndatabase={}\n[client-mariadb]\npassword='{}'\n",
            user.name, db.name, user.password
        ),
    )
    .unwrap();
    let e = extra.to_str().unwrap();
    let (out, code) =
        run(&env, &["-v", "import", b, "--target", t, "--db", "mysql://", "--defaults-extra-file", e], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("user `{}` (option file ~/extra.cnf)", user.name)), "{out}");

    // MYSQL_HOST and MYSQL_TCP_PORT complete a URL without host.
    let hostless = format!("mysql://{}@/{}", user.name, db.name);
    let variables = [("MYSQL_HOST", "127.0.0.1"), ("MYSQL_TCP_PORT", "3306"), ("MYSQL_PWD", user.password.as_str())];
    let (out, code) = run(&env, &["-v", "status", "--target", t, "--db", &hostless], &variables);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("host `127.0.0.1` (MYSQL_HOST)") && out.contains("port 3306 (MYSQL_TCP_PORT)"), "{out}");

    // A wrong password is refused, and not printed.
    write_private(&cnf, "[client]\npassword=Wrong-pw-canary\n");
    let (out, code) = run(&env, &["-v", "import", b, "--target", t, "--db", &url], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("using password: YES") && !out.contains("Wrong-pw-canary"), "{out}");

    // The password is in nothing the tool wrote.
    let state = std::fs::read_to_string(target.join(".migrate/state.json")).unwrap();
    let written = std::fs::read_to_string(&receipt).unwrap();
    assert_eq!(json(&receipt)["database"], format!("mysql://{}@127.0.0.1:3306/{}", user.name, db.name).as_str());
    assert!(!state.contains(&user.password) && !written.contains(&user.password));
}
