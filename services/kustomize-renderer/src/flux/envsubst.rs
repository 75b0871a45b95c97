//! A port of `fluxcd/pkg/envsubst`: the bash-like `${var}` expansion Flux's post-build runs.
//!
//! The scanner and parser follow the Go code step by step (including its quirks: `$$` is an
//! escape for `$`, `$var` without braces is plain text, a default may nest `${...}`), so the
//! same text expands to the same output or fails with the same error.

/// Why a text could not be expanded; the messages are the Go package's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvsubstError {
    /// A malformed `${...}` expression.
    #[error("bad substitution")]
    BadSubstitution,
    /// `${name` without its `}`.
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    #[error("unable to parse variable name")]
    ParseVariableName,
    /// A function argument could not be parsed.
    #[error("unable to parse substitution within function")]
    ParseFuncSubstitution,
    /// A default (`=`, `:=`, `:-`...) could not be parsed.
    #[error("unable to parse default function")]
    ParseDefaultFunction,
    /// Strict mode: the variable is undefined and the expression gives no default.
    #[error("variable not set (strict mode): {0:?}")]
    VarNotSet(String),
    /// Expressions nested deeper than [`MAX_NESTING`].
    #[error("substitutions nested deeper than {MAX_NESTING}")]
    TooDeep,
}

/// How deeply `${a:=${b:=${c}}}` may nest.
pub const MAX_NESTING: usize = 64;

const SCAN_IDENT: u8 = 1;
const SCAN_LBRACK: u8 = 2;
const SCAN_RBRACK: u8 = 4;
const SCAN_ESCAPE: u8 = 8;

const DOLLAR: u8 = 1;
const BACKSLASH: u8 = 2;
const ESCAPE_ALL: u8 = DOLLAR | BACKSLASH;

type Accept = fn(char, usize) -> bool;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Func {
        param: String,
        name: String,
        args: Vec<Node>,
    },
}

struct Scanner {
    buf: Vec<char>,
    pos: usize,
    start: usize,
    width: usize,
    mode: u8,
    escape_chars: u8,
    accept: Accept,
}

