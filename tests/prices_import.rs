//! `tokenledger prices import litellm`: LiteLLM's price catalog into price-book rows, shown as a
//! diff against config/prices.csv and appended with --write. The catalog is
//! tests/data/litellm_prices.json (see tests/data/README.md for where its values come from).

use std::collections::HashMap;

use crate::util::Env;

const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/litellm_prices.json");
const DATE: &str = "2025-06-01";

fn import(env: &Env, extra: &[&str]) -> String {
    let mut args = vec!["prices", "import", "litellm", CATALOG, "--effective-from", DATE];
    args.extend_from_slice(extra);
    env.ok(&args)
}

fn import_json(env: &Env, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--format", "json", "prices", "import", "litellm", CATALOG, "--effective-from", DATE];
    args.extend_from_slice(extra);
    let out = env.ok(&args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn book(env: &Env) -> String {
    std::fs::read_to_string(env.wh().join("config/prices.csv")).unwrap()
}

/// The price book's rows (comments skipped), each as column -> cell.
fn book_rows(env: &Env) -> Vec<HashMap<String, String>> {
    let text = book(env);
    let data: String = text.lines().filter(|l| !l.trim_start().starts_with('#')).map(|l| format!("{l}\n")).collect();
    let mut reader = csv::Reader::from_reader(data.as_bytes());
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| header.iter().zip(r.unwrap().iter()).map(|(h, c)| (h.to_string(), c.to_string())).collect())
        .collect()
}

/// The book's row of (entity, service_tier cell, above_prompt_tokens cell) from DATE.
fn imported<'a>(
    rows: &'a [HashMap<String, String>],
    entity: &str,
    tier: &str,
    above: &str,
) -> &'a HashMap<String, String> {
    let found: Vec<_> = rows
        .iter()
        .filter(|r| {
            r["served_entity_name"] == entity
                && r["effective_from"] == DATE
                && r.get("service_tier").map_or("", String::as_str) == tier
                && r.get("above_prompt_tokens").map_or("", String::as_str) == above
        })
        .collect();
    assert_eq!(found.len(), 1, "one row of {entity} {tier:?} {above:?} from {DATE}: {rows:?}");
    found[0]
}

