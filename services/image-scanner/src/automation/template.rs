//! The subset of Go's `text/template` (plus a few Sprig functions) that Flux commit message
//! templates use: `{{ .Field.Path }}`, `{{ $var }}`, pipelines with `|`, `range` (with
//! `$k, $v :=` and `else`), `if`/`else if`/`else`, `with`, variable declarations, `{{-`/`-}}`
//! trimming and `{{/* comments */}}`. Functions: `print`, `println`, `printf` (`%s %v %d %q
//! %%`), `len`, `index`, `eq`, `ne`, `not`, `and`, `or`, and Sprig's `upper`, `lower`, `trim`,
//! `join`, `replace`, `quote`, `trunc`. Anything else fails with a clear error.

use std::fmt::Write as _;

/// Why a template cannot be parsed or executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template's syntax is wrong.
    #[error("template parse error: {0}")]
    Parse(String),
    /// A function outside the supported subset.
    #[error(
        "template function {0:?} is not supported (supported: print, println, printf, len, index, eq, ne, not, and, or, upper, lower, trim, join, replace, quote, trunc)"
    )]
    UnknownFunction(String),
    /// The removed `.Updated` field (Flux marks the object Stalled, `RemovedTemplateField`).
    #[error("template uses the removed field .Updated; use .Changed instead")]
    RemovedField,
    /// Evaluation failed (missing field, wrong argument type).
    #[error("template execution error: {0}")]
    Exec(String),
}

/// A value templates can see.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Missing value; prints `<no value>`.
    Nil,
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// String.
    Str(String),
    /// Slice.
    List(Vec<Value>),
    /// Map, iterated in the stored order (string keys are stored sorted, as Go visits them).
    Map(Vec<(Value, Value)>),
    /// Struct: how it prints, and its fields.
    Struct(Box<Struct>),
}

/// A struct value: named fields plus how it prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    /// Printed form.
    pub display: String,
    /// Fields, by Go name.
    pub fields: Vec<(&'static str, Value)>,
}