impl Scanner {
    fn read(&mut self) -> Option<char> {
        match self.buf.get(self.pos) {
            Some(&c) => {
                self.width = 1;
                self.pos += 1;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(self.width);
    }

    /// Drops the character just read; the position stays, so the next one is taken as is.
    fn skip(&mut self) {
        if self.pos > 0 && self.pos <= self.buf.len() {
            self.buf.remove(self.pos - 1);
        }
    }

    fn peek(&mut self) -> Option<char> {
        let r = self.read();
        self.unread();
        r
    }

    fn string(&self) -> String {
        let end = self.pos.min(self.buf.len());
        self.buf[self.start.min(end)..end].iter().collect()
    }

    fn scan(&mut self) -> Token {
        self.start = self.pos;
        let Some(r) = self.read() else {
            return Token::Eof;
        };
        if self.scan_lbrack(r) {
            Token::Lbrack
        } else if self.scan_rbrack(r) {
            Token::Rbrack
        } else if self.scan_ident(r) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn scan_ident(&mut self, r: char) -> bool {
        if self.mode & SCAN_IDENT == 0 {
            return false;
        }
        if self.scan_escaped(r) {
            self.skip();
        } else if !(self.accept)(r, self.pos - self.start) {
            return false;
        }
        loop {
            let Some(r) = self.read() else {
                self.unread();
                break;
            };
            if self.scan_lbrack(r) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(r) {
                self.skip();
                continue;
            }
            if !(self.accept)(r, self.pos - self.start) {
                self.unread();
                break;
            }
        }
        true
    }

    fn scan_lbrack(&mut self, r: char) -> bool {
        if self.mode & SCAN_LBRACK == 0 {
            return false;
        }
        if r == '$' {
            if self.read() == Some('{') {
                return true;
            }
            self.unread();
        }
        false
    }

    fn scan_rbrack(&self, r: char) -> bool {
        self.mode & SCAN_RBRACK != 0 && r == '}'
    }

    fn scan_escaped(&mut self, r: char) -> bool {
        if self.mode & SCAN_ESCAPE == 0 {
            return false;
        }
        if r == '$' && self.escape_chars & DOLLAR != 0 && self.peek() == Some('$') {
            return true;
        }
        if r == '\\' && self.escape_chars & BACKSLASH != 0 {
            return matches!(self.peek(), Some('/' | '\\'));
        }
        false
    }
}

fn accept_rune(_: char, _: usize) -> bool {
    true
}
fn accept_ident(r: char, _: usize) -> bool {
    r.is_alphabetic() || r.is_numeric() || r == '_'
}
fn accept_colon(r: char, _: usize) -> bool {
    r == ':'
}
fn accept_one_hash(r: char, i: usize) -> bool {
    r == '#' && i == 1
}
fn accept_not_closing(r: char, _: usize) -> bool {
    r != '}'
}
fn accept_hash_func(r: char, i: usize) -> bool {
    r == '#' && i < 3
}
fn accept_percent_func(r: char, i: usize) -> bool {
    r == '%' && i < 3
}
fn accept_default_func(r: char, i: usize) -> bool {
    (i == 1 && r == ':') || (i == 2 && matches!(r, '=' | '-' | '?' | '+'))
}
fn accept_replace_func(r: char, i: usize) -> bool {
    (i == 1 && r == '/') || (i == 2 && matches!(r, '/' | '#' | '%'))
}
fn accept_one_equal(r: char, i: usize) -> bool {
    i == 1 && r == '='
}
fn accept_one_colon(r: char, i: usize) -> bool {
    i == 1 && r == ':'
}
fn reject_colon_close(r: char, _: usize) -> bool {
    r != ':' && r != '}'
}
fn accept_slash(r: char, _: usize) -> bool {
    r == '/'
}
fn accept_not_slash(r: char, _: usize) -> bool {
    r != '/'
}
fn accept_casing_func(r: char, i: usize) -> bool {
    (r == ',' || r == '^') && i < 3
}

struct Parser {
    s: Scanner,
    depth: usize,
}

type PResult<T> = Result<T, EnvsubstError>;

impl Parser {
    fn parse_any(&mut self) -> PResult<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            self.s.accept = accept_rune;
            self.s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
            self.s.escape_chars = DOLLAR;
            match self.s.scan() {
                Token::Ident => nodes.push(Node::Text(self.s.string())),
                Token::Eof => return Ok(nodes),
                Token::Lbrack => nodes.push(self.parse_func()?),
                _ => return Err(EnvsubstError::BadSubstitution),
            }
        }
    }

    fn parse_func(&mut self) -> PResult<Node> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(EnvsubstError::TooDeep);
        }
        let node = self.parse_func_inner();
        self.depth -= 1;
        node
    }

    fn parse_func_inner(&mut self) -> PResult<Node> {
        self.s.escape_chars = ESCAPE_ALL;
        if self.s.peek() == Some('#') {
            return self.parse_len_func();
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_IDENT;
        let name = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(EnvsubstError::ParseVariableName),
        };
        match self.s.peek() {
            Some(':') => return self.parse_default_or_substr(name),
            Some('=') => return self.parse_default_func(name),
            Some(',' | '^') => return self.parse_casing_func(name),
            Some('/') => return self.parse_replace_func(name),
            Some('#') => return self.parse_remove_func(name, accept_hash_func),
            Some('%') => return self.parse_remove_func(name, accept_percent_func),
            _ => {}
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(Node::Func {
                param: name,
                name: String::new(),
                args: Vec::new(),
            }),
            _ => Err(EnvsubstError::MissingClosingBrace),
        }
    }

    fn parse_param(&mut self, accept: Accept, mode: u8) -> PResult<Node> {
        self.s.accept = accept;
        self.s.mode = mode | SCAN_LBRACK;
        match self.s.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.s.string())),
            _ => Err(EnvsubstError::ParseFuncSubstitution),
        }
    }

    fn parse_default_or_substr(&mut self, name: String) -> PResult<Node> {
        self.s.read();
        let r = self.s.peek();
        self.s.unread();
        match r {
            Some('=' | '-' | '?' | '+') => self.parse_default_func(name),
            _ => self.parse_substr_func(name),
        }
    }

    fn scan_name(&mut self, accept: Accept, err: EnvsubstError) -> PResult<String> {
        self.s.accept = accept;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => Ok(self.s.string()),
            _ => Err(err),
        }
    }

    fn parse_substr_func(&mut self, param: String) -> PResult<Node> {
        let name = self.scan_name(accept_one_colon, EnvsubstError::BadSubstitution)?;
        let mut args = vec![self.parse_param(reject_colon_close, SCAN_IDENT)?];
        self.s.accept = accept_colon;
        self.s.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => return Ok(Node::Func { param, name, args }),
            Token::Ident => {}
            _ => return Err(EnvsubstError::BadSubstitution),
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_remove_func(&mut self, param: String, accept: Accept) -> PResult<Node> {
        let name = self.scan_name(accept, EnvsubstError::BadSubstitution)?;
        let args = vec![self.parse_param(accept_not_closing, SCAN_IDENT)?];
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_replace_func(&mut self, param: String) -> PResult<Node> {
        let name = self.scan_name(accept_replace_func, EnvsubstError::BadSubstitution)?;
        let mut args = vec![self.parse_param(accept_not_slash, SCAN_IDENT | SCAN_ESCAPE)?];
        self.scan_name(accept_slash, EnvsubstError::BadSubstitution)?;
        if self.s.peek() == Some('}') {
            self.consume_rbrack()?;
            return Ok(Node::Func { param, name, args });
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        self.consume_rbrack()?;
        Ok(Node::Func { param, name, args })
    }

    fn parse_default_func(&mut self, param: String) -> PResult<Node> {
        let accept: Accept = if self.s.peek() == Some('=') {
            accept_one_equal
        } else {
            accept_default_func
        };
        let name = self.scan_name(accept, EnvsubstError::ParseDefaultFunction)?;
        let mut args = Vec::new();
        loop {
            if self.s.peek() == Some('}') {
                self.consume_rbrack()?;
                return Ok(Node::Func { param, name, args });
            }
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        }
    }

    fn parse_casing_func(&mut self, param: String) -> PResult<Node> {
        let name = self.scan_name(accept_casing_func, EnvsubstError::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Node::Func {
            param,
            name,
            args: Vec::new(),
        })
    }

    fn parse_len_func(&mut self) -> PResult<Node> {
        let name = self.scan_name(accept_one_hash, EnvsubstError::BadSubstitution)?;
        let param = self.scan_name(accept_ident, EnvsubstError::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Node::Func {
            param,
            name,
            args: Vec::new(),
        })
    }

    fn consume_rbrack(&mut self) -> PResult<()> {
        self.s.mode = SCAN_RBRACK;
        if self.s.scan() != Token::Rbrack {
            return Err(EnvsubstError::BadSubstitution);
        }
        Ok(())
    }
}

fn parse(input: &str) -> PResult<Vec<Node>> {
    let mut parser = Parser {
        s: Scanner {
            buf: input.chars().collect(),
            pos: 0,
            start: 0,
            width: 0,
            mode: 0,
            escape_chars: 0,
            accept: accept_rune,
        },
        depth: 0,
    };
    parser.parse_any()
}

/// Expands every `${...}` in `input`. `lookup` gives a variable's value and whether it is
/// defined; an undefined variable is an error unless the expression supplies a default
/// (Flux's strict mode). For the lenient mode, make `lookup` say every variable is defined.
pub fn eval(input: &str, lookup: &dyn Fn(&str) -> (String, bool)) -> Result<String, EnvsubstError> {
    let nodes = parse(input)?;
    let mut out = String::with_capacity(input.len());
    for node in &nodes {
        eval_node(node, lookup, &mut out)?;
    }
    Ok(out)
}

fn eval_node(
    node: &Node,
    lookup: &dyn Fn(&str) -> (String, bool),
    out: &mut String,
) -> Result<(), EnvsubstError> {
    match node {
        Node::Text(text) => out.push_str(text),
        Node::Func { param, name, args } => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                let mut buf = String::new();
                eval_node(arg, lookup, &mut buf)?;
                values.push(buf);
            }
            let (value, exists) = lookup(param);
            if !exists && !is_default_op(name) {
                return Err(EnvsubstError::VarNotSet(param.clone()));
            }
            out.push_str(&apply(name, &value, &values));
        }
    }
    Ok(())
}

