//! One run at a time per warehouse: `_tokenledger/run.lock`, created exclusively, holding who
//! has it. A second run waits up to its limit, then fails with the holder's name. A lock left
//! by a killed run is stale when its process is gone (same host) or when it is older than the
//! stale limit; it is taken over atomically, so two runs that find the same stale lock cannot
//! both take it.
//!
//! On a local warehouse the lock is a file created with `O_EXCL` and taken over by a rename.
//! On an object store it is an object created with a conditional put (`If-None-Match: *`) and
//! taken over by a put conditional on the stale lock's ETag (`If-Match`); S3, GCS and Azure all
//! support both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deltalake::logstore::ObjectStoreRef;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::error::{Error, Result};
use crate::warehouse::Warehouse;

/// Where the lock is, in the warehouse.
pub const LOCK_KEY: &str = "_tokenledger/run.lock";

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

/// A held lock. `release` gives it up; dropping a local one releases it too.
#[derive(Debug)]
pub struct RunLock {
    place: Place,
    holder: Holder,
    /// A stale lock that was taken over, said in the run's log.
    pub took_over: Option<Holder>,
}

/// The lock's file or object.
#[derive(Debug, Clone)]
enum Place {
    File(PathBuf),
    Object { store: ObjectStoreRef, key: ObjectPath, released: bool },
}

/// What an attempt to take over a stale lock did.
enum TakeOver {
    /// The lock is ours now.
    Held,
    /// The stale lock is gone: try to create it again.
    Cleared,
    /// Another run took it first.
    Lost,
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

impl Place {
    fn describe(&self) -> String {
        match self {
            Place::File(path) => path.display().to_string(),
            Place::Object { key, .. } => key.to_string(),
        }
    }

