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
    assert_eq!((row["daily"].as_i64(), row["hourly"].as_i64(), row["priced"].as_i64()), (Some(500), Some(500), Some(500)), "{row}");
    assert_eq!(row["has_prices"], true);
    // the config files as tables, amounts exact
    env.write("wh/config/budgets.csv", "scope,name,period,amount,currency,thresholds\ngroup,ds,monthly,1234.56,USD,50;100\n");
    env.write(
        "wh/config/capacity.csv",
        "pool,endpoint_name,served_entity_name,cost_per_hour,currency,effective_from,effective_to,owner_group\np,ep,,24.5,USD,2025-01-01,,ml\n",
    );
    let json = env.ok(&["--format", "json", "sql", "SELECT CAST(b.amount AS VARCHAR) AS amount, b.thresholds, CAST(c.cost_per_hour AS VARCHAR) AS rate,         CAST(c.effective_from AS VARCHAR) AS since, c.served_entity_name FROM budgets b CROSS JOIN capacity c"]);
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(row, serde_json::json!({"amount": "1234.560000", "thresholds": "50;100", "rate": "24.500000", "since": "2025-01-01"}), "{json}");

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
