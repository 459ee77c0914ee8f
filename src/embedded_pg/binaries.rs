//! Finding the PostgreSQL server binaries on this machine: PATH (following symlinks such as
//! /usr/local/bin/initdb), `pg_config --bindir`, then the versioned directories that Debian's,
//! Red Hat's and Homebrew's packages install, newest version first.

use super::EmbeddedPgError;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Clone, Debug)]
pub struct PgBinaries {
    pub bin_dir: PathBuf,
}

impl PgBinaries {
    /// Looks on PATH, then `pg_config --bindir`, then the versioned directories that Debian's
    /// and Red Hat's packages install (newest version first).
    pub fn locate() -> Result<Self, EmbeddedPgError> {
        candidate_dirs()
            .into_iter()
            .find(|dir| ["initdb", "pg_ctl", "postgres"].iter().all(|b| is_executable(&dir.join(b))))
            .map(|bin_dir| Self { bin_dir })
            .ok_or(EmbeddedPgError::BinariesNotFound)
    }

    pub(super) fn command(&self, program: &str) -> Command {
        Command::new(self.bin_dir.join(program))
    }
}

fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // Symlinks such as /usr/local/bin/initdb lead to the real bin directory, where
            // `postgres` lives beside them.
            if let Ok(real) = fs::canonicalize(dir.join("initdb")) {
                if let Some(parent) = real.parent() {
                    dirs.push(parent.to_owned());
                }
            }
        }
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        if output.status.success() {
            dirs.push(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
        }
    }
    for pattern_root in ["/usr/lib/postgresql", "/usr/local/pgsql", "/opt/homebrew/opt", "/usr/local/opt"] {
        dirs.extend(versioned_bin_dirs(Path::new(pattern_root)));
    }
    dirs.extend(versioned_bin_dirs(Path::new("/usr")).into_iter().filter(|d| d.to_string_lossy().contains("pgsql")));
    dirs
}

/// `root/<version>/bin` directories, highest version first.
fn versioned_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("bin").is_dir())
        .map(|path| {
            // The major version is the first run of digits: "15", "9.6" → 9, "postgresql@16".
            let digits: String = path
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .chars()
                        .skip_while(|c| !c.is_ascii_digit())
                        .take_while(char::is_ascii_digit)
                        .collect()
                })
                .unwrap_or_default();
            (digits.parse().unwrap_or(0), path.join("bin"))
        })
        .collect();
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_directories_are_listed_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9.6", "15", "13"] {
            fs::create_dir_all(root.path().join(version).join("bin")).unwrap();
        }
        let names: Vec<String> = versioned_bin_dirs(root.path())
            .iter()
            .map(|d| d.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["15", "13", "9.6"]);
    }
}
