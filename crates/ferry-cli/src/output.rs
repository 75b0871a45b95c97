//! Output formats: flux-style tables, YAML and JSON.

use std::io::IsTerminal as _;

use serde_json::Value;

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// A table (the default).
    #[default]
    Table,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Prints `value` as YAML or JSON.
pub fn print_value(format: Format, value: &Value) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Yaml | Format::Table => {
            let yaml = serde_saphyr::to_string(value).map_err(|e| anyhow::anyhow!("{e}"))?;
            print!("{yaml}");
            if !yaml.ends_with('\n') {
                println!();
            }
        }
    }
    Ok(())
}

/// Renders rows under a header, columns separated by at least three spaces like `flux get`.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut l = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            l.push_str(c);
            if i < last {
                l.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// An error and its causes, `a: b: c`, skipping causes already quoted by the message before
/// them (kube and NATS errors repeat their source in their own text).
pub fn chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

/// Progress lines on stderr, flux style (`►`, `✔`, `◎`, `✗`).
pub fn action(msg: &str) {
    eprintln!("► {msg}");
}
/// A success line.
pub fn success(msg: &str) {
    eprintln!("✔ {msg}");
}
/// A waiting line.
pub fn waiting(msg: &str) {
    eprintln!("◎ {msg}");
}
/// A failure line (the command goes on).
pub fn failure(msg: &str) {
    eprintln!("✗ {msg}");
}

/// Whether stdout is a terminal (colours, progress redraws).
pub fn stdout_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal.
pub fn stderr_tty() -> bool {
    std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_with_three_spaces() {
        let t = table(
            &["NAME", "READY"],
            &[
                vec!["a".into(), "True".into()],
                vec!["long-name".into(), "False".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME        READY\na           True\nlong-name   False\n"
        );
    }
}
