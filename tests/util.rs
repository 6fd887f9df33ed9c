//! Test helpers: a temp dir per test with a warehouse in it, running the real binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;

pub const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");

/// The hand-written fixture with one line of each kind (see tests/ingest_bad_input.rs).
pub const MIXED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/native_mixed.jsonl");

/// The first `n` lines of the fixture (all valid); the fixture as a whole is not UTF-8.
pub fn mixed_lines(n: usize) -> Vec<String> {
    let bytes = std::fs::read(MIXED).unwrap();
    bytes.split(|b| *b == b'\n').take(n).map(|l| String::from_utf8(l.to_vec()).unwrap()).collect()
}

/// A test's own directory, with the warehouse at `wh/`.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    /// A new env with `init` already run.
    pub fn init() -> Self {
        let env = Self::new();
        env.ok(&["init"]);
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn wh(&self) -> PathBuf {
        self.path("wh")
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// The command, pointed at this env's warehouse, with no inherited warehouse setting.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_on(self.wh(), args)
    }

    /// The command in this env's directory, pointed at `warehouse` (a path or a URL).
    pub fn command_on(&self, warehouse: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("-w").arg(warehouse).args(args).current_dir(self.dir.path());
        c.env_remove("TOKENLEDGER_WAREHOUSE").env_remove("RUST_LOG").env_remove("TOKENLEDGER_PAYLOAD_KEY");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run tokenledger")
    }

    /// Runs with `input` as standard input (a pipe, as a script would give it).
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run tokenledger");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        if !out.status.success() {
            panic!("tokenledger {args:?} failed with {}\n{}", out.status, show(&out));
        }
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs and asserts the exit code; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        if out.status.code() != Some(code) {
            panic!("tokenledger {args:?}: expected exit code {code}, got {}\n{}", out.status, show(&out));
        }
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `ingest --format json ARGS`, parsed.
    pub fn ingest_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--format", "json", "ingest"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
    }

    /// `gen` into `rel` with extra options; returns the data dir.
    pub fn generate(&self, rel: &str, args: &[&str]) -> PathBuf {
        let out = self.path(rel);
        let mut all = vec!["gen", "--out", out.to_str().unwrap()];
        all.extend_from_slice(args);
        self.ok(&all);
        out
    }

    /// Every row of a table's current version.
    pub fn rows(&self, table: &str) -> Vec<RecordBatch> {
        read_table(&self.wh().join(table))
    }
}

pub fn show(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Reads a Delta table's active files with the parquet crate (partition columns are not in
/// the files). Sorted by file path so the order is stable.
pub fn read_table(dir: &Path) -> Vec<RecordBatch> {
    data_files(dir).iter().flat_map(|f| read_table_file(f)).collect()
}

/// The rows of one Parquet file, in the file's order.
pub fn read_table_file(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    reader.map(|b| b.unwrap()).collect()
}

/// The files under `dir` that hold `needle`: in their bytes or, for Parquet, whose compression
/// could hide it, in any value of their rows.
pub fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|e| e == "parquet") {
            let file = std::fs::File::open(&path).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
            let mut rows = arrow::json::LineDelimitedWriter::new(&mut bytes);
            for batch in reader {
                rows.write(&batch.unwrap()).unwrap();
            }
            rows.finish().unwrap();
        }
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            found.push(path);
        }
    }
    found
}

/// The active data files of a Delta table, as local paths.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = url::Url::from_directory_path(dir).unwrap();
        let table = deltalake::open_table(url).await.expect("open table");
        let mut files: Vec<PathBuf> = table
            .get_file_uris()
            .unwrap()
            .map(|u| match url::Url::parse(&u) {
                Ok(url) if url.scheme() == "file" => url.to_file_path().unwrap(),
                _ => PathBuf::from(u),
            })
            .collect();
        files.sort();
        files
    })
}

/// The table's current version.
pub fn table_version(dir: &Path) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = url::Url::from_directory_path(dir).unwrap();
        deltalake::open_table(url).await.expect("open table").version().unwrap() as i64
    })
}

pub fn num_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// A string column of all batches (nulls as None).
pub fn strings(batches: &[RecordBatch], col: &str) -> Vec<Option<String>> {
    let mut v = Vec::new();
    for b in batches {
        let a = b.column_by_name(col).unwrap_or_else(|| panic!("no column {col}"));
        let a = a.as_string::<i32>();
        for i in 0..a.len() {
            v.push(a.is_valid(i).then(|| a.value(i).to_string()));
        }
    }
    v
}

pub fn longs(batches: &[RecordBatch], col: &str) -> Vec<i64> {
    let mut v = Vec::new();
    for b in batches {
        let a = b.column_by_name(col).unwrap_or_else(|| panic!("no column {col}"));
        v.extend(a.as_primitive::<Int64Type>().values().iter().copied());
    }
    v
}

/// Sorted non-null values of a string column.
pub fn sorted(mut v: Vec<Option<String>>) -> Vec<String> {
    let mut s: Vec<String> = v.drain(..).flatten().collect();
    s.sort();
    s
}

pub fn as_u64(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// A warehouse with generated logs ingested and the generator's price book and principals.
pub fn ingested_warehouse(rows: u32, days: u32) -> Env {
    let env = Env::init();
    let data = env.generate("data", &["--rows", &rows.to_string(), "--days", &days.to_string()]);
    for f in ["prices.csv", "principals.csv"] {
        std::fs::copy(data.join("config").join(f), env.wh().join("config").join(f)).unwrap();
    }
    env.ingest_json(&[data.join("logs").to_str().unwrap()]);
    env
}

/// A child process (a server a test started), killed and reaped when dropped.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A CSV file's rows, the header first.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut rows = vec![r.headers().unwrap().iter().map(String::from).collect()];
    rows.extend(r.records().map(|rec| rec.unwrap().iter().map(String::from).collect()));
    rows
}
