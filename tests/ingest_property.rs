//! Property: for any mix of valid, invalid and repeated records,
//! read = written + duplicates + quarantined, and written = distinct valid request ids.

use std::collections::HashMap;

use proptest::prelude::*;
use tokenledger::ingest::{IngestOptions, ingest};
use tokenledger::warehouse::Warehouse;

#[derive(Debug, Clone)]
enum Line {
    Valid { id: u8, tokens: u16 },
    Invalid(u8),
}

fn render(line: &Line) -> String {
    match line {
        Line::Valid { id, tokens } => format!(
            r#"{{"request_id":"id-{id}","request_time":"2025-02-0{}T00:00:00Z","endpoint_name":"e","served_entity_name":"m","requester":"r","status_code":200,"input_tokens":{tokens},"output_tokens":1}}"#,
            1 + id % 3
        ),
        Line::Invalid(kind) => match kind % 5 {
            0 => "{broken".to_string(),
            1 => r#"{"request_id":"bad","request_time":"yesterday","endpoint_name":"e","served_entity_name":"m","requester":"r","status_code":200}"#.to_string(),
            2 => r#"{"request_time":"2025-02-01T00:00:00Z","endpoint_name":"e","served_entity_name":"m","requester":"r","status_code":200}"#.to_string(),
            3 => r#"{"request_id":"neg","request_time":"2025-02-01T00:00:00Z","endpoint_name":"e","served_entity_name":"m","requester":"r","status_code":200,"input_tokens":-1}"#.to_string(),
            _ => "42".to_string(),
        },
    }
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        3 => (0u8..20, 0u16..3).prop_map(|(id, tokens)| Line::Valid { id, tokens }),
        1 => any::<u8>().prop_map(Line::Invalid),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn counts_always_add_up(files in prop::collection::vec(prop::collection::vec(line(), 0..40), 1..3)) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let wh = Warehouse::new(dir.path().join("wh").to_str().unwrap()).unwrap();
        rt.block_on(wh.init()).unwrap();
        let mut paths = Vec::new();
        for (i, lines) in files.iter().enumerate() {
            let text: String = lines.iter().map(|l| render(l) + "\n").collect();
            let p = dir.path().join(format!("f{i}.jsonl"));
            std::fs::write(&p, text).unwrap();
            paths.push(p);
        }
        let opts = IngestOptions { paths, threads: 2, ..IngestOptions::default() };
        let s = rt.block_on(ingest(&wh, &opts)).unwrap();

        // the model: files in name order (f0, f1...) lines in order, first version of an id wins
        let mut first: HashMap<u8, u16> = HashMap::new();
        let (mut read, mut invalid, mut dups, mut conflicts) = (0u64, 0u64, 0u64, 0u64);
        // identical files are skipped whole
        let mut seen_files = std::collections::HashSet::new();
        for lines in &files {
            let text: String = lines.iter().map(|l| render(l) + "\n").collect();
            if !seen_files.insert(text) { continue; }
            for l in lines {
                read += 1;
                match l {
                    Line::Invalid(_) => invalid += 1,
                    Line::Valid { id, tokens } => match first.get(id) {
                        None => { first.insert(*id, *tokens); }
                        Some(t) if t == tokens => dups += 1,
                        Some(_) => conflicts += 1,
                    },
                }
            }
        }
        prop_assert_eq!(s.records_read, read);
        prop_assert_eq!(s.records_read, s.rows_written + s.duplicates_skipped + s.quarantined);
        prop_assert_eq!(s.rows_written, first.len() as u64);
        prop_assert_eq!(s.duplicates_skipped, dups);
        prop_assert_eq!(s.quarantined, invalid + conflicts);
    }
}