impl Value {
    /// A struct value.
    pub fn object(display: impl Into<String>, fields: Vec<(&'static str, Value)>) -> Self {
        Value::Struct(Box::new(Struct {
            display: display.into(),
            fields,
        }))
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(s.into())
    }

    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Value::Map(entries) => {
                out.push_str("map[");
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    k.render(out);
                    out.push(':');
                    v.render(out);
                }
                out.push(']');
            }
            Value::Struct(s) => out.push_str(&s.display),
        }
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    fn field(&self, name: &str) -> Result<Value, TemplateError> {
        match self {
            Value::Struct(s) => s
                .fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| TemplateError::Exec(format!("can't evaluate field {name}"))),
            Value::Map(entries) => Ok(entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Nil)),
            Value::Nil => Ok(Value::Nil),
            other => Err(TemplateError::Exec(format!(
                "can't evaluate field {name} in {}",
                other.to_text()
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Dot(Vec<String>),
    Var(String, Vec<String>),
    Literal(Value),
    Func(String),
    Sub(Pipeline, Vec<String>),
}

type Command = Vec<Operand>;

#[derive(Debug, Clone, PartialEq)]
struct Pipeline {
    decl: Vec<String>,
    commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Piece {
    Text(String),
    Action(String),
}

fn split(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after_open = &rest[open + 2..];
        let trim_before = after_open.starts_with("- ") || after_open.starts_with("-\n");
        if trim_before {
            text = text.trim_end();
        }
        pieces.push(Piece::Text(text.to_owned()));
        let inner_start = if trim_before { 2 } else { 0 };
        let close = find_close(&after_open[inner_start..])
            .ok_or_else(|| TemplateError::Parse("unclosed action".into()))?
            + inner_start;
        let mut inner = &after_open[inner_start..close];
        trim_next = inner.ends_with(" -") || inner.ends_with("\n-");
        if trim_next {
            inner = &inner[..inner.len() - 2];
        }
        pieces.push(Piece::Action(inner.trim().to_owned()));
        rest = &after_open[close + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    pieces.push(Piece::Text(text.to_owned()));
    Ok(pieces)
}

/// The offset of `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

enum Terminator {
    Eof,
    End,
    Else,
    ElseIf(Pipeline),
}

impl Template {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let pieces = split(source)?;
        let mut iter = pieces.into_iter().peekable();
        let (nodes, end) = parse_list(&mut iter)?;
        match end {
            Terminator::Eof => Ok(Self { nodes }),
            _ => Err(TemplateError::Parse(
                "unexpected {{end}} or {{else}}".into(),
            )),
        }
    }

    /// Executes the template with `data` as `.` and `$`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut vars = vec![("$".to_owned(), data.clone())];
        exec_list(&self.nodes, data, &mut vars, &mut out)?;
        Ok(out)
    }
}

fn parse_list(
    iter: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
) -> Result<(Vec<Node>, Terminator), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(piece) = iter.next() {
        let action = match piece {
            Piece::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t));
                }
                continue;
            }
            Piece::Action(a) => a,
        };
        if action.starts_with("/*") {
            if !action.ends_with("*/") {
                return Err(TemplateError::Parse("unclosed comment".into()));
            }
            continue;
        }
        let (keyword, rest) = match action.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (action.as_str(), ""),
        };
        match keyword {
            "end" => return Ok((nodes, Terminator::End)),
            "else" if rest.is_empty() => return Ok((nodes, Terminator::Else)),
            "else" => {
                let cond = rest
                    .strip_prefix("if")
                    .filter(|r| r.starts_with(char::is_whitespace))
                    .ok_or_else(|| {
                        TemplateError::Parse(format!("unsupported {{{{else {rest}}}}}"))
                    })?;
                return Ok((nodes, Terminator::ElseIf(parse_pipeline(cond)?)));
            }
            "if" | "with" | "range" => {
                let pipe = parse_pipeline(rest)?;
                let (body, end) = parse_list(iter)?;
                let else_body = match end {
                    Terminator::End => Vec::new(),
                    Terminator::Else => match parse_list(iter)? {
                        (else_body, Terminator::End) => else_body,
                        _ => {
                            return Err(TemplateError::Parse(format!(
                                "missing {{{{end}}}} for {keyword}"
                            )));
                        }
                    },
                    Terminator::ElseIf(cond) => {
                        let (inner_body, inner_else) = parse_else_if_chain(iter)?;
                        vec![Node::If(cond, inner_body, inner_else)]
                    }
                    Terminator::Eof => {
                        return Err(TemplateError::Parse(format!(
                            "missing {{{{end}}}} for {keyword}"
                        )));
                    }
                };
                nodes.push(match keyword {
                    "if" => Node::If(pipe, body, else_body),
                    "with" => Node::With(pipe, body, else_body),
                    _ => Node::Range(pipe, body, else_body),
                });
            }
            "define" | "template" | "block" | "break" | "continue" => {
                return Err(TemplateError::Parse(format!(
                    "{{{{{keyword}}}}} is not supported"
                )));
            }
            _ => nodes.push(Node::Action(parse_pipeline(&action)?)),
        }
    }
    Ok((nodes, Terminator::Eof))
}