fn is_default_op(name: &str) -> bool {
    matches!(name, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

fn apply(name: &str, s: &str, args: &[String]) -> String {
    match name {
        "," => first_char(s, char::to_lowercase),
        ",," => s.to_lowercase(),
        "^" => first_char(s, char::to_uppercase),
        "^^" => s.to_uppercase(),
        "#" if args.is_empty() => s.len().to_string(),
        "#" => trim_prefix(s, &args[0], false),
        "##" => args
            .first()
            .map_or(s.to_string(), |a| trim_prefix(s, a, true)),
        "%" => args
            .first()
            .map_or(s.to_string(), |a| trim_suffix(s, a, false)),
        "%%" => args
            .first()
            .map_or(s.to_string(), |a| trim_suffix(s, a, true)),
        ":" => substr(s, args),
        "/#" => match args {
            [from, to] if s.starts_with(from.as_str()) => s.replacen(from.as_str(), to, 1),
            _ => s.to_string(),
        },
        "/%" => match args {
            [from, to] if s.ends_with(from.as_str()) => {
                format!("{}{}", &s[..s.len() - from.len()], to)
            }
            _ => s.to_string(),
        },
        "/" => match args {
            [] => s.to_string(),
            [from] => s.replacen(from.as_str(), "", 1),
            [from, to, ..] => s.replacen(from.as_str(), to, 1),
        },
        "//" => match args {
            [] => s.to_string(),
            [from] => s.replace(from.as_str(), ""),
            [from, to, ..] => s.replace(from.as_str(), to),
        },
        _ => {
            if s.is_empty() && !args.is_empty() {
                args.concat()
            } else {
                s.to_string()
            }
        }
    }
}

fn first_char<I: Iterator<Item = char>>(s: &str, f: fn(char) -> I) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => f(c).chain(chars).collect(),
        None => String::new(),
    }
}