    /// Creates the lock holding `holder` unless it exists; says whether it did.
    async fn create(&self, holder: &Holder) -> Result<bool> {
        let text = serde_json::to_vec(holder)?;
        match self {
            Place::File(path) => {
                use std::io::Write;
                std::fs::create_dir_all(path.parent().expect("the lock has a directory"))?;
                match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
                    Ok(mut f) => {
                        f.write_all(&text)?;
                        f.sync_all()?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
            Place::Object { store, key, .. } => {
                match store.put_opts(key, PutPayload::from(text), PutOptions::from(PutMode::Create)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The holder, and the version of the lock it was read from (objects only).
    async fn read(&self) -> Option<(Holder, Option<UpdateVersion>)> {
        match self {
            Place::File(path) => Some((read_holder(path)?, None)),
            Place::Object { store, key, .. } => {
                let got = store.get(key).await.ok()?;
                let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                let bytes = got.bytes().await.ok()?;
                Some((serde_json::from_slice(&bytes).ok()?, Some(version)))
            }
        }
    }

    /// Replaces the stale lock read at `version` by one holding `holder`, unless another run
    /// changed it since.
    async fn take_over(&self, holder: &Holder, version: Option<UpdateVersion>) -> Result<TakeOver> {
        match self {
            Place::File(path) => {
                // only the run whose rename succeeds takes it over
                let aside = path.with_extension(format!("lock.stale-{}", uuid::Uuid::new_v4()));
                if std::fs::rename(path, &aside).is_ok() {
                    let _ = std::fs::remove_file(&aside);
                    Ok(TakeOver::Cleared)
                } else {
                    Ok(TakeOver::Lost)
                }
            }
            Place::Object { store, key, .. } => {
                let Some(version) = version else { return Ok(TakeOver::Lost) };
                let mode = PutMode::Update(version);
                match store.put_opts(key, PutPayload::from(serde_json::to_vec(holder)?), PutOptions::from(mode)).await {
                    Ok(_) => Ok(TakeOver::Held),
                    Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {
                        Ok(TakeOver::Lost)
                    }
                    Err(object_store::Error::NotImplemented { .. }) => {
                        // a store without conditional updates: delete, then race to create
                        match store.delete(key).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(TakeOver::Cleared),
                            Err(e) => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

impl RunLock {
    /// Takes the lock of `warehouse` for a `run` cycle, waiting up to `wait` for its holder.
    pub async fn acquire(warehouse: &Warehouse, run_id: &str, wait: Duration, stale_after: Duration) -> Result<Self> {
        Self::acquire_for("run", warehouse, run_id, wait, stale_after).await
    }

    /// Takes the lock for `command` (a command that writes to the warehouse).
    pub async fn acquire_for(
        command: &str,
        warehouse: &Warehouse,
        run_id: &str,
        wait: Duration,
        stale_after: Duration,
    ) -> Result<Self> {
        let place = match warehouse.local_root() {
            Some(root) => Place::File(root.join(LOCK_KEY)),
            None => {
                Place::Object { store: warehouse.store().clone(), key: ObjectPath::from(LOCK_KEY), released: false }
            }
        };
        Self::acquire_at(place, &warehouse.to_string(), command, run_id, wait, stale_after).await
    }

    async fn acquire_at(
        place: Place,
        warehouse: &str,
        command: &str,
        run_id: &str,
        wait: Duration,
        stale_after: Duration,
    ) -> Result<Self> {
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
            if place.create(&holder).await? {
                return Ok(Self { place, holder, took_over });
            }
            let current = place.read().await;
            if let Some((stale, version)) = &current
                && is_stale(stale, stale_after)
            {
                let outcome = place.take_over(&holder, version.clone()).await?;
                if !matches!(outcome, TakeOver::Lost) {
                    tracing::warn!(holder = %stale, "took over a stale lock (its run is gone)");
                    took_over = Some(stale.clone());
                }
                if matches!(outcome, TakeOver::Held) {
                    return Ok(Self { place, holder, took_over });
                }
                continue;
            }
            if Instant::now() >= deadline {
                let who = current
                    .map_or_else(|| "another run (the lock is being written)".to_string(), |(h, _)| h.to_string());
                return Err(Error::Locked(format!(
                    "the warehouse {warehouse} is locked by {who}; waited {} s. Wait for it to finish (run takes --wait SECONDS); \
                     a lock whose run was killed is taken over once it is stale ({} s, or at once on its host when its \
                     process is gone); the lock is {}",
                    wait.as_secs(),
                    stale_after.as_secs(),
                    place.describe()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Gives the lock up, if it is still ours (a run that took a stale lock over must not
    /// lose it to us).
    pub async fn release(mut self) {
        if let Place::Object { store, key, .. } = &self.place
            && matches!(self.place.read().await, Some((h, _)) if h == self.holder)
        {
            let _ = store.delete(key).await;
        }
        if let Place::Object { released, .. } = &mut self.place {
            *released = true;
        }
        // a local lock is released by Drop
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        match &self.place {
            Place::File(path) => {
                if read_holder(path).as_ref() == Some(&self.holder) {
                    let _ = std::fs::remove_file(path);
                }
            }
            Place::Object { released: false, .. } => {
                // dropped without `release` (an early return): it is stale once this process is gone
                tracing::warn!(lock = %self.place.describe(), "the warehouse lock was not released; it is taken over once stale");
            }
            Place::Object { .. } => {}
        }
    }
}

/// The holder named by the lock file at `path`, if it can be read.
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

    fn local(dir: &Path) -> Warehouse {
        Warehouse::new(dir.to_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_held_lock_refuses_a_second_run_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let w = local(dir.path());
        let first = RunLock::acquire(&w, "a", Duration::ZERO, Duration::from_secs(3600)).await.unwrap();
        let err = RunLock::acquire(&w, "b", Duration::from_millis(250), Duration::from_secs(3600)).await.unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(err.to_string().contains("run a (pid"), "{err}");
        drop(first);
        RunLock::acquire(&w, "c", Duration::ZERO, Duration::from_secs(3600)).await.unwrap();
    }

    fn dead_here() -> Holder {
        Holder {
            command: "run".into(),
            pid: u32::MAX - 1,
            host: host_name(),
            started_at: chrono::Utc::now().to_rfc3339(),
            run_id: "dead".into(),
        }
    }

    fn old_elsewhere() -> Holder {
        Holder {
            command: "run".into(),
            pid: 1,
            host: "another-host".into(),
            started_at: "2020-01-01T00:00:00Z".into(),
            run_id: "old".into(),
        }
    }

    #[tokio::test]
    async fn a_lock_of_a_gone_process_or_too_old_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let w = local(dir.path());
        let lock = dir.path().join(LOCK_KEY);
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        std::fs::write(&lock, serde_json::to_string(&dead_here()).unwrap()).unwrap();
        let l = RunLock::acquire(&w, "new", Duration::ZERO, Duration::from_secs(3600)).await.unwrap();
        assert_eq!(l.took_over.as_ref().map(|h| h.run_id.as_str()), Some("dead"));
        drop(l);
        std::fs::write(&lock, serde_json::to_string(&old_elsewhere()).unwrap()).unwrap();
        let l = RunLock::acquire(&w, "new", Duration::ZERO, Duration::from_secs(3600)).await.unwrap();
        assert_eq!(l.took_over.as_ref().map(|h| h.run_id.as_str()), Some("old"));
        drop(l);
        // a fresh lock of another host is not stale
        let fresh = Holder { started_at: chrono::Utc::now().to_rfc3339(), ..old_elsewhere() };
        std::fs::write(&lock, serde_json::to_string(&fresh).unwrap()).unwrap();
        assert!(RunLock::acquire(&w, "new", Duration::ZERO, Duration::from_secs(3600)).await.is_err());
    }

    /// The object-store lock, on an in-memory store (which, like S3, GCS and Azure, supports
    /// conditional creates and ETag-conditional updates).
    #[tokio::test]
    async fn an_object_store_lock_is_exclusive_released_and_taken_over_once() {
        let store: ObjectStoreRef = std::sync::Arc::new(object_store::memory::InMemory::new());
        let place = || Place::Object { store: store.clone(), key: ObjectPath::from(LOCK_KEY), released: false };
        let hour = Duration::from_secs(3600);
        let first = RunLock::acquire_at(place(), "mem://w", "run", "a", Duration::ZERO, hour).await.unwrap();
        let err =
            RunLock::acquire_at(place(), "mem://w", "run", "b", Duration::from_millis(250), hour).await.unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(err.to_string().contains("run a (pid"), "{err}");
        first.release().await;
        let second = RunLock::acquire_at(place(), "mem://w", "ingest", "c", Duration::ZERO, hour).await.unwrap();
        assert!(second.took_over.is_none());
        // released only while it is ours: a lock taken over by another run stays
        let key = ObjectPath::from(LOCK_KEY);
        store.put(&key, PutPayload::from(serde_json::to_vec(&old_elsewhere()).unwrap())).await.unwrap();
        second.release().await;
        assert!(store.head(&key).await.is_ok(), "another run's lock was deleted");

        // two runs read the same stale lock: only the first conditional update wins
        let (Some((_, v1)), Some((_, v2))) = (place().read().await, place().read().await) else { panic!("no lock") };
        let me = dead_here();
        assert!(matches!(place().take_over(&me, v1).await.unwrap(), TakeOver::Held));
        assert!(matches!(place().take_over(&me, v2).await.unwrap(), TakeOver::Lost));
        store.put(&key, PutPayload::from(serde_json::to_vec(&old_elsewhere()).unwrap())).await.unwrap();

        // two runs find the same stale lock: exactly one takes it over, the other is refused
        let (a, b) = tokio::join!(
            RunLock::acquire_at(place(), "mem://w", "run", "x", Duration::ZERO, hour),
            RunLock::acquire_at(place(), "mem://w", "run", "y", Duration::ZERO, hour),
        );
        let won: Vec<_> = [&a, &b].iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "{a:?} {b:?}");
        assert_eq!(won[0].took_over.as_ref().map(|h| h.run_id.as_str()), Some("old"));
        let held: Holder = serde_json::from_slice(&store.get(&key).await.unwrap().bytes().await.unwrap()).unwrap();
        assert_eq!(&held, won[0].holder());
    }
}
