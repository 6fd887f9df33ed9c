//! `tokenledger sql`: read-only queries over every table, as a table, JSON or CSV.

use crate::util::ingested_warehouse;

#[test]
fn queries_read_every_table_and_nothing_can_write() {
    let env = ingested_warehouse(500, 3);
    env.ok(&["rollup"]);
    let text = env.ok(&["sql", "SELECT count(*) AS n FROM inference"]);
    assert!(text.contains("| 500 |"), "{text}");
    let json = env.ok(&[
        "--format",
        "json",
        "sql",
        "SELECT (SELECT sum(requests) FROM usage_daily) AS daily, (SELECT sum(requests) FROM usage_hourly) AS hourly, \
                (SELECT count(*) FROM priced_requests) AS priced, (SELECT count(*) FROM prices) > 0 AS has_prices",
    ]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (row["daily"].as_i64(), row["hourly"].as_i64(), row["priced"].as_i64()),
        (Some(500), Some(500), Some(500)),
        "{row}"
    );
    assert_eq!(row["has_prices"], true);
    // the config files as tables, amounts exact
    env.write(
        "wh/config/budgets.csv",
        "scope,name,period,amount,currency,thresholds\ngroup,ds,monthly,1234.56,USD,50;100\n",
    );
    env.write(
        "wh/config/capacity.csv",
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\np,ep,,24.5,USD,2025-01-01,,ml\n",
    );
    let json = env.ok(&["--format", "json", "sql", "SELECT CAST(b.amount AS VARCHAR) AS amount, b.thresholds, CAST(c.cost_per_hour AS VARCHAR) AS rate,         CAST(c.effective_from AS VARCHAR) AS since, c.served_entity_name FROM budgets b CROSS JOIN capacity c"]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        row,
        serde_json::json!({"amount": "1234.560000", "thresholds": "50;100", "rate": "24.500000", "since": "2025-01-01"}),
        "{json}"
    );

    let out = env.path("q.csv");
    env.ok(&["sql", "SELECT requester FROM inference ORDER BY requester LIMIT 3", "--output", out.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert_eq!(csv.lines().next(), Some("requester"));

    for write in [
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE inference",
        "INSERT INTO usage_daily SELECT * FROM usage_daily",
        "SET datafusion.execution.batch_size = 1",
        "COPY (SELECT 1) TO 'x.csv'",
    ] {
        let err = env.fails(&["sql", write], 2);
        assert!(err.contains("read-only"), "{write}: {err}");
    }
    let err = env.fails(&["sql", "SELECT no_such_column FROM usage_daily"], 2);
    assert!(err.contains("no_such_column") && err.contains("Tables:"), "{err}");
}

#[test]
fn results_go_to_csv_json_and_parquet_and_csv_is_safe_in_a_spreadsheet() {
    let env = crate::reports::fixture();
    let formula = "SELECT '=HYPERLINK(\"http://x\")' AS link, -5 AS n, '@SUM(A1)' AS at";
    let csv = env.ok(&["--format", "csv", "sql", formula]);
    assert_eq!(csv, "link,n,at\n\"'=HYPERLINK(\"\"http://x\"\")\",-5,'@SUM(A1)\n");
    let file = env.path("q.csv");
    env.ok(&["sql", formula, "--output", file.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), csv, "a file is the same CSV");
    // --format wins over the extension; JSON lines keep the numbers
    let json = env.path("q.txt");
    env.ok(&[
        "--format",
        "json",
        "sql",
        "SELECT requester, count(*) AS n FROM inference GROUP BY 1 ORDER BY 1",
        "--output",
        json.to_str().unwrap(),
    ]);
    let first: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&json).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first, serde_json::json!({"requester": "alice", "n": 7}));
    let parquet = env.path("usage.parquet");
    env.ok(&["sql", "SELECT * FROM usage_daily", "--output", parquet.to_str().unwrap()]);
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&parquet).unwrap())
            .unwrap();
    let rows: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    let count = env.ok(&["--format", "csv", "sql", "SELECT count(*) AS n FROM usage_daily"]);
    assert_eq!(format!("n\n{rows}\n"), count);
    let err = env.fails(&["--format", "parquet", "sql", "SELECT 1"], 2);
    assert!(err.contains("--output FILE.parquet"), "{err}");
    let err = env.fails(&["--format", "csv", "rollup"], 2);
    assert!(err.contains("sql, report"), "{err}");
}

