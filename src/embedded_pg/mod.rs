//! The embedded default database: a private PostgreSQL cluster that Rapport creates under its
//! data directory from the PostgreSQL server binaries already on the machine, starts when it
//! needs it and stops when it is done.
//!
//! Layout under the data directory:
//! `pg/data` (the cluster, owned by the user the server runs as), `pg/server.log`, and
//! `pg-password` (0600, the superuser password; the cluster uses SCRAM on 127.0.0.1 only, so
//! other local users cannot walk in).
//!
//! PostgreSQL refuses to run as root. When we are root we run `initdb`, `pg_ctl` and the
//! server as an unprivileged account (`postgres` if the packages created it, else `nobody`)
//! and hand it the cluster directory. When that account cannot reach the data directory (a
//! checkout in root's home, mode 700), the cluster lives in `/var/lib/rapport/<id>` instead,
//! `<id>` derived from the data directory's path; the file `pg-location` in the data directory
//! names it, and the start-up log says so.
//!
//! Must not import actix or diesel: it only runs programs and touches files.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser and database the embedded cluster serves Rapport with.
pub const EMBEDDED_USER: &str = "rapport";
pub const EMBEDDED_DATABASE: &str = "rapport";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found on PATH, through \
         `pg_config --bindir`, or in /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: \
         `apt-get install postgresql`, Fedora: `dnf install postgresql-server`, macOS: \
         `brew install postgresql`) or set DATABASE_URL to use an existing server"
    )]
    BinariesNotFound,
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error(
        "the PostgreSQL server must run as `{user}` (PostgreSQL refuses root) but `{user}` cannot \
         reach {path}; choose a RAPPORT_DATA_DIR it can reach, such as /var/lib/rapport"
    )]
    Unreachable { user: String, path: PathBuf },
    #[error("{0}")]
    Layout(String),
    #[error("the PostgreSQL server did not start ({detail}); the end of its log {log}:\n{tail}")]
    StartFailed { detail: String, log: PathBuf, tail: String },
}

mod binaries;
mod supervisor;

pub use binaries::PgBinaries;
pub use supervisor::Supervisor;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPgError + '_ {
    move |source| EmbeddedPgError::Io { path: path.to_owned(), source }
}

/// The account the server runs as when we are root.
#[derive(Clone, Debug)]
struct ServerAccount {
    name: String,
    uid: u32,
    gid: u32,
}

