//! The command line itself: help, init, errors that tell the user what to do.

use crate::util::Env;

#[test]
fn help_documents_exit_codes() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    for needle in [
        "Exit codes",
        "4  ingest, run: more records quarantined",
        "5  run, ingest",
        "6  chargeback --fail-on-unpriced",
        "ingest",
        "init",
        "gen",
        "run",
        "vacuum",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let ingest_help = env.ok(&["ingest", "--help"]);
    assert!(ingest_help.contains("--max-quarantine-ratio"), "{ingest_help}");
    assert!(ingest_help.contains("--payloads"), "{ingest_help}");
}

#[test]
fn init_creates_tables_and_config_then_changes_nothing() {
    let env = Env::new();
    let first = env.ok(&["init"]);
    assert!(first.contains("created table   inference"), "{first}");
    for f in ["prices.csv", "principals.csv", "budgets.csv", "capacity.csv", "settings.toml"] {
        let text = std::fs::read_to_string(env.wh().join("config").join(f)).unwrap();
        assert!(text.starts_with('#'), "config/{f} should start with explaining comments");
    }
    assert!(env.wh().join("inference/_delta_log").is_dir());
    assert!(env.wh().join("quarantine/_delta_log").is_dir());
    // an edited config file survives a second init
    std::fs::write(env.wh().join("config/prices.csv"), "mine\n").unwrap();
    let log_before: Vec<_> = std::fs::read_dir(env.wh().join("inference/_delta_log")).unwrap().collect();
    let second = env.ok(&["init"]);
    assert!(second.contains("already exists; nothing changed"), "{second}");
    assert_eq!(std::fs::read_to_string(env.wh().join("config/prices.csv")).unwrap(), "mine\n");
    let log_after: Vec<_> = std::fs::read_dir(env.wh().join("inference/_delta_log")).unwrap().collect();
    assert_eq!(log_before.len(), log_after.len());
}

#[test]
fn commands_without_a_warehouse_say_to_run_init() {
    let env = Env::new();
    let data = env.write("a.jsonl", "");
    let err = env.fails(&["ingest", data.to_str().unwrap()], 2);
    assert!(err.contains("no inference table") && err.contains("hint: run `tokenledger init`"), "{err}");
    // rollup used to miss config/prices.csv first, and exit 1 as if a file were unreadable
    let err = env.fails(&["rollup"], 2);
    assert!(err.contains("no inference table") && err.contains("hint: run `tokenledger init`"), "{err}");
}

#[test]
fn missing_and_unsupported_files_are_named() {
    let env = Env::init();
    let err = env.fails(&["ingest", "nope.jsonl"], 1);
    assert!(err.contains("nope.jsonl"), "{err}");
    let txt = env.write("notes.txt", "hello");
    let err = env.fails(&["ingest", txt.to_str().unwrap()], 2);
    assert!(err.contains("notes.txt") && err.contains("unsupported"), "{err}");
}

#[test]
fn warehouse_comes_from_the_environment() {
    let env = Env::new();
    let out = std::process::Command::new(crate::util::BIN)
        .arg("init")
        .env("TOKENLEDGER_WAREHOUSE", env.path("from-env"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::util::show(&out));
    assert!(env.path("from-env/inference/_delta_log").is_dir());
}