/// After `{{else if cond}}`: its body and else branch, up to the shared `{{end}}`.
fn parse_else_if_chain(
    iter: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
    let (body, end) = parse_list(iter)?;
    match end {
        Terminator::End => Ok((body, Vec::new())),
        Terminator::Else => match parse_list(iter)? {
            (else_body, Terminator::End) => Ok((body, else_body)),
            _ => Err(TemplateError::Parse("missing {{end}} for if".into())),
        },
        Terminator::ElseIf(cond) => {
            let (inner_body, inner_else) = parse_else_if_chain(iter)?;
            Ok((body, vec![Node::If(cond, inner_body, inner_else)]))
        }
        Terminator::Eof => Err(TemplateError::Parse("missing {{end}} for if".into())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Dot(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
    Open,
    Close(Vec<String>),
    Declare,
    Comma,
}

fn fields(s: &str) -> Vec<String> {
    s.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn lex(source: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '.')
        {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                let end = word_end(i + 1);
                tokens.push(Token::Close(fields(
                    &chars[i + 1..end].iter().collect::<String>(),
                )));
                i = end;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Declare);
                i += 2;
            }
            '=' => {
                return Err(TemplateError::Parse(
                    "variable assignment with = is not supported".into(),
                ));
            }
            '.' => {
                let end = word_end(i);
                tokens.push(Token::Dot(fields(
                    &chars[i..end].iter().collect::<String>(),
                )));
                i = end;
            }
            '$' => {
                let end = word_end(i + 1);
                let word: String = chars[i + 1..end].iter().collect();
                let (name, path) = match word.split_once('.') {
                    Some((n, p)) => (n.to_owned(), fields(p)),
                    None => (word, Vec::new()),
                };
                tokens.push(Token::Var(format!("${name}"), path));
                i = end;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    let c = *chars
                        .get(i)
                        .ok_or_else(|| TemplateError::Parse("unterminated string".into()))?;
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = *chars.get(i).ok_or_else(|| {
                                TemplateError::Parse("unterminated string".into())
                            })?;
                            i += 1;
                            value.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        other => value.push(other),
                    }
                }
                tokens.push(Token::Str(value));
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| TemplateError::Parse("unterminated raw string".into()))?
                    + i
                    + 1;
                tokens.push(Token::Str(chars[i + 1..end].iter().collect()));
                i = end + 1;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let n = text
                    .parse()
                    .map_err(|_| TemplateError::Parse(format!("bad number {text:?}")))?;
                tokens.push(Token::Int(n));
                i = j;
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                tokens.push(Token::Ident(chars[i..j].iter().collect()));
                i = j;
            }
            other => {
                return Err(TemplateError::Parse(format!(
                    "unexpected character {other:?}"
                )));
            }
        }
    }
    Ok(tokens)
}

fn parse_pipeline(source: &str) -> Result<Pipeline, TemplateError> {
    let tokens = lex(source)?;
    let mut pos = 0;
    let pipe = parse_tokens(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(TemplateError::Parse(format!(
            "unexpected tokens in {source:?}"
        )));
    }
    Ok(pipe)
}

fn parse_tokens(tokens: &[Token], pos: &mut usize) -> Result<Pipeline, TemplateError> {
    let mut decl = Vec::new();
    // `$a := …` or `$k, $v := …`
    let mut look = *pos;
    let mut names = Vec::new();
    while let Some(Token::Var(name, path)) = tokens.get(look) {
        if !path.is_empty() {
            break;
        }
        names.push(name.clone());
        look += 1;
        match tokens.get(look) {
            Some(Token::Comma) => look += 1,
            Some(Token::Declare) => {
                decl = names.clone();
                *pos = look + 1;
                break;
            }
            _ => break,
        }
    }
    let mut commands = Vec::new();
    let mut command = Vec::new();
    while let Some(token) = tokens.get(*pos) {
        match token {
            Token::Pipe => {
                if command.is_empty() {
                    return Err(TemplateError::Parse("empty command in pipeline".into()));
                }
                commands.push(std::mem::take(&mut command));
                *pos += 1;
            }
            Token::Close(_) => break,
            Token::Open => {
                *pos += 1;
                let inner = parse_tokens(tokens, pos)?;
                match tokens.get(*pos) {
                    Some(Token::Close(path)) => command.push(Operand::Sub(inner, path.clone())),
                    _ => return Err(TemplateError::Parse("unclosed (".into())),
                }
                *pos += 1;
            }
            Token::Dot(path) => {
                command.push(Operand::Dot(path.clone()));
                *pos += 1;
            }
            Token::Var(name, path) => {
                command.push(Operand::Var(name.clone(), path.clone()));
                *pos += 1;
            }
            Token::Str(s) => {
                command.push(Operand::Literal(Value::Str(s.clone())));
                *pos += 1;
            }
            Token::Int(n) => {
                command.push(Operand::Literal(Value::Int(*n)));
                *pos += 1;
            }
            Token::Ident(name) => {
                command.push(match name.as_str() {
                    "true" => Operand::Literal(Value::Bool(true)),
                    "false" => Operand::Literal(Value::Bool(false)),
                    "nil" => Operand::Literal(Value::Nil),
                    _ => Operand::Func(name.clone()),
                });
                *pos += 1;
            }
            Token::Comma | Token::Declare => {
                return Err(TemplateError::Parse("unexpected , or :=".into()));
            }
        }
    }
    if command.is_empty() {
        return Err(TemplateError::Parse("missing value in action".into()));
    }
    commands.push(command);
    for command in &commands {
        for (i, operand) in command.iter().enumerate() {
            if let Operand::Func(name) = operand {
                if i > 0 {
                    return Err(TemplateError::Parse(format!(
                        "function {name} used as an argument"
                    )));
                }
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(TemplateError::UnknownFunction(name.clone()));
                }
            }
        }
    }
    Ok(Pipeline { decl, commands })
}