fn server_account() -> Option<ServerAccount> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    ["postgres", "nobody"].iter().find_map(|name| {
        nix::unistd::User::from_name(name).ok().flatten().map(|user| ServerAccount {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    })
}

/// A running cluster that this process may use.
#[derive(Clone, Debug)]
pub struct EmbeddedCluster {
    binaries: PgBinaries,
    root: PathBuf,
    port: u16,
    password: String,
    account: Option<ServerAccount>,
    started_here: bool,
}

impl EmbeddedCluster {
    /// Creates the cluster under `data_dir` on first use, starts it unless it already runs, and
    /// makes sure the `rapport` database exists.
    pub fn open(data_dir: &Path) -> Result<Self, EmbeddedPgError> {
        let binaries = PgBinaries::locate()?;
        let account = server_account();
        fs::DirBuilder::new().recursive(true).mode(0o711).create(data_dir).map_err(io_error(data_dir))?;
        let data_dir = fs::canonicalize(data_dir).map_err(io_error(data_dir))?;
        let root = match &account {
            Some(account) if ensure_reachable(&data_dir, account).is_err() => {
                let root = relocated_root(&data_dir)?;
                tracing::info!(
                    data_dir = %data_dir.display(),
                    cluster = %root.display(),
                    account = %account.name,
                    "the PostgreSQL server's account cannot reach the data directory; its cluster lives elsewhere"
                );
                ensure_reachable(root.parent().unwrap_or(&root), account)?;
                root
            }
            _ => data_dir.join("pg"),
        };
        let password = read_or_create_password(&data_dir.join("pg-password"))?;
        let mut cluster = Self { binaries, root, port: 0, password, account, started_here: false };
        if !cluster.data_dir().join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        match cluster.running_port()? {
            Some(port) => cluster.port = port,
            None => cluster.start()?,
        }
        cluster.ensure_database()?;
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// True when this process started the server (and so should stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// A libpq URL for `database` on this cluster.
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{EMBEDDED_USER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// The postmaster's process id, read from `postmaster.pid`.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let pid_file = fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// Whether the postmaster is alive (its pid file names a live process).
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
    }

    /// Starts the server again on its port, after it died (crash recovery runs at start).
    pub fn restart(&self) -> Result<(), EmbeddedPgError> {
        self.start_on(self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// `pg_ctl start` on `port`; a failure names the cause and quotes the end of the server log.
    fn start_on(&self, port: u16) -> Result<(), EmbeddedPgError> {
        let mut command = self.pg_command("pg_ctl");
        command
            .arg("start")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port}"));
        run(command).map(|_| ()).map_err(|error| {
            let detail = match error {
                EmbeddedPgError::Command { detail, .. } => detail,
                other => other.to_string(),
            };
            EmbeddedPgError::StartFailed { detail, log: self.log_path(), tail: log_tail(&self.log_path(), 12) }
        })
    }

    /// Stops the server (fast shutdown: open sessions are ended, committed work is kept).
    pub fn stop(&self) -> Result<(), EmbeddedPgError> {
        let data_dir = self.data_dir();
        let mut command = self.pg_command("pg_ctl");
        command.arg("stop").arg("-D").arg(&data_dir).args(["-m", "fast", "-w", "-t", "60"]);
        run(command).map(|_| ())
    }

    fn pg_command(&self, program: &str) -> Command {
        let mut command = self.binaries.command(program);
        command.current_dir(&self.root).env_remove("PGDATA").env("LC_ALL", "C");
        if let Some(account) = &self.account {
            command.uid(account.uid).gid(account.gid);
        }
        command
    }

    fn initdb(&self) -> Result<(), EmbeddedPgError> {
        // A half-made cluster from an interrupted first run is useless; start it over.
        if self.root.exists() {
            fs::remove_dir_all(&self.root).map_err(io_error(&self.root))?;
        }
        fs::DirBuilder::new().mode(0o700).create(&self.root).map_err(io_error(&self.root))?;
        let password_file = self.root.join("initdb-password");
        write_private_file(&password_file, &self.password)?;
        if let Some(account) = &self.account {
            for path in [&self.root, &password_file] {
                std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid)).map_err(io_error(path))?;
            }
        }
        let mut command = self.pg_command("initdb");
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", EMBEDDED_USER, "-E", "UTF8", "--locale=C", "--auth=scram-sha-256"])
            .arg(format!("--pwfile={}", password_file.display()));
        let result = run(command);
        let _ = fs::remove_file(&password_file);
        result?;
        let settings = "\n# Written by Rapport: reachable from this machine only, over TCP.\n\
                        listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n";
        let conf = self.data_dir().join("postgresql.conf");
        let mut file = fs::OpenOptions::new().append(true).open(&conf).map_err(io_error(&conf))?;
        file.write_all(settings.as_bytes()).map_err(io_error(&conf))
    }

    /// The port of a server already running on this cluster, if any.
    fn running_port(&self) -> Result<Option<u16>, EmbeddedPgError> {
        let mut command = self.pg_command("pg_ctl");
        command.arg("status").arg("-D").arg(self.data_dir());
        let output = command.output().map_err(io_error(&self.binaries.bin_dir))?;
        if !output.status.success() {
            return Ok(None);
        }
        let pid_file = self.data_dir().join("postmaster.pid");
        let contents = fs::read_to_string(&pid_file).map_err(io_error(&pid_file))?;
        // postmaster.pid: pid, data directory, start time, port, ...
        let port = contents.lines().nth(3).and_then(|line| line.trim().parse().ok());
        port.map(Some).ok_or_else(|| EmbeddedPgError::Layout(format!("{} names no port", pid_file.display())))
    }

    fn start(&mut self) -> Result<(), EmbeddedPgError> {
        let mut last_error = None;
        // The free port we pick can be taken before the server binds it; try a few.
        for _ in 0..3 {
            let port = free_port().map_err(io_error(Path::new("127.0.0.1:0")))?;
            match self.start_on(port) {
                Ok(_) => {
                    self.port = port;
                    self.started_here = true;
                    return Ok(());
                }
                Err(error) => {
                    // Another process may have started it meanwhile.
                    if let Some(port) = self.running_port()? {
                        self.port = port;
                        return Ok(());
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| EmbeddedPgError::Layout("the server did not start".into())))
    }

    fn ensure_database(&self) -> Result<(), EmbeddedPgError> {
        let mut createdb = self.pg_command("createdb");
        createdb
            .env("PGPASSWORD", &self.password)
            .args(["-h", "127.0.0.1", "-U", EMBEDDED_USER])
            .arg(format!("--port={}", self.port))
            .arg(EMBEDDED_DATABASE);
        match run(createdb) {
            Ok(_) => Ok(()),
            Err(EmbeddedPgError::Command { detail, .. }) if detail.contains("already exists") => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// Where the clusters of unreachable data directories live (root only).
const RELOCATED_CLUSTERS: &str = "/var/lib/rapport";

/// The cluster directory for `data_dir` under [`RELOCATED_CLUSTERS`], recorded in
/// `data_dir/pg-location` so every later start finds it.
fn relocated_root(data_dir: &Path) -> Result<PathBuf, EmbeddedPgError> {
    let record = data_dir.join("pg-location");
    if let Ok(recorded) = fs::read_to_string(&record) {
        let recorded = PathBuf::from(recorded.trim());
        if recorded.is_absolute() {
            return Ok(recorded);
        }
    }
    use sha2::Digest;
    let id = hex::encode(&sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes())[..8]);
    let parent = Path::new(RELOCATED_CLUSTERS);
    fs::DirBuilder::new().recursive(true).mode(0o711).create(parent).map_err(io_error(parent))?;
    fs::set_permissions(parent, fs::Permissions::from_mode(0o711)).map_err(io_error(parent))?;
    let root = parent.join(id);
    write_private_file(&record, &root.display().to_string())?;
    Ok(root)
}

fn ensure_reachable(data_dir: &Path, account: &ServerAccount) -> Result<(), EmbeddedPgError> {
    for dir in data_dir.ancestors() {
        let Ok(meta) = fs::metadata(dir) else { continue };
        let mode = meta.permissions().mode();
        use std::os::unix::fs::MetadataExt;
        let traversable = mode & 0o001 != 0
            || (meta.uid() == account.uid && mode & 0o100 != 0)
            || (meta.gid() == account.gid && mode & 0o010 != 0);
        if !traversable {
            return Err(EmbeddedPgError::Unreachable { user: account.name.clone(), path: dir.to_owned() });
        }
    }
    Ok(())
}

fn read_or_create_password(path: &Path) -> Result<String, EmbeddedPgError> {
    if let Ok(existing) = fs::read_to_string(path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            return Ok(existing);
        }
    }
    let password = random_hex(24);
    write_private_file(path, &password)?;
    Ok(password)
}

/// Writes `contents` to a new file readable by its owner only.
pub fn write_private_file(path: &Path, contents: &str) -> Result<(), EmbeddedPgError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(contents.as_bytes()).map_err(io_error(path))
}

pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::fill(&mut buffer[..]);
    hex::encode(buffer)
}

/// The last `lines` lines of a log file (or why it cannot be read).
fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(the log cannot be read: {error})"),
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(mut command: Command) -> Result<Output, EmbeddedPgError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let verb = command.get_args().next().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let name = format!("{program} {verb}");
    let output = command.output().map_err(|source| EmbeddedPgError::Io { path: program.into(), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let detail = format!("{} {}", stderr.trim(), stdout.trim()).trim().replace('\n', "; ");
        Err(EmbeddedPgError::Command { command: name, detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_generated_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg-password");
        let first = read_or_create_password(&path).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(read_or_create_password(&path).unwrap(), first);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
