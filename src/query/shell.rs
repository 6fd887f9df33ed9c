//! The interactive SQL shell of `tokenledger sql` (no query given): statements end with `;`
//! and may span lines, `\d` lists the tables, `\d NAME` a table's columns, `\format` switches
//! the output, `\q` quits. On a terminal lines are edited and kept in a history file
//! (rustyline); from a pipe the same shell reads its standard input, without prompts, so that a
//! script (or a test) can drive it.

use std::io::{BufRead, Write};
use std::time::Instant;

use datafusion::prelude::SessionContext;

use super::{kind_of, query};
use crate::error::{Error, Result};
use crate::output::Table;
use crate::output::results::{self as output, Format};

const HELP: &str = "\
Statements end with ; and may span lines. Commands:
  \\d              the tables, config files and views you can query
  \\d NAME         a table's columns and their types
  \\format NAME    how results are printed: table, csv or json
  \\maxrows N      print at most N rows of a result as a table (0: all; default 40)
  \\timing         show how long each statement took (on / off)
  \\?              this help
  \\q              quit (or Ctrl-D)";

/// One line read, or why there is none.
pub enum Input {
    Line(String),
    /// Ctrl-C: drop the statement being typed.
    Interrupted,
    End,
}

/// Where the shell's lines come from.
pub trait LineSource {
    fn read(&mut self, prompt: &str) -> Result<Input>;
    /// Remembers a finished statement or command (the history of an editor).
    fn remember(&mut self, _entry: &str) {}
}

/// Lines from a pipe or file: no prompts, no history.
pub struct Plain<R: BufRead>(pub R);

impl<R: BufRead> LineSource for Plain<R> {
    fn read(&mut self, _prompt: &str) -> Result<Input> {
        let mut line = Vec::new();
        if self.0.read_until(b'\n', &mut line)? == 0 {
            return Ok(Input::End);
        }
        let line = String::from_utf8(line).map_err(|_| Error::Usage("the shell's input is not UTF-8".into()))?;
        Ok(Input::Line(line.trim_end_matches(['\n', '\r']).to_string()))
    }
}

/// A terminal: rustyline's editor with a history file.
pub struct Editor {
    editor: rustyline::DefaultEditor,
    history: Option<std::path::PathBuf>,
}

impl Editor {
    /// An editor whose history lives in `history` (loaded now, saved on drop).
    pub fn new(history: Option<std::path::PathBuf>) -> Result<Self> {
        let mut editor = rustyline::DefaultEditor::new().map_err(|e| Error::Internal(format!("line editor: {e}")))?;
        if let Some(path) = &history {
            let _ = editor.load_history(path); // none yet is fine
        }
        Ok(Self { editor, history })
    }
}

impl LineSource for Editor {
    fn read(&mut self, prompt: &str) -> Result<Input> {
        use rustyline::error::ReadlineError;
        // the editor blocks this thread; let the runtime move other work off it meanwhile
        match tokio::task::block_in_place(|| self.editor.readline(prompt)) {
            Ok(line) => Ok(Input::Line(line)),
            Err(ReadlineError::Interrupted) => Ok(Input::Interrupted),
            Err(ReadlineError::Eof) => Ok(Input::End),
            Err(e) => Err(Error::Internal(format!("reading a line: {e}"))),
        }
    }

    fn remember(&mut self, entry: &str) {
        let _ = self.editor.add_history_entry(entry);
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        if let Some(path) = &self.history {
            let _ = self.editor.save_history(path);
        }
    }
}

/// The shell's state: the session, how results are printed, and what failed.
pub struct Shell<'a> {
    ctx: &'a SessionContext,
    format: Format,
    timing: bool,
    /// Rows printed of a result in table format (0: all).
    max_rows: usize,
    /// The exit code of the first statement that failed, if any.
    pub first_failure: Option<i32>,
}

