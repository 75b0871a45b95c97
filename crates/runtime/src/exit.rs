//! Usage errors: one line on stderr naming the flag or variable, then exit code 64 (EX_USAGE).

use std::{fmt, process::ExitCode};

use clap::{
    CommandFactory, Parser,
    error::{ContextKind, ContextValue, ErrorKind},
};

/// `EX_USAGE` from sysexits.h: the command was used incorrectly.
pub const EX_USAGE: u8 = 64;

/// A missing or malformed setting, named by its flag or environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    name: String,
    value: Option<String>,
    cause: Option<String>,
    expected: String,
}

impl UsageError {
    /// A required setting `name` (a flag, a variable, or both) was not given.
    pub fn missing(name: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: None,
            cause: None,
            expected: expected.into(),
        }
    }

    /// Setting `name` holds `value`, which is not of the `expected` form.
    pub fn invalid(
        name: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
            cause: None,
            expected: expected.into(),
        }
    }

    /// Adds what went wrong, rendered on the same line.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into().replace('\n', " "));
        self
    }

    /// The flag or variable at fault.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            None => write!(f, "missing {}", self.name)?,
            Some(value) => write!(f, "invalid value '{value}' for {}", self.name)?,
        }
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        write!(f, "; expected {}", self.expected)
    }
}

impl std::error::Error for UsageError {}

/// Prints `err` as one line on stderr and returns exit code 64.
pub fn usage_exit(err: &UsageError) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(EX_USAGE)
}

/// Parses the process arguments into `T`.
///
/// `--help` and `--version` print and exit 0; any other clap error prints one line naming the
/// flag (and its environment variable) and exits with code 64.
pub fn parse_args<T: Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(err) => exit_on_clap_error::<T>(&err),
    }
}

/// Like [`parse_args`] but from an explicit argument list: on failure, the exit code (0 for
/// `--help` and `--version`, 64 otherwise) and the text to print.
pub fn try_parse_args_from<T, I, S>(args: I) -> Result<T, (u8, String)>
where
    T: Parser,
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = T::command();
    let matches = cmd
        .try_get_matches_from_mut(args)
        .map_err(|e| clap_outcome(&e, &cmd))?;
    T::from_arg_matches(&matches).map_err(|e| clap_outcome(&e, &cmd))
}

fn exit_on_clap_error<T: CommandFactory>(err: &clap::Error) -> ! {
    let (code, text) = clap_outcome(err, &T::command());
    if code == 0 {
        println!("{}", text.trim_end());
        std::process::exit(0);
    }
    eprintln!("{text}");
    std::process::exit(i32::from(EX_USAGE));
}

/// What to print and which exit code to use for a clap error.
fn clap_outcome(err: &clap::Error, cmd: &clap::Command) -> (u8, String) {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => (0, err.render().to_string()),
        _ => (EX_USAGE, one_line(err, cmd)),
    }
}

/// Renders a clap error as a single line, adding the environment variable behind the flag.
fn one_line(err: &clap::Error, cmd: &clap::Command) -> String {
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: invalid arguments")
        .trim_end()
        .to_owned();
    let flag = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let env = flag.as_deref().and_then(|f| env_of_flag(cmd, f));
    match (flag, env) {
        (Some(flag), Some(env)) => {
            let long = flag.split_whitespace().next().unwrap_or(&flag).to_owned();
            format!("{first} (set by {long} or {env})")
        }
        _ if err.kind() == ErrorKind::UnknownArgument => format!("{first}; see --help"),
        _ => first,
    }
}

/// The environment variable of the argument rendered as `flag` (e.g. `--admin-addr <ADDR>`).
fn env_of_flag(cmd: &clap::Command, flag: &str) -> Option<String> {
    let long = flag
        .split_whitespace()
        .next()?
        .trim_start_matches('-')
        .to_owned();
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeArgs;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }

    #[test]
    fn bad_flag_value_is_one_line_naming_flag_and_variable() {
        let (code, text) =
            try_parse_args_from::<Cli, _, _>(["svc", "--admin-addr", "nowhere"]).expect_err("bad");
        assert_eq!(code, EX_USAGE);
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("--admin-addr"), "{text}");
        assert!(text.contains("FERRY_ADMIN_ADDR"), "{text}");
        assert!(text.contains("host:port"), "{text}");
    }

    #[test]
    fn bad_enum_value_is_one_line() {
        let (code, text) =
            try_parse_args_from::<Cli, _, _>(["svc", "--log-format", "xml"]).expect_err("bad");
        assert_eq!(code, EX_USAGE);
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("--log-format"), "{text}");
    }

    #[test]
    fn unknown_flag_is_a_usage_error() {
        let (code, text) =
            try_parse_args_from::<Cli, _, _>(["svc", "--frobnicate"]).expect_err("unknown");
        assert_eq!(code, EX_USAGE);
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn help_is_not_an_error() {
        let (code, text) = try_parse_args_from::<Cli, _, _>(["svc", "--help"]).expect_err("help");
        assert_eq!(code, 0);
        assert!(text.contains("--nats-url"), "{text}");
    }

    #[test]
    fn usage_error_renders_on_one_line() {
        let err =
            UsageError::invalid("RUST_LOG", "x[", "filter directives").with_cause("bad\nthing");
        let text = err.to_string();
        assert_eq!(
            text,
            "invalid value 'x[' for RUST_LOG: bad thing; expected filter directives"
        );
    }
}