fn parse_go_int(s: &str) -> Option<i64> {
    s.parse().ok()
}

/// Byte slice as a string, lossily when the cut falls inside a character (as Go's bytes would).
fn lossy(s: &str, from: usize, to: usize) -> String {
    String::from_utf8_lossy(&s.as_bytes()[from..to]).into_owned()
}

fn substr(s: &str, args: &[String]) -> String {
    let Some(first) = args.first() else {
        return s.to_string();
    };
    let Some(pos) = parse_go_int(first) else {
        return s.to_string();
    };
    let len = s.len() as i64;
    let mut pos = pos;
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    if args.len() == 1 {
        return if pos < len {
            lossy(s, pos as usize, s.len())
        } else {
            String::new()
        };
    }
    let Some(length) = parse_go_int(&args[1]) else {
        return s.to_string();
    };
    if pos.saturating_add(length) >= len {
        return if pos < len {
            lossy(s, pos as usize, s.len())
        } else {
            String::new()
        };
    }
    if length < 0 {
        // Go would panic on a negative slice; bash treats it as an error. Keep the value.
        return s.to_string();
    }
    lossy(s, pos as usize, (pos + length) as usize)
}

/// Prefixes of `s` from the longest to the shortest, at character boundaries.
fn prefixes(s: &str) -> impl Iterator<Item = &str> {
    (1..=s.len())
        .rev()
        .filter(move |&i| s.is_char_boundary(i))
        .map(move |i| &s[..i])
}

fn trim_prefix(s: &str, pattern: &str, longest: bool) -> String {
    let pat: Vec<char> = pattern.chars().collect();
    let mut shortest: Option<&str> = None;
    for prefix in prefixes(s) {
        match glob_match(&pat, &prefix.chars().collect::<Vec<_>>()) {
            Err(()) => return s.to_string(),
            Ok(true) if longest => return s[prefix.len()..].to_string(),
            Ok(true) => shortest = Some(prefix),
            Ok(false) => {}
        }
    }
    match shortest {
        Some(p) => s[p.len()..].to_string(),
        None => s.to_string(),
    }
}

fn trim_suffix(s: &str, pattern: &str, longest: bool) -> String {
    let rs: String = s.chars().rev().collect();
    let rp: String = pattern.chars().rev().collect();
    trim_prefix(&rs, &rp, longest).chars().rev().collect()
}

/// `path.Match` as forked in fluxcd/pkg/envsubst (a trailing `*` matches anything, `/` too).
fn glob_match(pattern: &[char], name: &[char]) -> Result<bool, ()> {
    let mut pattern = pattern;
    let mut name = name;
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(true);
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(());
        }
        if star {
            for i in 0..name.len() {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(());
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(pattern: &[char]) -> (bool, &[char], &[char]) {
    let mut p = pattern;
    let mut star = false;
    while p.first() == Some(&'*') {
        p = &p[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &p[..i], &p[i..])
}

/// Returns (rest, ok, bad pattern).
fn match_chunk<'a>(chunk: &[char], s: &'a [char]) -> (&'a [char], bool, bool) {
    let mut chunk = chunk;
    let mut s = s;
    while !chunk.is_empty() {
        if s.is_empty() {
            return (s, false, false);
        }
        match chunk[0] {
            '[' => {
                let r = s[0];
                s = &s[1..];
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Some((lo, rest)) = get_esc(chunk) else {
                        return (s, false, true);
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
                        let Some((h, rest)) = get_esc(&chunk[1..]) else {
                            return (s, false, true);
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    return (s, false, false);
                }
            }
            '?' => {
                s = &s[1..];
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == '\\' {
                    chunk = &chunk[1..];
                    match chunk.first() {
                        Some(&c) => c,
                        None => return (s, false, true),
                    }
                } else {
                    c
                };
                if c != s[0] {
                    return (s, false, false);
                }
                s = &s[1..];
                chunk = &chunk[1..];
            }
        }
    }
    (s, true, false)
}

fn get_esc(chunk: &[char]) -> Option<(char, &[char])> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some('-' | ']') => return None,
        Some('\\') => {
            chunk = &chunk[1..];
            chunk.first()?;
        }
        _ => {}
    }
    let r = chunk[0];
    let rest = &chunk[1..];
    if rest.is_empty() {
        return None;
    }
    Some((r, rest))
}
