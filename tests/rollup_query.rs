//! The usage_hourly model against the inference table it comes from: every request, token and
//! cent is accounted for, and each request's cost equals `pricing::request_cost`.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use rust_decimal::Decimal;
use tokenledger::model::{Grain, Inputs};
use tokenledger::pricing::{ConfigFile, PriceBook, Principals, Settings, request_cost};
use tokenledger::warehouse::Warehouse;

use crate::util::{Env, as_u64, ingested_warehouse, longs, strings};

fn sum_i64(batches: &[RecordBatch], col: &str) -> i64 {
    batches
        .iter()
        .map(|b| {
            let a = b.column_by_name(col).unwrap_or_else(|| panic!("no {col}"));
            a.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(0)).sum::<i64>()
        })
        .sum()
}

fn sum_decimal(batches: &[RecordBatch], col: &str) -> Decimal {
    let mut total = Decimal::ZERO;
    for b in batches {
        let a = b.column_by_name(col).unwrap().as_primitive::<Decimal128Type>();
        let scale = a.scale() as u32;
        for v in a.iter().flatten() {
            total += Decimal::try_from_i128_with_scale(v, scale).unwrap();
        }
    }
    total
}

#[test]
fn usage_hourly_conserves_requests_tokens_and_cost() {
    let env = Env::init();
    let data = env.generate("data", &["--rows", "4000", "--days", "40", "--bad-rate", "0.005"]);
    let s = env.ingest_json(&[data.join("logs").to_str().unwrap()]);
    let written = as_u64(&s, "rows_written") as i64;
    let book = PriceBook::load(&ConfigFile::from_path(&data.join("config/prices.csv")).unwrap()).unwrap();
    let principals = Principals::load(&ConfigFile::from_path(&data.join("config/principals.csv")).unwrap()).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (hourly, daily): (Vec<RecordBatch>, Vec<RecordBatch>) = rt.block_on(async {
        let wh = Warehouse::new(env.wh().to_str().unwrap()).unwrap();
        let inputs = Inputs::new(book.clone(), principals.clone(), Settings::default(), Default::default());
        let ctx = tokenledger::model::session(&wh, &inputs).await.unwrap();
        let mut out = Vec::new();
        for grain in [Grain::Hourly, Grain::Daily] {
            out.push(tokenledger::model::usage(&ctx, grain, &inputs.settings).await.unwrap().collect().await.unwrap());
        }
        let daily = out.pop().unwrap();
        (out.pop().unwrap(), daily)
    });

    // what the inference rows say, computed in Rust, row by row
    let rows = env.rows("inference");
    let mut cost = Decimal::ZERO;
    let (mut unpriced, mut unassigned) = (0i64, 0i64);
    for b in &rows {
        let entity = b.column_by_name("served_entity_name").unwrap().as_string::<i32>();
        let requester = b.column_by_name("requester").unwrap().as_string::<i32>();
        let time = b.column_by_name("request_time").unwrap().as_primitive::<TimestampMicrosecondType>();
        let tok = |c: &str| b.column_by_name(c).unwrap().as_primitive::<Int64Type>().clone();
        let (input, read, write, output) = (
            tok("input_tokens"),
            tok("cache_read_input_tokens"),
            tok("cache_creation_input_tokens"),
            tok("output_tokens"),
        );
        for i in 0..b.num_rows() {
            match book.price_at(entity.value(i), time.value(i)) {
                Some(p) => {
                    cost += request_cost(p, input.value(i), read.value(i), write.value(i), output.value(i)).unwrap()
                }
                None => unpriced += 1,
            }
            if !principals.resolve(requester.value(i), time.value(i)).2 {
                unassigned += 1;
            }
        }
    }

    assert_eq!(sum_i64(&hourly, "requests"), written);
    for bucket in ["input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"] {
        assert_eq!(sum_i64(&hourly, bucket), longs(&rows, bucket).iter().sum::<i64>(), "{bucket}");
    }
    assert!(cost > Decimal::ZERO);
    assert_eq!(sum_decimal(&hourly, "cost"), cost, "cost to the last decimal");
    assert_eq!(sum_i64(&hourly, "unpriced_requests"), unpriced);
    // the daily grain holds the same requests, tokens and money, in fewer rows
    let measures = [
        "requests",
        "rate_limited",
        "server_errors",
        "input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
        "unpriced_requests",
    ];
    for m in measures {
        assert_eq!(sum_i64(&daily, m), sum_i64(&hourly, m), "{m}");
    }
    assert_eq!(sum_decimal(&daily, "cost"), cost);
    assert!(
        daily.iter().map(RecordBatch::num_rows).sum::<usize>()
            < hourly.iter().map(RecordBatch::num_rows).sum::<usize>()
    );
    let groups = strings(&hourly, "group");
    let requests = longs(&hourly, "requests");
    let unassigned_requests: i64 =
        groups.iter().zip(&requests).filter(|(g, _)| g.as_deref() == Some("unassigned")).map(|(_, n)| n).sum();
    assert!(unassigned > 0, "the generator leaves some requesters out of principals.csv");
    assert_eq!(unassigned_requests, unassigned);
    // the hour is the hour of the request, within its date
    for b in &hourly {
        let hour = b.column_by_name("hour").unwrap().as_primitive::<TimestampMicrosecondType>();
        assert!(hour.iter().flatten().all(|h| h % 3_600_000_000 == 0));
    }
}