/// The (served_entity_name, service_tier, above_prompt_tokens, status) of each planned row.
fn statuses(plan: &serde_json::Value) -> Vec<(String, String, Option<u64>, String)> {
    plan["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["served_entity_name"].as_str().unwrap().to_string(),
                r["service_tier"].as_str().unwrap().to_string(),
                r["above_prompt_tokens"].as_u64(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_diff_writes_nothing_write_appends_and_a_second_import_appends_nothing() {
    let env = Env::init();
    let before = book(&env);
    let models = ["--model", "claude-sonnet-4-5", "--model", "gpt-4o"];
    let out = import(&env, &models);
    assert_eq!(book(&env), before, "without --write the book is untouched");
    // the template prices gpt-4o at 2.00 / 1.00 / 8.00 from 2025-03-01 (its line 9)
    let changed = out.lines().find(|l| l.contains("gpt-4o") && l.contains("input_price_per_1m")).unwrap();
    assert!(changed.contains("changed (line 9)") && changed.contains("2.00") && changed.contains("2.5"), "{out}");
    assert!(out.contains("run again with --write to append 6 rows to"), "{out}");

    let out = import(&env, &[&models[..], &["--write"]].concat());
    assert!(out.contains("appended 6 rows to"), "{out}");
    let after = book(&env);
    // the comments are kept as they were; the header gains the new columns, old rows empty cells
    let comments = |t: &str| t.lines().filter(|l| l.starts_with('#')).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(comments(&after), comments(&before));
    assert!(after.starts_with(&before[..before.find("served_entity_name").unwrap()]));
    let header = after.lines().find(|l| l.starts_with("served_entity_name")).unwrap();
    assert!(header.ends_with(",retires_on,service_tier,above_prompt_tokens,cache_write_1h_price_per_1m,web_search_price_per_1k,provider,catalog_model"), "{header}");
    assert!(after.contains("\ngpt-4o,2025-03-01,USD,2.00,1.00,8.00,,per_token,,,,,,,\n"), "{after}");
    assert_eq!(after.lines().count(), before.lines().count() + 6);
    let rows = book_rows(&env);
    let gpt = imported(&rows, "gpt-4o", "", "");
    assert_eq!((gpt["input_price_per_1m"].as_str(), gpt["output_price_per_1m"].as_str()), ("2.5", "10"));
    assert_eq!(gpt["pricing_mode"], "per_token", "carried over from the row in force");
    assert_eq!((gpt["provider"].as_str(), gpt["catalog_model"].as_str()), ("openai", "gpt-4o"));

    let out = import(&env, &[&models[..], &["--write"]].concat());
    assert_eq!(book(&env), after, "the same import again writes nothing");
    assert!(out.contains("nothing to write"), "{out}");
    let plan = import_json(&env, &models);
    assert!(statuses(&plan).iter().all(|(.., status)| status == "unchanged"), "{plan}");
    assert_eq!(plan["rows_written"], 0);
}

#[test]
fn prices_per_token_become_exact_prices_per_million() {
    let env = Env::init();
    import(
        &env,
        &[
            "--model",
            "claude-sonnet-4-5",
            "--model",
            "gemini-2.5-flash",
            "--model",
            "gpt-4o-mini-search-preview",
            "--write",
        ],
    );
    let rows = book_rows(&env);
    let sonnet = imported(&rows, "claude-sonnet-4-5", "", "");
    assert_eq!(sonnet["input_price_per_1m"], "3");
    assert_eq!(sonnet["cached_input_price_per_1m"], "0.3", "3e-07 per token");
    assert_eq!(sonnet["output_price_per_1m"], "15", "1.5e-05 per token");
    assert_eq!(sonnet["cache_write_price_per_1m"], "3.75");
    assert_eq!(sonnet["cache_write_1h_price_per_1m"], "6");
    assert_eq!(sonnet["web_search_price_per_1k"], "10", "0.01 per query");
    assert_eq!(sonnet["currency"], "USD");
    let flash = imported(&rows, "gemini-2.5-flash", "", "");
    assert_eq!(flash["input_price_per_1m"], "0.3", "3e-07 per token");
    assert_eq!(flash["cached_input_price_per_1m"], "0.03");
    assert_eq!(flash["reasoning_price_per_1m"], "2.5");
    assert_eq!(flash["input_audio_price_per_1m"], "1");
    assert_eq!(flash["web_search_price_per_1k"], "35");
    assert_eq!(
        imported(&rows, "gpt-4o-mini-search-preview", "", "")["web_search_price_per_1k"],
        "27.5",
        "0.0275 per query"
    );
}

#[test]
fn each_tier_of_the_catalog_is_a_row_and_a_rate_it_lacks_is_an_empty_cell() {
    let env = Env::init();
    let models = [
        "claude-sonnet-4-5",
        "gpt-4o",
        "gpt-5",
        "gpt-5.4",
        "gemini-3-pro-preview",
        "gpt-4o-audio-preview",
        "o3-mini",
        "claude-3-7-sonnet-20250219",
        "gpt-3.5-turbo",
    ];
    let mut args: Vec<&str> = models.iter().flat_map(|m| ["--model", m]).collect();
    let plan = import_json(&env, &args);
    let claude: Vec<_> = statuses(&plan).into_iter().filter(|(name, ..)| name == "claude-sonnet-4-5").collect();
    let tiers: Vec<_> = claude.iter().map(|(_, tier, above, _)| (tier.as_str(), *above)).collect();
    assert_eq!(tiers, vec![("standard", None), ("standard", Some(200_000)), ("batch", None)]);
    let notes = plan["notes"].to_string();
    assert!(notes.contains("cached_input_price_per_1m is left empty on claude-sonnet-4-5 batch"), "{notes}");
    assert!(notes.contains("cached_input_price_per_1m is the input price for"), "{notes}");
    args.push("--write");
    import(&env, &args);
    let rows = book_rows(&env);

    let above = imported(&rows, "claude-sonnet-4-5", "", "200000");
    let cell = |row: &HashMap<String, String>, c: &str| row[c].clone();
    assert_eq!(cell(above, "input_price_per_1m"), "6");
    assert_eq!(cell(above, "cached_input_price_per_1m"), "0.6");
    assert_eq!(cell(above, "output_price_per_1m"), "22.5");
    assert_eq!(cell(above, "cache_write_price_per_1m"), "7.5");
    assert_eq!(cell(above, "cache_write_1h_price_per_1m"), "12");
    assert_eq!(cell(above, "web_search_price_per_1k"), "", "not a rate of the tier in the catalog");
    let batch = imported(&rows, "claude-sonnet-4-5", "batch", "");
    assert_eq!((cell(batch, "input_price_per_1m"), cell(batch, "output_price_per_1m")), ("1.5".into(), "7.5".into()));
    assert_eq!(cell(batch, "cached_input_price_per_1m"), "", "missing for the tier: empty, never the standard rate");
    assert_eq!(cell(batch, "cache_write_price_per_1m"), "");

    let priority = imported(&rows, "gpt-4o", "priority", "");
    assert_eq!(cell(priority, "cached_input_price_per_1m"), "2.125");
    assert_eq!(cell(imported(&rows, "gpt-4o", "batch", ""), "output_price_per_1m"), "5");
    assert_eq!(cell(imported(&rows, "gpt-5", "flex", ""), "input_price_per_1m"), "0.625");
    assert_eq!(cell(imported(&rows, "gpt-5.4", "", "272000"), "input_price_per_1m"), "5");
    let gemini = imported(&rows, "gemini-3-pro-preview", "priority", "200000");
    assert_eq!(
        (cell(gemini, "input_price_per_1m"), cell(gemini, "output_price_per_1m")),
        ("7.2".into(), "32.4".into())
    );
    assert_eq!(cell(imported(&rows, "gemini-3-pro-preview", "", ""), "retires_on"), "2026-03-26");
    let audio = imported(&rows, "gpt-4o-audio-preview", "", "");
    assert_eq!(
        (cell(audio, "input_audio_price_per_1m"), cell(audio, "output_audio_price_per_1m")),
        ("40".into(), "80".into())
    );
    assert_eq!(cell(imported(&rows, "o3-mini", "", ""), "reasoning_price_per_1m"), "4.4");
    assert_eq!(cell(imported(&rows, "claude-3-7-sonnet-20250219", "", ""), "retires_on"), "2026-02-19");
    let turbo = imported(&rows, "gpt-3.5-turbo", "", "");
    assert_eq!(
        cell(turbo, "cached_input_price_per_1m"),
        cell(turbo, "input_price_per_1m"),
        "no caching: the input price"
    );
}

#[test]
fn provider_and_model_filters_pick_the_models_and_the_rest_is_skipped_and_counted() {
    let env = Env::init();
    let names = |plan: &serde_json::Value| {
        let mut names: Vec<String> = statuses(plan).into_iter().map(|(name, ..)| name).collect();
        names.dedup();
        names
    };
    let plan = import_json(&env, &["--provider", "deepseek"]);
    assert_eq!(names(&plan), ["deepseek-chat", "deepseek-reasoner"]);
    let plan = import_json(&env, &["--provider", "deepseek", "--provider", "bedrock"]);
    assert_eq!(names(&plan), ["ai21.jamba-1-5-mini-v1:0", "deepseek-chat", "deepseek-reasoner"]);
    assert_eq!(plan["skipped"][0]["model"], "amazon.nova-canvas-v1:0", "bedrock's image model has no token prices");
    let plan = import_json(&env, &["--provider", "openai", "--model", "gpt-4o-mini"]);
    assert_eq!(names(&plan), ["gpt-4o-mini"]);

    let plan = import_json(&env, &[]);
    let all = names(&plan);
    assert!(!all.iter().any(|n| n == "sample_spec"), "the specification entry is no model");
    let skipped: Vec<&str> = plan["skipped"].as_array().unwrap().iter().map(|s| s["model"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["1024-x-1024/dall-e-2", "amazon.nova-canvas-v1:0", "gpt-realtime-whisper"]);
    assert!(plan["skipped"][2]["reason"].as_str().unwrap().contains("no input_cost_per_token"));
    assert_eq!(all.len() + skipped.len(), 35, "every model of the catalog is imported or skipped");
    let out = import(&env, &[]);
    assert!(out.contains("35 catalog models read") && out.contains("3 models skipped"), "{out}");
}

#[test]
fn an_alias_names_the_served_entity_and_the_book_remembers_it() {
    let env = Env::init();
    let out = import(&env, &["--model", "claude-sonnet-4-5", "--alias", "team-sonnet=claude-sonnet-4-5", "--write"]);
    assert!(out.contains("appended 3 rows"), "{out}");
    let rows = book_rows(&env);
    let row = imported(&rows, "team-sonnet", "", "");
    assert_eq!((row["catalog_model"].as_str(), row["input_price_per_1m"].as_str()), ("claude-sonnet-4-5", "3"));
    assert!(
        !rows.iter().any(|r| r["served_entity_name"] == "claude-sonnet-4-5"),
        "the key is not a served entity here"
    );
    // without the alias, the book's rows of that catalog model give the name
    let plan = import_json(&env, &["--model", "claude-sonnet-4-5"]);
    let names: Vec<_> = statuses(&plan).into_iter().map(|(name, .., status)| (name, status)).collect();
    assert_eq!(names, vec![("team-sonnet".to_string(), "unchanged".to_string()); 3]);
    // two aliases of one key: a row set for each
    let plan = import_json(&env, &["--model", "gpt-4o-mini", "--alias", "a=gpt-4o-mini", "--alias", "b=gpt-4o-mini"]);
    let names: Vec<String> = statuses(&plan).into_iter().map(|(name, ..)| name).collect();
    assert_eq!(names, ["a", "a", "a", "b", "b", "b"]);
}

#[test]
fn unknown_names_bad_aliases_and_conflicting_rows_are_usage_errors() {
    let env = Env::init();
    let run = |extra: &[&str]| {
        let mut args = vec!["prices", "import", "litellm", CATALOG, "--effective-from", DATE];
        args.extend_from_slice(extra);
        env.fails(&args, 2)
    };
    let err = run(&["--model", "gpt-4oo"]);
    assert!(err.contains("no model `gpt-4oo` in the catalog") && err.contains("close: gpt-4o"), "{err}");
    let err = run(&["--provider", "antropic"]);
    assert!(err.contains("litellm_provider `antropic`") && err.contains("close: anthropic"), "{err}");
    let err = run(&["--model", "gpt-realtime-whisper"]);
    assert!(err.contains("`gpt-realtime-whisper` cannot be imported: no input_cost_per_token"), "{err}");
    let err = run(&["--provider", "anthropic", "--model", "gpt-4o"]);
    assert!(err.contains("model `gpt-4o` is of provider `openai`"), "{err}");
    let err = run(&["--alias", "claude-sonnet-4-5"]);
    assert!(err.contains("write it as SERVED_ENTITY=CATALOG_KEY"), "{err}");
    let err = run(&["--model", "gpt-4o", "--alias", "x=gpt-4o", "--alias", "x=gpt-4o-mini"]);
    assert!(err.contains("not among the models selected"), "{err}");
    let err = run(&["--alias", "x=gpt-4o", "--alias", "x=gpt-4o-mini"]);
    assert!(err.contains("served entity `x` would be priced from two catalog models"), "{err}");
    let err = env.fails(&["prices", "import", "litellm", CATALOG, "--effective-from", "01/06/2025"], 2);
    assert!(err.contains("--effective-from"), "{err}");

    // a row of the book from the same date with other prices cannot get a second row
    let before = book(&env);
    let conflicting = format!("{before}gpt-4o-mini,{DATE},USD,9,9,9,,per_token,\n");
    env.write("wh/config/prices.csv", &conflicting);
    let out = import(&env, &["--model", "gpt-4o-mini"]);
    assert!(out.contains("conflict (line 13)"), "{out}");
    let err = run(&["--model", "gpt-4o-mini", "--write"]);
    assert!(err.contains("line 13: gpt-4o-mini (standard) already has a row from 2025-06-01"), "{err}");
    assert_eq!(book(&env), conflicting, "nothing was written");
}

#[test]
fn unreadable_catalogs_are_input_errors_naming_the_file_and_the_entry() {
    let env = Env::init();
    let run = |file: &str| {
        let path = env.path(file);
        let args = ["prices", "import", "litellm", path.to_str().unwrap(), "--effective-from", DATE];
        env.fails(&args, 1)
    };
    env.write("broken.json", "{\n  \"gpt-4o\": {\"input_cost_per_token\": 2.5e-06,,}\n}\n");
    let err = run("broken.json");
    assert!(err.contains("broken.json: not valid JSON") && err.contains("line 2"), "{err}");
    env.write("entry.json", r#"{"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05}, "last_updated": "2025-06-01"}"#);
    let err = run("entry.json");
    assert!(err.contains("model `last_updated` is a JSON string, not an object of prices"), "{err}");
    env.write("array.json", "[1, 2]");
    assert!(run("array.json").contains("the catalog is a JSON array, not an object"));
    env.write("price.json", r#"{"gpt-4o": {"input_cost_per_token": "cheap", "output_cost_per_token": 1e-05}}"#);
    let err = run("price.json");
    assert!(err.contains("model `gpt-4o`, field `input_cost_per_token` is a JSON string, not a number"), "{err}");
    env.write(
        "date.json",
        r#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06, "deprecation_date": "soon"}}"#,
    );
    assert!(run("date.json").contains("model `m`, field `deprecation_date` `soon` is not a date"));
    let err = run("missing.json");
    assert!(err.contains("cannot read") && err.contains("missing.json"), "{err}");
}

/// The round trip: a book imported from the catalog prices requests as the providers' price
/// pages do (the catalog's values for Claude Sonnet 4.5 and GPT-4o are Anthropic's and OpenAI's
/// published prices), through the rollup and into the chargeback.
#[test]
fn an_imported_book_prices_requests_as_the_providers_bill_them() {
    let env = Env::init();
    import(&env, &["--model", "claude-sonnet-4-5", "--model", "gpt-4o", "--write"]);
    let request = |id: &str, entity: &str, extra: &str| {
        format!(
            r#"{{"request_id":"{id}","request_time":"2025-06-10T10:00:00Z","endpoint_name":"chat","served_entity_name":"{entity}","requester":"ana@example.com","status_code":200,{extra}}}"#
        )
    };
    let sonnet = "claude-sonnet-4-5";
    let lines = [
        // (hand-computed cost in the comment, per million: Sonnet 4.5 3 / 0.30 / 15, writes 3.75 (5 min)
        // and 6 (1 h), above 200k 6 / 0.60 / 22.50 and 12 (1 h), batch 1.50 / 7.50, searches 10 per 1k;
        // GPT-4o priority 4.25 / 2.125 / 17)
        request("long", sonnet, r#""input_tokens":250000,"output_tokens":1000"#), // 1.5225
        request("under", sonnet, r#""input_tokens":199999,"output_tokens":1000"#), // 0.614997
        request(
            "write-1h",
            sonnet,
            r#""input_tokens":10100,"cache_creation_input_tokens":10000,"cache_creation_1h_input_tokens":10000,"output_tokens":500"#,
        ), // 0.0678
        request("batch", sonnet, r#""input_tokens":10000,"output_tokens":2000,"service_tier":"batch""#), // 0.03
        request(
            "priority",
            "gpt-4o",
            r#""input_tokens":1200,"cached_input_tokens":1024,"output_tokens":300,"service_tier":"priority""#,
        ), // 0.008024
        request("searches", sonnet, r#""input_tokens":2048,"output_tokens":503,"web_search_requests":3"#), // 0.043689
        // 200,000 uncached + 100,000 written for an hour: over 200k, so 200,000 x 6 + 100,000 x 12 + 1,000 x 22.50
        request(
            "long-write-1h",
            sonnet,
            r#""input_tokens":300000,"cache_creation_input_tokens":100000,"cache_creation_1h_input_tokens":100000,"output_tokens":1000"#,
        ), // 2.4225
    ];
    let file = env.write("requests.jsonl", lines.join("\n") + "\n");
    env.ingest_json(&[file.to_str().unwrap()]);
    env.ok(&["rollup"]);
    let costs = env.ok(&[
        "--format",
        "csv",
        "sql",
        "SELECT request_id, CAST(cost AS VARCHAR) AS cost FROM priced_requests ORDER BY request_id",
    ]);
    assert_eq!(
        costs,
        "request_id,cost\nbatch,0.030000000000\nlong,1.522500000000\nlong-write-1h,2.422500000000\n\
         priority,0.008024000000\nsearches,0.043689000000\nunder,0.614997000000\nwrite-1h,0.067800000000\n"
    );
    // the chargeback of the month: 4.70903 in all, to the cent
    let out = env.ok(&["chargeback", "--period", "2025-06"]);
    assert!(
        out.lines().any(|l| l.contains("*TOTAL*") && l.contains(" USD ") && l.trim_end().ends_with(" 4.71")),
        "{out}"
    );
}