impl<'a> Shell<'a> {
    pub fn new(ctx: &'a SessionContext, format: Format) -> Self {
        Self { ctx, format, timing: false, max_rows: 40, first_failure: None }
    }

    /// Reads and runs statements and commands until `\q` or the end of the input. Results go
    /// to `out`, errors to `err`; a failed statement does not end the shell.
    pub async fn run(&mut self, input: &mut dyn LineSource, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
        let mut statement = String::new();
        loop {
            let prompt = if statement.is_empty() { "tokenledger> " } else { "        ...> " };
            let line = match input.read(prompt)? {
                Input::Line(line) => line,
                Input::Interrupted => {
                    statement.clear();
                    continue;
                }
                Input::End => break,
            };
            let trimmed = line.trim();
            if statement.is_empty() && trimmed.starts_with('\\') {
                input.remember(trimmed);
                if !self.command(trimmed, out, err).await? {
                    return Ok(());
                }
                continue;
            }
            if statement.is_empty() && trimmed.is_empty() {
                continue;
            }
            statement.push_str(&line);
            statement.push('\n');
            if ends_statement(&statement) {
                input.remember(statement.trim());
                for sql in split_statements(&statement) {
                    self.execute(&sql, out, err).await?;
                }
                statement.clear();
            }
        }
        // the end of a script also ends its last statement
        for sql in split_statements(&statement) {
            self.execute(&sql, out, err).await?;
        }
        Ok(())
    }

    async fn execute(&mut self, sql: &str, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
        let started = Instant::now();
        match query(self.ctx, sql).await {
            Ok(batches) => {
                let rows = output::row_count(&batches);
                let shown = if self.format == Format::Table && self.max_rows > 0 {
                    first_rows(&batches, self.max_rows)
                } else {
                    batches
                };
                if let Err(e) = output::write(&shown, self.format, out) {
                    self.failed(&e, err)?;
                }
                if self.format == Format::Table {
                    let s = if rows == 1 { "" } else { "s" };
                    match output::row_count(&shown) {
                        n if n < rows => writeln!(
                            out,
                            "({} row{s}, the first {n} shown; \\maxrows 0 shows all)",
                            crate::output::thousands(rows as u64)
                        )?,
                        _ => writeln!(out, "({} row{s})", crate::output::thousands(rows as u64))?,
                    }
                }
            }
            Err(e) => self.failed(&e, err)?,
        }
        if self.timing {
            writeln!(out, "Time: {:.3} s", started.elapsed().as_secs_f64())?;
        }
        out.flush()?;
        Ok(())
    }

    fn failed(&mut self, e: &Error, err: &mut dyn Write) -> Result<()> {
        self.first_failure.get_or_insert(e.exit_code());
        writeln!(err, "error: {e}")?;
        Ok(())
    }

