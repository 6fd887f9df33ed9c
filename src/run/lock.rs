//! One run at a time per warehouse: `_tokenledger/run.lock`, created exclusively (O_EXCL),
//! holding who has it. A second run waits up to its limit, then fails with the holder's name.
//! A lock left by a killed run is stale when its process is gone (same host) or when it is
//! older than the stale limit; it is taken over by an atomic rename, so two runs that find the
//! same stale lock cannot both take it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Who holds a lock.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// The command holding it: `run`, or a command that writes (`ingest`, `rollup` ...).
    #[serde(default = "run_command")]
    pub command: String,
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    pub run_id: String,
}

fn run_command() -> String {
    "run".into()
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (pid {} on {}, since {})", self.command, self.run_id, self.pid, self.host, self.started_at)
    }
}

/// When a lock whose process cannot be checked (another host) is stale by default.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    holder: Holder,
    /// A stale lock that was taken over, said in the run's log.
    pub took_over: Option<Holder>,
}

/// This machine's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

impl RunLock {
    /// Takes the lock of the warehouse at `root` for a `run` cycle, waiting up to `wait` for
    /// its holder.
    pub fn acquire(root: &Path, run_id: &str, wait: Duration, stale_after: Duration) -> Result<Self> {
        Self::acquire_for("run", root, run_id, wait, stale_after)
    }

    /// Takes the lock for `command` (a command that writes to the warehouse).
    pub fn acquire_for(command: &str, root: &Path, run_id: &str, wait: Duration, stale_after: Duration) -> Result<Self> {
        let dir = root.join("_tokenledger");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("run.lock");
        let holder = Holder {
            command: command.to_string(),
            pid: std::process::id(),
            host: host_name(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            run_id: run_id.to_string(),
        };
        let deadline = Instant::now() + wait;
        let mut took_over = None;
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(serde_json::to_string(&holder)?.as_bytes())?;
                    f.sync_all()?;
                    return Ok(Self { path, holder, took_over });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
            let current = read_holder(&path);
            if let Some(current) = &current
                && is_stale(current, stale_after)
            {
                // only the run whose rename succeeds takes it over
                let aside = dir.join(format!("run.lock.stale-{}", uuid::Uuid::new_v4()));
                if std::fs::rename(&path, &aside).is_ok() {
                    tracing::warn!(holder = %current, "took over a stale lock (its run is gone)");
                    took_over = Some(current.clone());
                    let _ = std::fs::remove_file(&aside);
                }
                continue;
            }
            if Instant::now() >= deadline {
                let who = current.map_or_else(|| "another run (the lock file is being written)".to_string(), |h| h.to_string());
                return Err(Error::Locked(format!(
                    "the warehouse {} is locked by {who}; waited {} s. Wait for it to finish (run takes --wait SECONDS); \
                     a lock whose run was killed is taken over once it is stale ({} s, or at once on its host when its \
                     process is gone); the lock file is {}",
                    root.display(),
                    wait.as_secs(),
                    stale_after.as_secs(),
                    path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // only our own lock: a run that took a stale lock over must not lose it to us
        if read_holder(&self.path).as_ref() == Some(&self.holder) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Whether the holder's run is gone: its process has ended on this host, or its lock is older
/// than `stale_after`.
fn is_stale(h: &Holder, stale_after: Duration) -> bool {
    if h.host == host_name() && !Path::new(&format!("/proc/{}", h.pid)).exists() && Path::new("/proc/self").exists() {
        return true;
    }
    chrono::DateTime::parse_from_rfc3339(&h.started_at)
        .map(|t| chrono::Utc::now().signed_duration_since(t).to_std().unwrap_or_default() > stale_after)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_a_second_run_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "a", Duration::ZERO, Duration::from_secs(3600)).unwrap();
        let err = RunLock::acquire(dir.path(), "b", Duration::from_millis(250), Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(err.to_string().contains("run a (pid"), "{err}");
        drop(first);
        RunLock::acquire(dir.path(), "c", Duration::ZERO, Duration::from_secs(3600)).unwrap();
    }

    #[test]
    fn a_lock_of_a_gone_process_or_too_old_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("_tokenledger/run.lock");
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        let dead = Holder { command: "run".into(), pid: u32::MAX - 1, host: host_name(), started_at: chrono::Utc::now().to_rfc3339(), run_id: "dead".into() };
        std::fs::write(&lock, serde_json::to_string(&dead).unwrap()).unwrap();
        let l = RunLock::acquire(dir.path(), "new", Duration::ZERO, Duration::from_secs(3600)).unwrap();
        assert_eq!(l.took_over.as_ref().map(|h| h.run_id.as_str()), Some("dead"));
        drop(l);
        let elsewhere = Holder { command: "run".into(), pid: 1, host: "another-host".into(), started_at: "2020-01-01T00:00:00Z".into(), run_id: "old".into() };
        std::fs::write(&lock, serde_json::to_string(&elsewhere).unwrap()).unwrap();
        let l = RunLock::acquire(dir.path(), "new", Duration::ZERO, Duration::from_secs(3600)).unwrap();
        assert_eq!(l.took_over.as_ref().map(|h| h.run_id.as_str()), Some("old"));
        drop(l);
        // a fresh lock of another host is not stale
        let fresh = Holder { started_at: chrono::Utc::now().to_rfc3339(), ..elsewhere };
        std::fs::write(&lock, serde_json::to_string(&fresh).unwrap()).unwrap();
        assert!(RunLock::acquire(dir.path(), "new", Duration::ZERO, Duration::from_secs(3600)).is_err());
    }
}
