//! `schemas/*.json` is the contract: the code's schemas and the files in the table agree with it.

use tokenledger::warehouse::schema::{contract_type, managed_tables};

use crate::util::{Env, MIXED, data_files};

fn contract(table: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("schemas/{table}.json")).expect("schemas/<table>.json exists");
    serde_json::from_str(&text).expect("valid JSON")
}

/// (name, type, nullable) of every column of the contract.
fn contract_columns(c: &serde_json::Value) -> Vec<(String, String, bool)> {
    c["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|col| {
            assert!(col["description"].as_str().is_some_and(|d| d.len() > 5), "{col} lacks a description");
            (
                col["name"].as_str().unwrap().to_string(),
                col["type"].as_str().unwrap().to_string(),
                col["nullable"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn code_and_contract_agree() {
    // the tables init makes, and those a command makes on first use (runs, bill_lines)
    let tables = managed_tables().into_iter().chain(tokenledger::warehouse::schema::on_demand_tables());
    for (name, schema, partition) in tables {
        let c = contract(name);
        assert_eq!(c["table"], name);
        assert_eq!(c["partition_columns"], serde_json::json!([partition]));
        let code: Vec<(String, String, bool)> =
            schema.fields().iter().map(|f| (f.name().clone(), contract_type(f.data_type()), f.is_nullable())).collect();
        assert_eq!(code, contract_columns(&c), "schemas/{name}.json and the code differ");
    }
}

#[test]
fn parquet_files_in_the_table_have_the_contract_schema() {
    let env = Env::init();
    env.ingest_json(&[MIXED]);
    for (name, _, partition) in managed_tables() {
        let want: Vec<(String, String)> = contract_columns(&contract(name))
            .into_iter()
            .filter(|(n, _, _)| n != partition) // partition values live in the paths
            .map(|(n, t, _)| (n, t))
            .collect();
        let files = data_files(&env.wh().join(name));
        assert!(!files.is_empty(), "{name} has data files");
        for f in files {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&f).unwrap(),
            )
            .unwrap();
            let got: Vec<(String, String)> =
                reader.schema().fields().iter().map(|f| (f.name().clone(), contract_type(f.data_type()))).collect();
            assert_eq!(got, want, "{}", f.display());
        }
    }
}

/// The usage tables' schema is what `sql/usage.sql` produces: the contract pins it, so that a
/// change to the SQL that changes a column is a visible change to the contract too.
#[test]
fn usage_models_and_contracts_agree() {
    use tokenledger::model::{Grain, Inputs};
    use tokenledger::pricing::{PriceBook, Principals, Settings};
    let env = Env::init();
    let inputs = Inputs::new(
        PriceBook::from_csv_str(
            "served_entity_name,effective_from,currency,input_price_per_1m,cached_input_price_per_1m,output_price_per_1m\n",
            "prices.csv",
        )
        .unwrap(),
        Principals::from_csv_str("requester,group,cost_center\n", "principals.csv").unwrap(),
        Settings::default(),
        Default::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let wh = tokenledger::warehouse::Warehouse::new(env.wh().to_str().unwrap()).unwrap();
        let ctx = tokenledger::model::session(&wh, &inputs).await.unwrap();
        for grain in [Grain::Hourly, Grain::Daily] {
            let c = contract(grain.table());
            assert_eq!(c["table"], grain.table());
            assert_eq!(c["partition_columns"], serde_json::json!(["date"]));
            let df = tokenledger::model::usage(&ctx, grain, &inputs.settings).await.unwrap();
            let code: Vec<(String, String, bool)> = df
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), contract_type(f.data_type()), f.is_nullable()))
                .collect();
            assert_eq!(
                code,
                contract_columns(&c),
                "schemas/{}.json and sql/usage.sql differ:\n{code:#?}",
                grain.table()
            );
        }
    });
}
