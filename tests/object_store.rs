//! A warehouse on S3: the same cycle as on a local directory, against moto's S3 server on
//! loopback (`scripts/test.sh` installs it and sets `TOKENLEDGER_MOTO_SERVER`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use object_store::{ObjectStoreExt, PutPayload};

use crate::util::{BIN, Env, KillOnDrop, show};

/// moto's S3 server on a free loopback port, stopped on drop.
pub(crate) struct S3Server {
    _child: KillOnDrop,
    endpoint: String,
}

/// The moto server binary: `TOKENLEDGER_MOTO_SERVER`, or `moto_server` on the PATH.
fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TOKENLEDGER_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join("moto_server")).find(|p| p.is_file())
}

impl S3Server {
    /// Starts the server with a bucket `lake`; `None` (the test is skipped, and says so) when
    /// moto is not installed, except under CI, where that is a failure.
    pub(crate) fn start() -> Option<Self> {
        let Some(binary) = moto_server() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the S3 tests: run them with `bash scripts/test.sh`, which installs moto"
            );
            eprintln!("SKIPPED: no moto_server (bash scripts/test.sh installs it)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let server = Self { _child: KillOnDrop(child), endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        // moto creates buckets on an unsigned PUT; retry until it listens
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                write!(
                    stream,
                    "PUT /lake HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut reply = String::new();
                let _ = stream.read_to_string(&mut reply);
                assert!(reply.starts_with("HTTP/1.1 200"), "moto did not create the bucket: {reply}");
                return Some(server);
            }
            assert!(Instant::now() < deadline, "moto_server did not listen on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The environment that points the AWS clients at this server (never at a real endpoint
    /// or the instance metadata service).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    pub(crate) fn tokenledger(&self, env: &Env, warehouse: &str, args: &[&str]) -> Output {
        env.command_on(warehouse, args).envs(self.env()).output().expect("run tokenledger")
    }

    pub(crate) fn ok(&self, env: &Env, warehouse: &str, args: &[&str]) -> String {
        let out = self.tokenledger(env, warehouse, args);
        assert!(out.status.success(), "tokenledger -w {warehouse} {args:?}\n{}", show(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The bucket, as the test's own client sees it.
    pub(crate) fn bucket(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name("lake")
            .with_region("us-east-1")
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_allow_http(true)
            .build()
            .unwrap()
    }
}

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A `run` config over `warehouse`, with the inbox and export folder of `env`.
fn config(warehouse: &str) -> String {
    format!("warehouse = \"{warehouse}\"\n[inbox]\npaths = [\"inbox\"]\n[export]\ndir = \"exports\"\n")
}

fn cycle(s3: &S3Server, env: &Env, config_file: &str) -> serde_json::Value {
    let out =
        s3.tokenledger(env, "unused", &["--format", "json", "run", "--config", config_file, "--today", "2025-02-02"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every row of `table` as sorted CSV lines, without the columns that say when and from which
/// path a row was ingested (the two warehouses read their own copy of the inbox).
fn table_lines(s3: &S3Server, env: &Env, warehouse: &str, table: &str) -> Vec<String> {
    let columns = match table {
        "inference" => "* EXCEPT (source_file, ingest_batch_id, ingested_at)",
        "quarantine" => "* EXCEPT (source_file, ingest_batch_id, ingested_at, ingest_date)",
        _ => "*",
    };
    let csv = s3.ok(env, warehouse, &["--format", "csv", "sql", &format!("SELECT {columns} FROM {table}")]);
    let mut lines: Vec<String> = csv.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn an_s3_warehouse_runs_the_same_cycle_as_a_local_one() {
    let Some(s3) = S3Server::start() else { return };
    let env = Env::init();
    let data = env.generate("data", &["--rows", "300", "--days", "3", "--start", "2025-01-30"]);
    std::fs::create_dir_all(env.path("inbox")).unwrap();
    std::fs::copy(data.join("logs/inference.jsonl"), env.path("inbox/day1.jsonl")).unwrap();

    // the same warehouse twice: a directory, and a prefix in the bucket
    let remote = "s3://lake/warehouses/acme";
    s3.ok(&env, remote, &["init"]);
    let bucket = s3.bucket();
    for f in ["prices.csv", "principals.csv"] {
        std::fs::copy(data.join("config").join(f), env.wh().join("config").join(f)).unwrap();
        let bytes = std::fs::read(data.join("config").join(f)).unwrap();
        block_on(bucket.put(&format!("warehouses/acme/config/{f}").into(), PutPayload::from(bytes))).unwrap();
    }
    std::fs::create_dir_all(env.path("local")).unwrap();
    std::fs::create_dir_all(env.path("remote")).unwrap();
    env.write("local/tokenledger.toml", config(env.wh().to_str().unwrap()));
    env.write("remote/tokenledger.toml", config(remote));
    std::fs::rename(env.path("inbox"), env.path("local/inbox")).unwrap();
    std::fs::create_dir_all(env.path("remote/inbox")).unwrap();
    std::fs::copy(env.path("local/inbox/day1.jsonl"), env.path("remote/inbox/day1.jsonl")).unwrap();

    let local_run = cycle(&s3, &env, "local/tokenledger.toml");
    let remote_run = cycle(&s3, &env, "remote/tokenledger.toml");
    assert!(remote_run["rows_written"].as_i64() > Some(200), "{remote_run}");
    for key in ["rows_written", "quarantined", "dates_recomputed", "files_ingested"] {
        assert_eq!(local_run[key], remote_run[key], "{key}: {local_run} / {remote_run}");
    }
    // the export is byte for byte the local one's
    let export = |side: &str| std::fs::read(env.path(&format!("{side}/exports/chargeback-2025-01.csv"))).unwrap();
    assert!(export("remote").len() > 200);
    assert_eq!(export("local"), export("remote"));
    // and so is every table
    let local = env.wh().to_str().unwrap().to_string();
    for table in ["inference", "quarantine", "usage_hourly", "usage_daily"] {
        let (l, r) = (table_lines(&s3, &env, &local, table), table_lines(&s3, &env, remote, table));
        assert!(l.len() > 1 || table == "quarantine", "{table} is empty");
        let first = l.iter().zip(&r).find(|(a, b)| a != b);
        assert!(
            l.len() == r.len() && first.is_none(),
            "{table}: {} rows here, {} in the bucket; first difference {first:?}",
            l.len(),
            r.len()
        );
    }

    // a second cycle finds the file ingested; the state, lock and runs live in the bucket
    let again = cycle(&s3, &env, "remote/tokenledger.toml");
    assert_eq!(again["files_skipped"], 1, "{again}");
    assert_eq!(again["rows_written"], 0, "{again}");
    let runs = s3.ok(&env, remote, &["--format", "json", "runs"]);
    assert_eq!(runs.lines().count(), 2, "{runs}");
    let lock: object_store::path::Path = "warehouses/acme/_tokenledger/run.lock".into();
    assert!(block_on(bucket.head(&"warehouses/acme/_tokenledger/rollup.json".into())).is_ok());
    assert!(block_on(bucket.head(&lock)).is_err(), "the run released its lock");

    // a lock held by a run on another machine: a writer is refused with exit 5, naming it
    let holder = serde_json::json!({"command": "run", "pid": 1, "host": "scheduler-7", "started_at": chrono::Utc::now().to_rfc3339(), "run_id": "r-42"});
    block_on(bucket.put(&lock, PutPayload::from(holder.to_string().into_bytes()))).unwrap();
    let out = s3.tokenledger(&env, remote, &["ingest", "remote/inbox"]);
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run r-42 (pid 1 on scheduler-7"), "{}", show(&out));
    assert!(block_on(bucket.head(&lock)).is_ok(), "the holder's lock stays");
}

/// URLs refused before any store is opened (so no request leaves the machine).
#[test]
fn credentials_in_a_warehouse_url_and_unusable_urls_are_refused() {
    let env = Env::new();
    let refused = |url: &str| {
        let out = Command::new(BIN).args(["-w", url, "init"]).current_dir(env.dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", show(&out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused("s3://AKIAEXAMPLE:secret@lake/wh");
    assert!(stderr.contains("holds credentials") && stderr.contains("environment"), "{stderr}");
    assert!(!stderr.contains("secret"), "the message repeats the secret: {stderr}");
    assert!(refused("s3:///wh").contains("names no bucket"));
    assert!(refused("ftp://host/wh").contains("s3://"));
}
