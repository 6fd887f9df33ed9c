//! The layering of the source tree: the stages (`tokenledger::STAGES`) meet only through
//! tables, so no stage's code names another stage; the shared plumbing below them names no
//! stage either. `cli` and `run` sit above the stages and call them.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if d.is_file() {
            files.push(d);
            continue;
        }
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
                todo.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Where `code` names module `name` of the crate (`crate::name::`, `crate::name;`,
/// `crate::name::{`), as (line number, line).
fn mentions(code: &str, name: &str) -> Vec<(usize, String)> {
    let needle = format!("crate::{name}");
    code.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices(&needle).any(|(i, _)| {
                let after = line[i + needle.len()..].chars().next();
                !matches!(after, Some(c) if c.is_alphanumeric() || c == '_')
            })
        })
        .map(|(i, line)| (i + 1, line.trim().to_string()))
        .collect()
}

#[test]
fn no_stage_imports_another_and_the_plumbing_imports_none() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let module = |name: &str| if src.join(name).is_dir() { src.join(name) } else { src.join(format!("{name}.rs")) };
    let mut found = Vec::new();
    let below: Vec<&str> = tokenledger::PLUMBING.to_vec();
    for (layer, names) in [("stage", tokenledger::STAGES.to_vec()), ("plumbing", below)] {
        for name in names {
            let dir = module(name);
            assert!(dir.exists(), "{} is listed but has no source at {}", name, dir.display());
            for file in rust_files(&dir) {
                let code = std::fs::read_to_string(&file).unwrap();
                for stage in tokenledger::STAGES.iter().chain(["cli", "run"].iter()).filter(|s| **s != name) {
                    for (line, text) in mentions(&code, stage) {
                        found.push(format!(
                            "{}:{line}: {layer} `{name}` names `{stage}`: {text}",
                            file.strip_prefix(&src).unwrap().display()
                        ));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "imports across the layers:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_an_import_when_there_is_one() {
    assert_eq!(mentions("use crate::rollup::{Inputs};\nlet x = crate::rollups;", "rollup").len(), 1);
    assert_eq!(mentions("/// see [`crate::query`].", "query").len(), 1);
    assert!(mentions("use crate::chargeback_x;", "chargeback").is_empty());
}