#[test]
fn errors_point_at_the_place_in_the_query_and_give_a_hint() {
    let env = crate::reports::fixture();
    let err = env.fails(&["sql", "SELECT requester,\n       no_such FROM usage_daily"], 2);
    assert!(err.contains("at line 2, column 8:\n           no_such FROM usage_daily\n           ^"), "{err}");
    assert!(err.contains("hint: \\d TABLE"), "{err}");
    let err = env.fails(&["sql", "SELECT * FROM usage_weekly"], 2);
    assert!(err.contains("column 15") && err.contains("the tables are inference"), "{err}");
    let err = env.fails(&["sql", "SELECT cost FROM usage_daily WHERE cost > > 1"], 2);
    assert!(err.contains("column 43") && err.contains("does not parse at the caret"), "{err}");
}

#[test]
fn the_shell_runs_statements_and_commands_from_stdin() {
    let env = crate::reports::fixture();
    let script = "\\d\n\
                  \\d budgets\n\
                  SELECT requester, count(*) AS n\n  FROM inference\n  GROUP BY requester\n  ORDER BY n DESC, requester;\n\
                  SELECT 'a;b' AS s; SELECT 2 AS two;\n\
                  SELECT nope FROM usage_daily;\n\
                  \\maxrows 1\n\
                  SELECT requester FROM inference ORDER BY 1;\n\
                  \\format csv\n\
                  SELECT 3 AS three\n\
                  ;\n\
                  \\bogus\n\
                  \\q\n\
                  SELECT 'after quit' AS never;\n";
    let out = env.run_with_stdin(&["sql"], script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = crate::util::show(&out);
    // \d lists every table with its kind; \d NAME its columns
    for line in [" usage_daily       table ", " budgets           config ", " priced_requests   view "] {
        assert!(stdout.contains(line), "{line:?}\n{all}");
    }
    assert!(stdout.contains(" amount      decimal(38,6)  no"), "{all}");
    // a statement over four lines, then two on one line (the ; inside quotes is not an end)
    assert!(stdout.contains("| alice     | 7 |\n| bob       | 6 |"), "{all}");
    assert!(stdout.contains("| a;b |") && stdout.contains("| 2   |"), "{all}");
    // a failed statement is reported and the shell goes on
    assert!(stderr.contains("No field named nope") && stderr.contains("column 8"), "{all}");
    assert!(stdout.contains("(17 rows, the first 1 shown; \\maxrows 0 shows all)"), "{all}");
    assert!(stdout.contains("three\n3\n"), "{all}");
    assert!(stderr.contains("unknown command \\bogus"), "{all}");
    assert!(!stdout.contains("after quit"), "{all}");
    // from a pipe, a failed statement makes the exit code 2
    assert_eq!(out.status.code(), Some(2), "{all}");
    let ok = env.run_with_stdin(&["sql"], "SELECT 1 AS one;\n");
    assert_eq!(ok.status.code(), Some(0), "{}", crate::util::show(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "+-----+\n| one |\n+-----+\n| 1   |\n+-----+\n(1 row)\n");
}

#[test]
fn a_query_over_its_memory_budget_says_how_to_raise_it() {
    let env = crate::util::ingested_warehouse(500, 3);
    env.ok(&["-q", "rollup"]);
    let err = env.fails(&["report", "rate_limits", "--memory-limit", "16KiB"], 2);
    assert!(
        err.contains("the query needed more memory than --memory-limit allows")
            && err.contains("larger --memory-limit"),
        "{err}"
    );
    let err = env.fails(
        &["sql", "SELECT requester, count(*) FROM priced_requests GROUP BY 1 ORDER BY 2", "--memory-limit", "16KiB"],
        2,
    );
    assert!(err.contains("larger --memory-limit"), "{err}");
    // with room, the same report runs
    env.ok(&["report", "rate_limits", "--memory-limit", "256MiB"]);
}