const FUNCTIONS: &[&str] = &[
    "print", "println", "printf", "len", "index", "eq", "ne", "not", "and", "or", "upper", "lower",
    "trim", "join", "replace", "quote", "trunc",
];

type Vars = Vec<(String, Value)>;

fn exec_list(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vars,
    out: &mut String,
) -> Result<(), TemplateError> {
    let depth = vars.len();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe) => {
                let value = eval_pipeline(pipe, dot, vars)?;
                if pipe.decl.is_empty() {
                    value.render(out);
                } else {
                    for name in &pipe.decl {
                        vars.push((name.clone(), value.clone()));
                    }
                }
            }
            Node::If(pipe, body, else_body) => {
                let value = eval_pipeline(pipe, dot, vars)?;
                let branch = if value.truthy() { body } else { else_body };
                exec_list(branch, dot, vars, out)?;
            }
            Node::With(pipe, body, else_body) => {
                let value = eval_pipeline(pipe, dot, vars)?;
                if value.truthy() {
                    exec_list(body, &value, vars, out)?;
                } else {
                    exec_list(else_body, dot, vars, out)?;
                }
            }
            Node::Range(pipe, body, else_body) => {
                let value = eval_pipeline(
                    &Pipeline {
                        decl: Vec::new(),
                        commands: pipe.commands.clone(),
                    },
                    dot,
                    vars,
                )?;
                let items: Vec<(Value, Value)> = match value {
                    Value::List(items) => items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::Int(i as i64), v))
                        .collect(),
                    Value::Map(entries) => entries,
                    Value::Nil => Vec::new(),
                    other => {
                        return Err(TemplateError::Exec(format!(
                            "range can't iterate over {}",
                            other.to_text()
                        )));
                    }
                };
                if items.is_empty() {
                    exec_list(else_body, dot, vars, out)?;
                }
                for (key, item) in items {
                    let saved = vars.len();
                    match pipe.decl.as_slice() {
                        [] => {}
                        [v] => vars.push((v.clone(), item.clone())),
                        [k, v] => {
                            vars.push((k.clone(), key));
                            vars.push((v.clone(), item.clone()));
                        }
                        _ => return Err(TemplateError::Parse("too many range variables".into())),
                    }
                    exec_list(body, &item, vars, out)?;
                    vars.truncate(saved);
                }
            }
        }
    }
    vars.truncate(depth);
    Ok(())
}

fn walk(mut value: Value, path: &[String]) -> Result<Value, TemplateError> {
    for name in path {
        if name == "Updated" {
            return Err(TemplateError::RemovedField);
        }
        value = value.field(name)?;
    }
    Ok(value)
}

fn eval_pipeline(pipe: &Pipeline, dot: &Value, vars: &Vars) -> Result<Value, TemplateError> {
    let mut previous: Option<Value> = None;
    for command in &pipe.commands {
        previous = Some(eval_command(command, dot, vars, previous.take())?);
    }
    Ok(previous.unwrap_or(Value::Nil))
}

fn eval_operand(operand: &Operand, dot: &Value, vars: &Vars) -> Result<Value, TemplateError> {
    match operand {
        Operand::Dot(path) => walk(dot.clone(), path),
        Operand::Var(name, path) => {
            let value = vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| TemplateError::Exec(format!("undefined variable {name}")))?;
            walk(value, path)
        }
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Sub(pipe, path) => walk(eval_pipeline(pipe, dot, vars)?, path),
        Operand::Func(name) => call(name, Vec::new()),
    }
}