    /// Runs a backslash command; false for `\q`.
    async fn command(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Result<bool> {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        let arg = words.next();
        match (name, arg) {
            ("\\q" | "\\quit", _) => return Ok(false),
            ("\\?" | "\\h" | "\\help", _) => writeln!(out, "{HELP}")?,
            ("\\d", None) => write!(out, "{}", self.tables().await?)?,
            ("\\d", Some(table)) => match self.columns(table).await {
                Ok(text) => write!(out, "{text}")?,
                Err(e) => self.failed(&e, err)?,
            },
            ("\\format", Some(f)) => match Format::parse(f).filter(|f| *f != Format::Parquet) {
                Some(format) => self.format = format,
                None => self.failed(&Error::Usage(format!("\\format {f}: choose table, csv or json")), err)?,
            },
            ("\\maxrows", Some(n)) => match n.parse() {
                Ok(n) => self.max_rows = n,
                Err(_) => self.failed(&Error::Usage(format!("\\maxrows {n}: give a number of rows (0: all)")), err)?,
            },
            ("\\timing", arg) => {
                self.timing = arg.map_or(!self.timing, |a| a == "on");
                writeln!(out, "Timing is {}.", if self.timing { "on" } else { "off" })?;
            }
            _ => self.failed(&Error::Usage(format!("unknown command {line}; \\? lists the commands")), err)?,
        }
        out.flush()?;
        Ok(true)
    }

    /// `\d`: every name a query can read, what it is and how many columns it has.
    async fn tables(&self) -> Result<String> {
        let mut names = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
            .map(|s| s.table_names())
            .unwrap_or_default();
        names.sort_by_key(|n| (["table", "config", "view"].iter().position(|k| *k == kind_of(n)), n.clone()));
        let mut t = Table::new(["name", "kind", "columns"]);
        for name in names {
            let columns = self.ctx.table_provider(name.as_str()).await?.schema().fields().len();
            t.row([name.clone(), kind_of(&name).to_string(), columns.to_string()]);
        }
        Ok(t.render())
    }

    /// `\d NAME`: a table's columns, their types and whether they may be NULL.
    async fn columns(&self, table: &str) -> Result<String> {
        let provider = self
            .ctx
            .table_provider(table)
            .await
            .map_err(|_| Error::Usage(format!("no table {table:?}; \\d lists the tables")))?;
        let mut t = Table::new(["column", "type", "nullable"]);
        for f in provider.schema().fields() {
            // the contracts' type names (schemas/*.json), which Spark and Delta users know
            let kind = crate::warehouse::schema::contract_type(f.data_type());
            t.row([f.name().clone(), kind, if f.is_nullable() { "yes" } else { "no" }.to_string()]);
        }
        Ok(t.render())
    }
}

/// The first `n` rows of `batches` (at least the first, empty, batch: the columns stay).
fn first_rows(batches: &[arrow::record_batch::RecordBatch], n: usize) -> Vec<arrow::record_batch::RecordBatch> {
    let mut out = Vec::new();
    let mut left = n;
    for b in batches {
        if left == 0 && !out.is_empty() {
            break;
        }
        let take = b.num_rows().min(left);
        out.push(b.slice(0, take));
        left -= take;
    }
    out
}

/// Whether the text typed so far ends a statement: its last `;` is outside quotes and comments
/// with nothing but blanks after it.
fn ends_statement(text: &str) -> bool {
    let scanned = scan(text);
    scanned.last().is_some_and(|end| text[*end + 1..].trim().is_empty())
}

/// The statements of `text`, split at the semicolons outside quotes and comments.
fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    for end in scan(text).into_iter().chain(std::iter::once(text.len())) {
        let piece = text[start..end.min(text.len())].trim();
        if !piece.is_empty() && !piece.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with("--")) {
            out.push(piece.to_string());
        }
        start = end + 1;
    }
    out
}

/// Byte offsets of the semicolons that end statements (outside '...', "..." and -- comments).
fn scan(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut ends = Vec::new();
    let (mut i, mut quote, mut comment) = (0, None::<u8>, false);
    while i < bytes.len() {
        let b = bytes[i];
        match (quote, comment) {
            (_, true) if b == b'\n' => comment = false,
            (_, true) => {}
            (Some(q), _) if b == q => quote = None, // a doubled quote closes and reopens
            (Some(_), _) => {}
            (None, _) if b == b'\'' || b == b'"' => quote = Some(b),
            (None, _) if b == b'-' && bytes.get(i + 1) == Some(&b'-') => comment = true,
            (None, _) if b == b';' => ends.push(i),
            _ => {}
        }
        i += 1;
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1;  \n"));
        assert!(!ends_statement("SELECT ';'"));
        assert!(!ends_statement("SELECT 1 -- done;"));
        assert!(!ends_statement("SELECT \"a;b\""));
        assert_eq!(split_statements("SELECT 1; SELECT 'a;b';\n"), ["SELECT 1", "SELECT 'a;b'"]);
        assert_eq!(split_statements("SELECT 'it''s'; -- c\n"), ["SELECT 'it''s'"]);
        assert!(split_statements("  \n-- only a comment\n").is_empty());
    }
}
