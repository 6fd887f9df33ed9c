//! `schemas/*.json` is the contract: the code's schemas and the files in the table agree with it.

use tokenledger::warehouse::schema::{contract_type, managed_tables};

use crate::util::{MIXED, Env, data_files};

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
    for (name, schema, partition) in managed_tables() {
        let c = contract(name);
        assert_eq!(c["table"], name);
        assert_eq!(c["partition_columns"], serde_json::json!([partition]));
        let code: Vec<(String, String, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), contract_type(f.data_type()), f.is_nullable()))
            .collect();
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
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap()).unwrap();
            let got: Vec<(String, String)> = reader
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), contract_type(f.data_type())))
                .collect();
            assert_eq!(got, want, "{}", f.display());
        }
    }
}