fn eval_command(
    command: &Command,
    dot: &Value,
    vars: &Vars,
    piped: Option<Value>,
) -> Result<Value, TemplateError> {
    let (first, rest) = command
        .split_first()
        .ok_or_else(|| TemplateError::Exec("empty command".into()))?;
    let mut args = rest
        .iter()
        .map(|a| eval_operand(a, dot, vars))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    match first {
        Operand::Func(name) => call(name, args),
        other if args.is_empty() => eval_operand(other, dot, vars),
        _ => Err(TemplateError::Exec(
            "can't give arguments to a non-function".into(),
        )),
    }
}

fn text_arg(args: &[Value], i: usize, func: &str) -> Result<String, TemplateError> {
    args.get(i)
        .map(Value::to_text)
        .ok_or_else(|| TemplateError::Exec(format!("{func}: missing argument")))
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
    let exec = |m: String| TemplateError::Exec(format!("{name}: {m}"));
    Ok(match name {
        "print" => Value::Str(go_print(&args, false)),
        "println" => Value::Str(go_print(&args, true)),
        "printf" => {
            let format = text_arg(&args, 0, name)?;
            Value::Str(printf(&format, &args[1..]).map_err(exec)?)
        }
        "len" => Value::Int(match args.first() {
            Some(Value::Str(s)) => s.len() as i64,
            Some(Value::List(l)) => l.len() as i64,
            Some(Value::Map(m)) => m.len() as i64,
            _ => return Err(exec("argument has no length".into())),
        }),
        "index" => {
            let mut value = args.first().cloned().unwrap_or(Value::Nil);
            for key in &args[1.min(args.len())..] {
                value = match (&value, key) {
                    (Value::List(l), Value::Int(i)) => usize::try_from(*i)
                        .ok()
                        .and_then(|i| l.get(i).cloned())
                        .ok_or_else(|| exec(format!("index {i} out of range")))?,
                    (Value::Map(m), k) => m
                        .iter()
                        .find(|(mk, _)| mk == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Nil),
                    _ => return Err(exec("can't index".into())),
                };
            }
            value
        }
        "eq" => Value::Bool(args.len() >= 2 && args[1..].iter().any(|a| *a == args[0])),
        "ne" => Value::Bool(args.len() == 2 && args[0] != args[1]),
        "not" => Value::Bool(!args.first().is_some_and(Value::truthy)),
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "upper" => Value::Str(text_arg(&args, 0, name)?.to_uppercase()),
        "lower" => Value::Str(text_arg(&args, 0, name)?.to_lowercase()),
        "trim" => Value::Str(text_arg(&args, 0, name)?.trim().to_owned()),
        "quote" => Value::Str(format!("{:?}", text_arg(&args, 0, name)?)),
        "join" => {
            let sep = text_arg(&args, 0, name)?;
            match args.get(1) {
                Some(Value::List(items)) => Value::Str(
                    items
                        .iter()
                        .map(Value::to_text)
                        .collect::<Vec<_>>()
                        .join(&sep),
                ),
                _ => return Err(exec("second argument must be a list".into())),
            }
        }
        "replace" => {
            let (old, new, s) = (
                text_arg(&args, 0, name)?,
                text_arg(&args, 1, name)?,
                text_arg(&args, 2, name)?,
            );
            Value::Str(s.replace(&old, &new))
        }
        "trunc" => {
            let n = match args.first() {
                Some(Value::Int(n)) => *n,
                _ => return Err(exec("first argument must be a number".into())),
            };
            let s = text_arg(&args, 1, name)?;
            let count = s.chars().count() as i64;
            Value::Str(if n >= 0 {
                s.chars().take(n as usize).collect()
            } else {
                s.chars().skip((count + n).max(0) as usize).collect()
            })
        }
        other => return Err(TemplateError::UnknownFunction(other.to_owned())),
    })
}