/// Runs `sql` over the session with `usage_hourly` and `usage_daily` registered as views.
fn query(env: &Env, prices: &str, principals: &str, sql: &str) -> Vec<RecordBatch> {
    let book = PriceBook::from_csv_str(prices, "prices.csv").unwrap();
    let principals = Principals::from_csv_str(principals, "principals.csv").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let wh = Warehouse::new(env.wh().to_str().unwrap()).unwrap();
        let inputs = Inputs::new(book, principals, Settings::default(), Default::default());
        let ctx = tokenledger::model::session(&wh, &inputs).await.unwrap();
        for grain in [Grain::Hourly, Grain::Daily] {
            let df = tokenledger::model::usage(&ctx, grain, &inputs.settings).await.unwrap();
            ctx.register_table(grain.table(), df.into_view()).unwrap();
        }
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    })
}

#[test]
fn hand_computed_costs() {
    let line = |id: &str, time: &str, model: &str, who: &str, status: u16, tokens: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"{time}","endpoint_name":"chat","served_entity_name":"{model}","requester":"{who}","status_code":{status},{tokens}}}"#
        )
    };
    let openai = r#""input_tokens":2048,"cached_input_tokens":1024,"output_tokens":100"#;
    let log = [
        // a price change inside a day: the last microsecond before it, and the first one after
        line("a", "2025-01-14T23:59:59.999999Z", "gpt-4o", "alice@x.com", 200, openai),
        line("b", "2025-01-15T00:00:00Z", "gpt-4o", "alice@x.com", 200, openai),
        // Anthropic-shaped: cache reads and writes, both inside input_tokens in the native format
        line(
            "c",
            "2025-01-15T10:00:00Z",
            "claude-3-5-sonnet",
            "alice@x.com",
            200,
            r#""input_tokens":1500,"cached_input_tokens":1000,"cache_creation_input_tokens":300,"output_tokens":50"#,
        ),
        line(
            "d",
            "2025-01-15T10:00:00Z",
            "mystery-model",
            "alice@x.com",
            200,
            r#""input_tokens":100,"output_tokens":10"#,
        ),
        line("e", "2025-01-15T10:30:00Z", "gpt-4o", "alice@x.com", 429, r#""input_tokens":null,"output_tokens":null"#),
        line("f", "2025-01-15T11:00:00Z", "gpt-4o", "ghost@x.com", 200, r#""input_tokens":10,"output_tokens":0"#),
    ];
    let env = Env::init();
    let f = env.write("log.jsonl", log.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    let prices = "# a comment\n\
        served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m,cache_write_price_per_1m\n\
        gpt-4o,2025-01-01,USD,2.50,1.25,10.00,\n\
        gpt-4o,2025-01-15,USD,2.00,1.00,8.00,\n\
        claude-3-5-sonnet,2025-01-01,USD,3.00,0.30,15.00,3.75\n";
    let principals = "requester,group,cost_center\nalice@x.com,data-science,CC-1\n";
    let got = query(
        &env,
        prices,
        principals,
        "SELECT COALESCE(price_version, 'unpriced') AS v, \"group\", cost_center, \
                CAST(sum(cost) AS VARCHAR) AS cost, sum(requests) AS requests, sum(rate_limited) AS rate_limited, \
                sum(unpriced_requests) AS unpriced, sum(unpriced_tokens) AS unpriced_tokens \
         FROM usage_hourly GROUP BY 1, 2, 3 ORDER BY 1, 2",
    );
    let text = arrow::util::pretty::pretty_format_batches(&got).unwrap().to_string();
    // 1024 x 2.50 + 1024 x 1.25 + 100 x 10.00 per 1M = 0.00484
    // 1024 x 2.00 + 1024 x 1.00 + 100 x 8.00 per 1M = 0.003872 (+ a 429 at 0, + ghost's 10 x 2.00)
    // 200 x 3.00 + 1000 x 0.30 + 300 x 3.75 + 50 x 15.00 per 1M = 0.002775
    let expected = "\
+------------------------------+--------------+-------------+----------------+----------+--------------+----------+-----------------+
| v                            | group        | cost_center | cost           | requests | rate_limited | unpriced | unpriced_tokens |
+------------------------------+--------------+-------------+----------------+----------+--------------+----------+-----------------+
| claude-3-5-sonnet@2025-01-01 | data-science | CC-1        | 0.002775000000 | 1        | 0            | 0        | 0               |
| gpt-4o@2025-01-01            | data-science | CC-1        | 0.004840000000 | 1        | 0            | 0        | 0               |
| gpt-4o@2025-01-15            | data-science | CC-1        | 0.003872000000 | 2        | 1            | 0        | 0               |
| gpt-4o@2025-01-15            | unassigned   | UNALLOCATED | 0.000020000000 | 1        | 0            | 0        | 0               |
| unpriced                     | data-science | CC-1        |                | 1        | 0            | 1        | 110             |
+------------------------------+--------------+-------------+----------------+----------+--------------+----------+-----------------+";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn latency_percentiles_are_nearest_rank() {
    // 20 requests in one hour with durations 20, 19, ..., 1 ms and one without a duration:
    // p50 is the 10th smallest (10), p95 the 19th (19), max 20
    let env = Env::init();
    let mut lines: Vec<String> = (1..=20)
        .map(|i| {
            format!(
                r#"{{"request_id":"r{i}","request_time":"2025-02-01T10:{i:02}:00Z","endpoint_name":"e","served_entity_name":"m","requester":"u","status_code":200,"execution_duration_ms":{}}}"#,
                21 - i
            )
        })
        .collect();
    lines.push(r#"{"request_id":"r0","request_time":"2025-02-01T10:30:00Z","endpoint_name":"e","served_entity_name":"m","requester":"u","status_code":200}"#.into());
    let f = env.write("lat.jsonl", lines.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    let prices = "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,1,1,1\n";
    let got = query(
        &env,
        prices,
        "requester,group,cost_center\n",
        "SELECT requests, latency_p50_ms, latency_p95_ms, latency_max_ms FROM usage_hourly \
         UNION ALL SELECT requests, latency_p50_ms, latency_p95_ms, latency_max_ms FROM usage_daily",
    );
    let text = arrow::util::pretty::pretty_format_batches(&got).unwrap().to_string();
    for line in text.lines().skip(3).take(2) {
        assert_eq!(line, "| 21       | 10             | 19             | 20             |", "\n{text}");
    }
}

#[test]
fn rollup_command_writes_usage_tables_and_is_repeatable() {
    let env = ingested_warehouse(3000, 10);
    let first: serde_json::Value = serde_json::from_str(&env.ok(&["--format", "json", "rollup"])).unwrap();
    assert_eq!(first["requests"], 3000);
    assert_eq!(first["dates"], 10);
    let hourly = env.rows("usage_hourly");
    let daily = env.rows("usage_daily");
    assert_eq!(sum_i64(&hourly, "requests"), 3000);
    assert_eq!(sum_i64(&daily, "requests"), 3000);
    assert_eq!(sum_decimal(&hourly, "cost"), sum_decimal(&daily, "cost"));
    assert_eq!(sum_decimal(&daily, "cost").to_string(), first["cost"][0][1].as_str().unwrap());
    // a second rollup replaces, it does not add
    let second: serde_json::Value = serde_json::from_str(&env.ok(&["--format", "json", "rollup"])).unwrap();
    assert_eq!(second["requests"], 3000);
    assert_eq!(second["cost"], first["cost"]);
    assert_eq!(sum_i64(&env.rows("usage_hourly"), "requests"), 3000);
    let text = env.ok(&["rollup"]);
    assert!(text.contains("cost (USD, unrounded)") && text.contains("3,000"), "{text}");
}

#[test]
fn a_broken_price_book_is_a_config_error_with_line_numbers() {
    let env = Env::init();
    env.write("wh/config/prices.csv", "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,-1,1,1\n");
    let err = env.fails(&["rollup"], 2);
    assert!(err.contains("line 2"), "{err}");
}

/// `tokenledger --format json rollup ARGS`, parsed.
fn rollup_json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json", "rollup"];
    all.extend_from_slice(args);
    serde_json::from_str(&env.ok(&all)).unwrap()
}

#[test]
fn incremental_rollup_recomputes_only_the_changed_date() {
    let env = ingested_warehouse(2000, 20);
    let rollup = |args: &[&str]| rollup_json(&env, args);
    let first = rollup(&[]);
    assert_eq!(first["mode"], "full");
    assert_eq!(first["dates_recomputed"].as_array().unwrap().len(), 20);
    // nothing new: nothing recomputed, nothing written
    let idle = rollup(&[]);
    assert_eq!(idle["mode"], "incremental");
    assert_eq!(idle["dates_recomputed"].as_array().unwrap().len(), 0);
    assert_eq!(idle["requests"], 2000);

    // one late request for the third day
    let late = r#"{"request_id":"late-1","request_time":"2025-01-03T12:00:00Z","endpoint_name":"chat","served_entity_name":"gpt-4o","requester":"late@x.com","status_code":200,"input_tokens":1000000,"output_tokens":0}"#;
    let f = env.write("late.jsonl", format!("{late}\n"));
    env.ingest_json(&[f.to_str().unwrap()]);
    let incremental = rollup(&[]);
    assert_eq!(incremental["mode"], "incremental");
    assert_eq!(incremental["dates_recomputed"], serde_json::json!(["2025-01-03"]));
    assert_eq!(incremental["requests"], 2001);
    assert_eq!(sum_i64(&env.rows("usage_hourly"), "requests"), 2001);
    // the incremental result is the full one
    let full = rollup(&["--full"]);
    assert_eq!(full["mode"], "full");
    assert_eq!(full["cost"], incremental["cost"]);
    let before: Decimal = first["cost"][0][1].as_str().unwrap().parse().unwrap();
    let after: Decimal = incremental["cost"][0][1].as_str().unwrap().parse().unwrap();
    // 1M uncached input tokens of gpt-4o at the base price of 2.50 per 1M
    assert_eq!(after - before, Decimal::new(250, 2));
    assert_eq!(sum_decimal(&env.rows("usage_daily"), "cost"), after);
}

#[test]
fn rerating_a_range_after_a_price_change_changes_only_that_range() {
    let env = ingested_warehouse(2000, 10);
    let rollup = |args: &[&str]| rollup_json(&env, args);
    let first = rollup(&[]);
    let total_before: Decimal = first["cost"][0][1].as_str().unwrap().parse().unwrap();
    // the cost of the hours of `dates` (the data files do not hold the partition column)
    let daily_cost = |dates: &[&str]| -> Decimal {
        let mut sum = Decimal::ZERO;
        for b in &env.rows("usage_hourly") {
            let hour = b.column_by_name("hour").unwrap().as_primitive::<TimestampMicrosecondType>();
            let cost = b.column_by_name("cost").unwrap().as_primitive::<Decimal128Type>();
            for i in 0..b.num_rows() {
                let day = chrono::DateTime::from_timestamp_micros(hour.value(i)).unwrap().date_naive().to_string();
                if dates.contains(&day.as_str()) && cost.is_valid(i) {
                    sum += Decimal::from_i128_with_scale(cost.value(i), 12);
                }
            }
        }
        sum
    };
    let range_before = daily_cost(&["2025-01-03", "2025-01-04"]);
    assert!(range_before > Decimal::ZERO);

    // every price doubles
    let prices_path = env.wh().join("config/prices.csv");
    let text = std::fs::read_to_string(&prices_path).unwrap();
    let doubled: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(n, line)| {
            if n == 0 || line.starts_with('#') {
                return line.to_string();
            }
            let cells: Vec<String> = line
                .split(',')
                .enumerate()
                .map(|(i, c)| match (i, c.parse::<Decimal>()) {
                    (3..=6, Ok(p)) => (p * Decimal::TWO).to_string(),
                    _ => c.to_string(),
                })
                .collect();
            cells.join(",")
        })
        .collect();
    std::fs::write(&prices_path, doubled.join("\n") + "\n").unwrap();

    // nothing new to roll up, but the user is told that the prices changed
    let idle = rollup(&[]);
    assert_eq!(idle["dates_recomputed"].as_array().unwrap().len(), 0);
    assert!(idle["notices"][0].as_str().unwrap().contains("prices.csv"), "{idle}");
    // --rerate needs a range
    let err = env.fails(&["rollup", "--rerate"], 2);
    assert!(err.contains("--from"), "{err}");

    let rerate = rollup(&["--rerate", "--from", "2025-01-03", "--to", "2025-01-04"]);
    assert_eq!(rerate["mode"], "rerate");
    assert_eq!(rerate["dates_recomputed"], serde_json::json!(["2025-01-03", "2025-01-04"]));
    let change = &rerate["rerate"][0];
    assert_eq!(change["currency"], "USD");
    assert_eq!(change["before"].as_str().unwrap().parse::<Decimal>().unwrap(), range_before);
    assert_eq!(change["after"].as_str().unwrap().parse::<Decimal>().unwrap(), range_before * Decimal::TWO);
    assert_eq!(change["change"].as_str().unwrap().parse::<Decimal>().unwrap(), range_before);
    let total_after: Decimal = rerate["cost"][0][1].as_str().unwrap().parse().unwrap();
    assert_eq!(total_after, total_before + range_before, "only the re-rated dates changed");
    assert_eq!(daily_cost(&["2025-01-03", "2025-01-04"]), range_before * Decimal::TWO);
    // the dates not re-rated keep the old prices, and each run names them until they are restated
    let after = rollup(&[]);
    assert_eq!(
        after["stale_config"]["dates"],
        serde_json::json!(["2025-01-01..2025-01-02", "2025-01-05..2025-01-10"]),
        "{after}"
    );

    // an open-ended restatement: from the 9th to the last date
    let restate = rollup(&["--from", "2025-01-09"]);
    assert_eq!(restate["mode"], "restate");
    assert_eq!(restate["dates_recomputed"], serde_json::json!(["2025-01-09", "2025-01-10"]));
    assert_eq!(sum_i64(&env.rows("usage_hourly"), "requests"), 2000);
    let err = env.fails(&["rollup", "--from", "2025-01-09", "--to", "2025-01-02"], 2);
    assert!(err.contains("after"), "{err}");
}

#[test]
fn usage_context_overrides_are_off_by_default_and_documented_when_on() {
    let env = Env::init();
    let log = [
        r#"{"request_id":"a","request_time":"2025-03-01T10:00:00Z","endpoint_name":"chat","served_entity_name":"m","requester":"svc-app","status_code":200,"input_tokens":10,"output_tokens":1,"usage_context":{"end_user_to_charge":"bob@x.com"}}"#,
        r#"{"request_id":"b","request_time":"2025-03-01T11:00:00Z","endpoint_name":"chat","served_entity_name":"m","requester":"svc-app","status_code":200,"input_tokens":10,"output_tokens":1,"usage_context":{"cost_center":"CC-77","project":"p"}}"#,
        r#"{"request_id":"c","request_time":"2025-03-01T12:00:00Z","endpoint_name":"chat","served_entity_name":"m","requester":"svc-app","status_code":200,"input_tokens":10,"output_tokens":1}"#,
    ];
    let f = env.write("log.jsonl", log.join("\n") + "\n");
    env.ingest_json(&[f.to_str().unwrap()]);
    env.write(
        "wh/config/prices.csv",
        "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\nm,2025-01-01,USD,1,1,1\n",
    );
    env.write("wh/config/principals.csv", "requester,group,cost_center\nsvc-app,platform,CC-1\nbob@x.com,sales,CC-2\n");
    let owners = || -> Vec<String> {
        let b = env.rows("usage_daily");
        let (r, g, c) = (strings(&b, "requester"), strings(&b, "group"), strings(&b, "cost_center"));
        let n = longs(&b, "requests");
        let mut rows: Vec<String> = (0..n.len())
            .map(|i| {
                format!(
                    "{} {} {} {}",
                    r[i].as_deref().unwrap(),
                    g[i].as_deref().unwrap(),
                    c[i].as_deref().unwrap(),
                    n[i]
                )
            })
            .collect();
        rows.sort();
        rows
    };
    env.ok(&["rollup"]);
    assert_eq!(owners(), ["svc-app platform CC-1 3"]);

    env.write("wh/config/settings.toml", "[attribution]\nusage_context_overrides = true\n");
    env.ok(&["rollup", "--full"]);
    assert_eq!(owners(), ["bob@x.com sales CC-2 1", "svc-app platform CC-1 1", "svc-app platform CC-77 1"]);

    env.write("wh/config/settings.toml", "[attribution]\nusage_context_override = true\n");
    let err = env.fails(&["rollup"], 2);
    assert!(err.contains("settings.toml line 2") && err.contains("usage_context_override"), "{err}");
}

/// Both usage tables as CSV, each row sorted.
fn usage_tables(env: &Env) -> Vec<Vec<String>> {
    ["usage_hourly", "usage_daily"]
        .iter()
        .map(|t| {
            let out = env.ok(&["--format", "csv", "sql", &format!("SELECT * FROM {t}")]);
            let mut rows: Vec<String> = out.lines().map(str::to_string).collect();
            rows.sort();
            rows
        })
        .collect()
}

#[test]
fn a_unit_too_big_to_hold_its_hourly_sums_gives_the_same_tables() {
    // one day of 20,000 requests is one unit; its hourly sums are held in memory (up to 512
    // bytes a request, half the budget over the lanes) with the default budget, and made
    // for each table from the requests with 16 MiB (at most 16,384 requests held on one core)
    let env = ingested_warehouse(20_000, 1);
    env.ok(&["rollup", "--full"]);
    let held = usage_tables(&env);
    assert!(held[0].len() > 500 && held[1].len() > 100, "{} and {} rows", held[0].len(), held[1].len());
    env.ok(&["rollup", "--full", "--memory-limit", "16MiB"]);
    assert_eq!(usage_tables(&env), held);
}

#[test]
fn units_held_and_too_big_to_hold_in_one_run_give_the_same_tables() {
    // a day of 20,000 requests after twenty days of 400: with 16 MiB (at most 8,192 requests
    // held on one of two cores) the small days' three units hold their sums, through the
    // plans a lane makes once, and the big day, last, sums its requests for each table on a
    // lane that has held sums before; with the default budget every unit holds its sums
    let env = ingested_warehouse(8000, 20);
    let big = env.generate("big", &["--rows", "20000", "--days", "1", "--start", "2025-01-21", "--seed", "7"]);
    env.ingest_json(&[big.join("logs").to_str().unwrap()]);
    env.ok(&["rollup", "--full"]);
    let held = usage_tables(&env);
    env.ok(&["rollup", "--full", "--memory-limit", "16MiB"]);
    assert_eq!(usage_tables(&env), held);
    let daily = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT count(DISTINCT \"date\") AS d, sum(requests) AS n FROM usage_daily",
    ]);
    assert_eq!(daily.lines().nth(1), Some("21,28000"), "{daily}");
}

#[test]
fn a_memory_budget_too_small_is_a_clear_error() {
    let env = ingested_warehouse(500, 2);
    let err = env.fails(&["rollup", "--memory-limit", "1KiB"], 2);
    assert!(err.contains("--memory-limit"), "{err}");
    // nothing was committed: the usage tables do not exist yet or hold no rows
    assert!(!env.wh().join("usage_hourly/_delta_log/00000000000000000001.json").exists());
    let ok: serde_json::Value =
        serde_json::from_str(&env.ok(&["--format", "json", "rollup", "--memory-limit", "64MiB"])).unwrap();
    assert_eq!(ok["requests"], 500);
    assert_eq!(ok["memory_limit_bytes"], 64 << 20);
}

#[test]
fn each_unit_of_a_lane_writes_its_own_dates_from_plans_made_once() {
    // 20 dates cut into about four units a lane (on up to ten cores, several a lane): a lane
    // plans its queries at its first unit and only points its scans and its held sums at each
    // next one; a unit that read another's dates or sums would show here as a date with the
    // wrong requests, or none
    let env = ingested_warehouse(2000, 20);
    env.ok(&["rollup", "--full"]);
    let per_date = |sql: &str| env.ok(&["--format", "csv", "sql", sql]);
    let inference = per_date("SELECT request_date AS d, count(*) AS n FROM inference GROUP BY 1 ORDER BY 1");
    let daily = per_date("SELECT \"date\" AS d, sum(requests) AS n FROM usage_daily GROUP BY 1 ORDER BY 1");
    let hourly = per_date("SELECT CAST(hour AS DATE) AS d, sum(requests) AS n FROM usage_hourly GROUP BY 1 ORDER BY 1");
    assert_eq!(inference.lines().count(), 21, "{inference}");
    assert_eq!(daily, inference);
    assert_eq!(hourly, inference);
}

#[test]
fn usage_tables_an_earlier_version_created_get_the_checkpoint_interval_at_the_next_rollup() {
    // the rollup opens its usage tables itself (it checks their columns against its query):
    // an older table must get the interval there too, not only where other commands open theirs
    let env = ingested_warehouse(500, 2);
    env.ok(&["-q", "rollup"]);
    let table_url = |name: &str| Warehouse::new(env.wh().to_str().unwrap()).unwrap().table_url(name).unwrap();
    let interval = |name: &str| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t = deltalake::open_table(table_url(name)).await.unwrap();
            t.snapshot().unwrap().metadata().configuration().get("delta.checkpointInterval").cloned()
        })
    };
    assert_eq!(interval("usage_hourly").as_deref(), Some("10"));
    // usage_hourly as delta-rs makes it by default (no interval), with the same columns
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = table_url("usage_hourly");
        let columns: Vec<_> =
            deltalake::open_table(url.clone()).await.unwrap().snapshot().unwrap().schema().fields().cloned().collect();
        std::fs::remove_dir_all(env.wh().join("usage_hourly")).unwrap();
        std::fs::create_dir_all(env.wh().join("usage_hourly")).unwrap();
        deltalake::DeltaTableBuilder::from_url(url)
            .unwrap()
            .build()
            .unwrap()
            .create()
            .with_columns(columns)
            .with_partition_columns(["date"])
            .await
            .unwrap();
    });
    assert_eq!(interval("usage_hourly"), None);
    env.ok(&["-q", "rollup", "--full"]);
    assert_eq!(interval("usage_hourly").as_deref(), Some("10"));
    assert_eq!(sum_i64(&env.rows("usage_hourly"), "requests"), 500);
}