/// Go's `fmt.Sprint` (spaces only between non-string operands) and `fmt.Sprintln`.
fn go_print(args: &[Value], line: bool) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_str = matches!(arg, Value::Str(_));
        let prev_str = i > 0 && matches!(args[i - 1], Value::Str(_));
        if i > 0 && (line || (!is_str && !prev_str)) {
            out.push(' ');
        }
        arg.render(&mut out);
    }
    if line {
        out.push('\n');
    }
    out
}

fn printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => {
                let arg = args
                    .next()
                    .ok_or_else(|| format!("missing argument for %{verb}"))?;
                if verb == 'q' {
                    let _ = write!(out, "{:?}", arg.to_text());
                } else {
                    arg.render(&mut out);
                }
            }
            Some(other) => return Err(format!("verb %{other} is not supported")),
            None => return Err("trailing %".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        let change = |old: &str, new: &str| {
            Value::object(
                format!("{{{old} {new}}}"),
                vec![("OldValue", Value::str(old)), ("NewValue", Value::str(new))],
            )
        };
        Value::object(
            "",
            vec![
                (
                    "AutomationObject",
                    Value::object("flux-system/app", vec![("Name", Value::str("app"))]),
                ),
                (
                    "Changed",
                    Value::object(
                        "",
                        vec![
                            (
                                "Changes",
                                Value::List(vec![change("a:1", "a:2"), change("b:1", "b:2")]),
                            ),
                            (
                                "FileChanges",
                                Value::Map(vec![
                                    (Value::str("dev/a.yaml"), Value::Nil),
                                    (Value::str("prod/a.yaml"), Value::Nil),
                                ]),
                            ),
                        ],
                    ),
                ),
                (
                    "Values",
                    Value::Map(vec![(Value::str("env"), Value::str("prod"))]),
                ),
            ],
        )
    }

    fn render(source: &str) -> Result<String, TemplateError> {
        Template::parse(source)?.render(&data())
    }

    #[test]
    fn flux_style_templates_render_like_go() {
        let source = "Automated image update\n\nAutomation name: {{ .AutomationObject }}\n\nFiles:\n{{ range $filename, $_ := .Changed.FileChanges -}}\n- {{ $filename }}\n{{ end -}}\n\nChanges:\n{{ range .Changed.Changes -}}\n- {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}\n";
        assert_eq!(
            render(source).expect("renders"),
            // `-}}` eats every following blank, the empty line included, as in Go.
            "Automated image update\n\nAutomation name: flux-system/app\n\nFiles:\n- dev/a.yaml\n- prod/a.yaml\nChanges:\n- a:1 -> a:2\n- b:1 -> b:2\n"
        );
        assert_eq!(
            render("{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}")
                .expect("renders"),
            "a:1 -> a:2\nb:1 -> b:2\n"
        );
        assert_eq!(
            render("[{{ .Values.env | upper }}] {{ len .Changed.Changes }} {{ printf \"%s/%d\" .AutomationObject.Name 3 }}").expect("renders"),
            "[PROD] 2 app/3"
        );
        assert_eq!(
            render("{{ if eq .Values.env \"dev\" }}dev{{ else if eq .Values.env \"prod\" }}prod{{ else }}other{{ end }}").expect("renders"),
            "prod"
        );
        assert_eq!(
            render("{{ with .Values.missing }}x{{ else }}none{{ end }}{{/* c */}}")
                .expect("renders"),
            "none"
        );
        assert_eq!(
            render("{{ $n := .AutomationObject.Name }}{{ $n }}").expect("renders"),
            "app"
        );
    }

    #[test]
    fn unsupported_or_removed_features_fail_clearly() {
        assert_eq!(render("{{ .Updated }}"), Err(TemplateError::RemovedField));
        assert_eq!(
            Template::parse("{{ sha256sum .Values.env }}"),
            Err(TemplateError::UnknownFunction("sha256sum".into()))
        );
        assert!(matches!(
            Template::parse("{{ range .X }}"),
            Err(TemplateError::Parse(_))
        ));
        assert!(matches!(
            Template::parse("{{ template \"x\" }}"),
            Err(TemplateError::Parse(_))
        ));
        assert!(matches!(render("{{ .Nope }}"), Err(TemplateError::Exec(_))));
    }
}
