//! Flux's post-build substitution language (`${var}`, `${var:-default}`, `${var/a/b}`, ...),
//! ported from the Go module Flux uses, github.com/fluxcd/pkg/envsubst v1.7.0 (a fork of
//! drone/envsubst), quirks included: tests/substitute.rs runs every case through Flux's own
//! code (tests/tools/envsubst-ref) and through [`eval`], and the two must agree.
//!
//! The Go code works on bytes: lengths, offsets and substrings count bytes, and a substring
//! may cut a character in two. So does this port; the text is made UTF-8 again at the end,
//! each byte of a cut character becoming U+FFFD (as Go's `[]rune` and JSON encoding do).
//!
//! What Flux does that bash doesn't:
//! - every default form there is (`=`, `:=`, `:-`, `:+`, `:?`) means "the value, or the
//!   default when the value is empty": `${a:+x}` is `a`'s value, `${a:?x}` never fails;
//! - `${a-x}`, `${a+x}` and `${a?x}` (no colon) are not parsed: "missing closing brace";
//! - the default is substituted even when not used, so in strict mode `${a:-${b}}` fails
//!   when `b` is unset, set `a` or not;
//! - `$$` is `$` in plain text (`$${a}` is the text `${a}`) and in the pattern and
//!   replacement of `${a/p/r}`, where `\/` and `\\` are escapes too; elsewhere (defaults,
//!   substrings, `#` and `%` patterns) `$$` and backslashes are kept as they are;
//! - `${a#*}` removes one byte (the shortest non-empty prefix matching), `${a%*}` one
//!   character from the end; patterns are Go's `path.Match` globs where `*` and `?` also
//!   match `/`, and a malformed pattern removes nothing;
//! - `${a/x/}` and `${a//x/}` remove the matches, but `${a/#x/}` and `${a/%x/}` leave the
//!   value as it is; `${a/x}` (no second slash) is a bad substitution;
//! - offsets and lengths are bare integers (`${a:${n}}` for a negative offset, `${a: -1}`
//!   is not one); a negative length (`${a:1:-1}`, short of the end) makes Go panic: here it
//!   is [`EnvsubstError::BadSubstitution`];
//! - casing maps each character alone (`ß` stays `ß`), and names are Go's letters, digits
//!   and `_` (Unicode 15.0);
//! - a NUL character ends the text: what follows it is dropped.

/// Why a text could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvsubstError {
    /// A `${` form that is not understood.
    #[error("bad substitution")]
    BadSubstitution,
    /// `${name` followed by something that is neither an operator nor `}`.
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    #[error("unable to parse variable name")]
    VariableName,
    /// An argument of an operator that ends too early, or holds a bad `${`.
    #[error("unable to parse substitution within function")]
    FunctionSubstitution,
    /// A default operator (`=`, `:=`, `:-`, ...) that could not be read.
    #[error("unable to parse default function")]
    DefaultFunction,
    /// Strict mode: a variable that is not set, read bare or by a non-default operator.
    #[error("variable not set (strict mode): \"{0}\"")]
    NotSet(String),
    /// More nested `${` than plumb follows (Go has no limit; it grows its stack).
    #[error("substitutions nested more than {0} deep")]
    TooDeep(usize),
    /// A text that would grow past what the API server takes in one object (3 MiB): a
    /// revision must not make plumb build gigabytes out of one variable.
    #[error("the substituted text would be larger than {0} bytes")]
    TooLarge(usize),
}

/// The most one substituted text may hold: the API server's limit for a whole request.
pub const MAX_OUTPUT: usize = 3 * 1024 * 1024;

/// How many `${` may be nested in one another's arguments.
const MAX_DEPTH: usize = 64;

/// Substitutes `${...}` in `text` as Flux's envsubst does. `lookup(name)` is the variable's
/// value, or None when it is not set (then a bare `${name}` or a value-reading operator is
/// NotSet; the default operators -, :-, +, :+, =, :=, ?, :? take the unset case).
/// For Flux's non-strict mode the caller's lookup returns Some("") for unset names.
pub fn eval(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvsubstError> {
    let nodes = Parser::new(text).parse_any()?;
    let mut out = Vec::with_capacity(text.len());
    for node in &nodes {
        eval_node(node, lookup, &mut out)?;
    }
    if out.len() > MAX_OUTPUT {
        return Err(EnvsubstError::TooLarge(MAX_OUTPUT));
    }
    Ok(go_string(&out))
}

// ---------------------------------------------------------------------------------------
// Go's UTF-8 handling

/// Go's `utf8.RuneError`.
const RUNE_ERROR: char = '\u{FFFD}';

/// Go's `utf8.DecodeRune`: the first character of `b` and its length in bytes; an invalid
/// byte is (U+FFFD, 1), an empty slice (U+FFFD, 0).
fn decode(b: &[u8]) -> (char, usize) {
    match b.first() {
        None => (RUNE_ERROR, 0),
        Some(&c) if c < 0x80 => (char::from(c), 1),
        Some(_) => {
            let head = &b[..b.len().min(4)];
            let valid = match std::str::from_utf8(head) {
                Ok(s) => s,
                Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
            };
            match valid.chars().next() {
                Some(c) => (c, c.len_utf8()),
                None => (RUNE_ERROR, 1),
            }
        }
    }
}

/// Bytes as Go's `string([]rune(s))` makes them valid: U+FFFD for each invalid byte.
fn go_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => go_runes(b).into_iter().collect(),
    }
}

/// Go's `[]rune(s)`.
fn go_runes(mut b: &[u8]) -> Vec<char> {
    let mut out = Vec::with_capacity(b.len());
    while !b.is_empty() {
        let (c, n) = decode(b);
        out.push(c);
        b = &b[n..];
    }
    out
}

/// Whether `c` is in a flattened table of inclusive ranges.
fn in_table(table: &[u32], c: char) -> bool {
    let c = u32::from(c);
    let (mut lo, mut hi) = (0, table.len() / 2);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if c < table[2 * mid] {
            hi = mid;
        } else if c > table[2 * mid + 1] {
            lo = mid + 1;
        } else {
            return true;
        }
    }
    false
}

/// Go's `unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_'`.
fn is_ident(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    in_table(GO_LETTERS, c) || in_table(GO_DIGITS, c)
}

/// Go's `unicode.ToLower`: the simple (one character) mapping of Unicode 15.0.
fn go_lower(c: char) -> char {
    if in_table(NEWER_CASES, c) {
        return c;
    }
    let mut m = c.to_lowercase();
    match (m.next(), m.next()) {
        (Some(l), None) => l,
        // 'İ' lowers to "i̇" in full, to 'i' simply; it is the only such character.
        _ if c == '\u{130}' => 'i',
        _ => c,
    }
}

/// Go's `unicode.ToUpper`: the simple (one character) mapping of Unicode 15.0.
fn go_upper(c: char) -> char {
    if in_table(NEWER_CASES, c) {
        return c;
    }
    let mut m = c.to_uppercase();
    match (m.next(), m.next()) {
        (Some(u), None) => u,
        // Of the characters that upper to several ('ß' to "SS"), only Greek letters with
        // ypogegrammeni have a simple mapping: their titlecase form.
        _ => match u32::from(c) {
            0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
                char::from_u32(u32::from(c) + 8).unwrap_or(c)
            }
            0x1FB3 => '\u{1FBC}',
            0x1FC3 => '\u{1FCC}',
            0x1FF3 => '\u{1FFC}',
            _ => c,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The scanner

/// The text being scanned. Go's scanner removes an escape character from its buffer as it
/// reads (`$$` → `$`), always the byte just behind its position; a gap buffer keeps that
/// cheap, the gap following the position.
struct GapBuf {
    data: Vec<u8>,
    gap: usize,
    gap_len: usize,
}

impl GapBuf {
    fn len(&self) -> usize {
        self.data.len() - self.gap_len
    }

    fn get(&self, i: usize) -> Option<u8> {
        let i = if i < self.gap { i } else { i + self.gap_len };
        self.data.get(i).copied()
    }

    fn move_gap(&mut self, to: usize) {
        let to = to.min(self.len());
        if to < self.gap {
            self.data.copy_within(to..self.gap, to + self.gap_len);
        } else if to > self.gap {
            let from = self.gap + self.gap_len;
            self.data.copy_within(from..to + self.gap_len, self.gap);
        }
        self.gap = to;
    }

    /// Removes the byte at `i`.
    fn remove(&mut self, i: usize) {
        if i >= self.len() {
            return;
        }
        self.move_gap(i + 1);
        self.gap -= 1;
        self.gap_len += 1;
    }

    /// The bytes from `a` to `b`.
    fn slice(&self, a: usize, b: usize) -> Vec<u8> {
        let b = b.min(self.len());
        if a >= b {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(b - a);
        if a < self.gap {
            out.extend_from_slice(&self.data[a..b.min(self.gap)]);
        }
        if b > self.gap {
            let from = a.max(self.gap) + self.gap_len;
            out.extend_from_slice(&self.data[from..b + self.gap_len]);
        }
        out
    }

    /// The character at `i` (Go's `utf8.DecodeRuneInString(buf[i:])`).
    fn decode_at(&self, i: usize) -> (char, usize) {
        let mut head = [0u8; 4];
        let mut n = 0;
        while n < 4 {
            match self.get(i + n) {
                Some(b) => head[n] = b,
                None => break,
            }
            n += 1;
        }
        decode(&head[..n])
    }
}

/// What the scanner's `read` returns at the end (and for a NUL, which Go can't tell apart).
const EOF: char = '\0';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

// Mode bits: which tokens a scan recognizes.
const SCAN_IDENT: u8 = 1;
const SCAN_LBRACK: u8 = 2;
const SCAN_RBRACK: u8 = 4;
const SCAN_ESCAPE: u8 = 8;

// Escape bits: which escapes apply under SCAN_ESCAPE.
const DOLLAR: u8 = 1;
const BACKSLASH: u8 = 2;
const ESCAPE_ALL: u8 = DOLLAR | BACKSLASH;

/// Whether an identifier token takes this character, the `i`th byte offset of the token
/// after reading it.
type Accept = fn(char, isize) -> bool;

struct Scanner {
    buf: GapBuf,
    pos: usize,
    start: usize,
    width: usize,
    mode: u8,
    escape: u8,
    accept: Accept,
}

impl Scanner {
    fn read(&mut self) -> char {
        if self.pos >= self.buf.len() {
            self.width = 0;
            return EOF;
        }
        let (r, w) = self.buf.decode_at(self.pos);
        self.width = w;
        self.pos += w;
        r
    }

    /// Steps back over the last character read. Like Go's, it trusts `width`, which a
    /// `peek` in between has changed.
    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(self.width);
    }

    /// Drops the escape character just read.
    fn skip(&mut self) {
        if self.pos > 0 {
            self.buf.remove(self.pos - 1);
        }
    }

    fn peek(&mut self) -> char {
        let r = self.read();
        self.unread();
        r
    }

    /// The last token's bytes.
    fn string(&self) -> Vec<u8> {
        self.buf.slice(self.start, self.pos)
    }

    fn offset(&self) -> isize {
        self.pos as isize - self.start as isize
    }

    fn scan(&mut self) -> Token {
        self.start = self.pos;
        let r = self.read();
        if r == EOF {
            Token::Eof
        } else if self.scan_lbrack(r) {
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
        } else if !(self.accept)(r, self.offset()) {
            return false;
        }
        loop {
            let r = self.read();
            if r == EOF {
                self.unread();
                break;
            }
            if self.scan_lbrack(r) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(r) {
                self.skip();
                continue;
            }
            if !(self.accept)(r, self.offset()) {
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
            if self.read() == '{' {
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
        if r == '$' && self.escape & DOLLAR != 0 && self.peek() == '$' {
            return true;
        }
        r == '\\' && self.escape & BACKSLASH != 0 && matches!(self.peek(), '/' | '\\')
    }
}

fn accept_rune(_: char, _: isize) -> bool {
    true
}
fn accept_ident(r: char, _: isize) -> bool {
    is_ident(r)
}
fn accept_colon(r: char, _: isize) -> bool {
    r == ':'
}
fn accept_one_hash(r: char, i: isize) -> bool {
    r == '#' && i == 1
}
fn accept_not_closing(r: char, _: isize) -> bool {
    r != '}'
}
fn accept_hash_func(r: char, i: isize) -> bool {
    r == '#' && i < 3
}
fn accept_percent_func(r: char, i: isize) -> bool {
    r == '%' && i < 3
}
fn accept_default_func(r: char, i: isize) -> bool {
    (i == 1 && r == ':') || (i == 2 && matches!(r, '=' | '-' | '?' | '+'))
}
fn accept_replace_func(r: char, i: isize) -> bool {
    (i == 1 && r == '/') || (i == 2 && matches!(r, '/' | '#' | '%'))
}
fn accept_one_equal(r: char, i: isize) -> bool {
    i == 1 && r == '='
}
fn accept_one_colon(r: char, i: isize) -> bool {
    i == 1 && r == ':'
}
fn reject_colon_close(r: char, _: isize) -> bool {
    r != ':' && r != '}'
}
fn accept_slash(r: char, _: isize) -> bool {
    r == '/'
}
fn accept_not_slash(r: char, _: isize) -> bool {
    r != '/'
}
fn accept_casing_func(r: char, i: isize) -> bool {
    (r == ',' || r == '^') && i < 3
}

// ---------------------------------------------------------------------------------------
// The parser

/// A piece of the parsed text.
#[derive(Debug)]
enum Node {
    Text(Vec<u8>),
    Func(Func),
}

/// `${param<name><args>}`: `name` is the operator as written (`""` for a bare `${param}`).
#[derive(Debug)]
struct Func {
    param: Vec<u8>,
    name: Vec<u8>,
    args: Vec<Node>,
}

impl Func {
    fn new(param: Vec<u8>) -> Func {
        Func {
            param,
            name: Vec::new(),
            args: Vec::new(),
        }
    }
}

type Parsed = Result<Node, EnvsubstError>;

struct Parser {
    s: Scanner,
    depth: usize,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            s: Scanner {
                buf: GapBuf {
                    data: text.as_bytes().to_vec(),
                    gap: 0,
                    gap_len: 0,
                },
                pos: 0,
                start: 0,
                width: 0,
                mode: 0,
                escape: 0,
                accept: accept_rune,
            },
            depth: 0,
        }
    }

    /// The whole text: plain text and substitutions, in a loop where Go recurses.
    fn parse_any(&mut self) -> Result<Vec<Node>, EnvsubstError> {
        let mut nodes = Vec::new();
        loop {
            self.s.accept = accept_rune;
            self.s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
            self.s.escape = DOLLAR;
            match self.s.scan() {
                Token::Ident => nodes.push(Node::Text(self.s.string())),
                Token::Eof => return Ok(nodes),
                Token::Lbrack => nodes.push(self.parse_func()?),
                _ => return Err(EnvsubstError::BadSubstitution),
            }
        }
    }

    /// What follows a `${`.
    fn parse_func(&mut self) -> Parsed {
        if self.depth >= MAX_DEPTH {
            return Err(EnvsubstError::TooDeep(MAX_DEPTH));
        }
        self.depth += 1;
        let parsed = self.parse_func_body();
        self.depth -= 1;
        parsed
    }

    fn parse_func_body(&mut self) -> Parsed {
        self.s.escape = ESCAPE_ALL;
        if self.s.peek() == '#' {
            return self.parse_len_func();
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_IDENT;
        let name = match self.s.scan() {
            Token::Ident => self.s.string(),
            _ => return Err(EnvsubstError::VariableName),
        };
        match self.s.peek() {
            ':' => return self.parse_default_or_substr(name),
            '=' => return self.parse_default_func(name),
            ',' | '^' => return self.parse_casing_func(name),
            '/' => return self.parse_replace_func(name),
            '#' => return self.parse_remove_func(name, accept_hash_func),
            '%' => return self.parse_remove_func(name, accept_percent_func),
            _ => {}
        }
        self.s.accept = accept_ident;
        self.s.mode = SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(Node::Func(Func::new(name))),
            _ => Err(EnvsubstError::MissingClosingBrace),
        }
    }

    /// An operator's argument: text, or a nested `${`.
    fn parse_param(&mut self, accept: Accept, mode: u8) -> Parsed {
        self.s.accept = accept;
        self.s.mode = mode | SCAN_LBRACK;
        match self.s.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.s.string())),
            _ => Err(EnvsubstError::FunctionSubstitution),
        }
    }

    /// The operator as one token, `accept` telling its characters.
    fn scan_operator(
        &mut self,
        accept: Accept,
        error: EnvsubstError,
    ) -> Result<Vec<u8>, EnvsubstError> {
        self.s.accept = accept;
        self.s.mode = SCAN_IDENT;
        match self.s.scan() {
            Token::Ident => Ok(self.s.string()),
            _ => Err(error),
        }
    }

    fn parse_default_or_substr(&mut self, name: Vec<u8>) -> Parsed {
        // Go's two steps back after a peek both step back the peeked character's width:
        // after a multi-byte character the scanner lands before the ':'.
        self.s.read();
        let r = self.s.peek();
        self.s.unread();
        match r {
            '=' | '-' | '?' | '+' => self.parse_default_func(name),
            _ => self.parse_substr_func(name),
        }
    }

    /// `${param:offset}`, `${param:offset:length}`.
    fn parse_substr_func(&mut self, param: Vec<u8>) -> Parsed {
        let mut node = Func::new(param);
        node.name = self.scan_operator(accept_one_colon, EnvsubstError::BadSubstitution)?;
        node.args
            .push(self.parse_param(reject_colon_close, SCAN_IDENT)?);
        self.s.accept = accept_colon;
        self.s.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => return Ok(Node::Func(node)),
            Token::Ident => {}
            _ => return Err(EnvsubstError::BadSubstitution),
        }
        node.args
            .push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func(node))
    }

    /// `${param#word}`, `${param##word}`, `${param%word}`, `${param%%word}`.
    fn parse_remove_func(&mut self, param: Vec<u8>, accept: Accept) -> Parsed {
        let mut node = Func::new(param);
        node.name = self.scan_operator(accept, EnvsubstError::BadSubstitution)?;
        node.args
            .push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(Node::Func(node))
    }

    /// `${param/pattern/string}`, with `//`, `/#`, `/%`.
    fn parse_replace_func(&mut self, param: Vec<u8>) -> Parsed {
        let mut node = Func::new(param);
        node.name = self.scan_operator(accept_replace_func, EnvsubstError::BadSubstitution)?;
        node.args
            .push(self.parse_param(accept_not_slash, SCAN_IDENT | SCAN_ESCAPE)?);
        self.scan_operator(accept_slash, EnvsubstError::BadSubstitution)?;
        if self.s.peek() != '}' {
            node.args
                .push(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        }
        self.consume_rbrack()?;
        Ok(Node::Func(node))
    }

    /// `${param=word}`, `${param:=word}`, `${param:-word}`, `${param:?word}`, `${param:+word}`.
    fn parse_default_func(&mut self, param: Vec<u8>) -> Parsed {
        let mut node = Func::new(param);
        let accept = if self.s.peek() == '=' {
            accept_one_equal
        } else {
            accept_default_func
        };
        node.name = self.scan_operator(accept, EnvsubstError::DefaultFunction)?;
        while self.s.peek() != '}' {
            node.args
                .push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        }
        self.consume_rbrack()?;
        Ok(Node::Func(node))
    }

    /// `${param,}`, `${param,,}`, `${param^}`, `${param^^}`.
    fn parse_casing_func(&mut self, param: Vec<u8>) -> Parsed {
        let mut node = Func::new(param);
        node.name = self.scan_operator(accept_casing_func, EnvsubstError::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Node::Func(node))
    }

    /// `${#param}`.
    fn parse_len_func(&mut self) -> Parsed {
        let name = self.scan_operator(accept_one_hash, EnvsubstError::BadSubstitution)?;
        let mut node = Func::new(self.scan_operator(accept_ident, EnvsubstError::BadSubstitution)?);
        node.name = name;
        self.consume_rbrack()?;
        Ok(Node::Func(node))
    }

    fn consume_rbrack(&mut self) -> Result<(), EnvsubstError> {
        self.s.mode = SCAN_RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(()),
            _ => Err(EnvsubstError::BadSubstitution),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

fn eval_node(
    node: &Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Vec<u8>,
) -> Result<(), EnvsubstError> {
    match node {
        Node::Text(text) => out.extend_from_slice(text),
        Node::Func(f) => {
            // The arguments first, used or not (so a strict error in a default counts).
            let mut args = Vec::with_capacity(f.args.len());
            for arg in &f.args {
                let mut buf = Vec::new();
                eval_node(arg, lookup, &mut buf)?;
                args.push(buf);
            }
            let param = String::from_utf8_lossy(&f.param);
            let value = lookup(&param);
            if value.is_none() && !is_default_op(&f.name) {
                return Err(EnvsubstError::NotSet(param.into_owned()));
            }
            let value = value.unwrap_or_default();
            let piece = apply(&f.name, &value, &args)?;
            if out.len() + piece.len() > MAX_OUTPUT {
                return Err(EnvsubstError::TooLarge(MAX_OUTPUT));
            }
            out.extend_from_slice(&piece);
        }
    }
    Ok(())
}

/// Whether the operator supplies its own value for an unset variable (in strict mode).
fn is_default_op(name: &[u8]) -> bool {
    matches!(
        name,
        b"-" | b"+" | b"=" | b"?" | b":-" | b":+" | b":=" | b":?"
    )
}

/// The operator `name` on the value `s` (Go's `lookupFunc(name, len(args))(s, args...)`).
fn apply(name: &[u8], s: &str, args: &[Vec<u8>]) -> Result<Vec<u8>, EnvsubstError> {
    let first = args.first().map(Vec::as_slice);
    let out = match (name, first) {
        (b",", _) => map_first(s, go_lower),
        (b",,", _) => s.chars().map(go_lower).collect::<String>().into_bytes(),
        (b"^", _) => map_first(s, go_upper),
        (b"^^", _) => s.chars().map(go_upper).collect::<String>().into_bytes(),
        (b"#", None) => s.len().to_string().into_bytes(),
        (b"#", Some(pattern)) => trim_shortest(s.as_bytes(), pattern).to_vec(),
        (b"##", Some(pattern)) => trim_longest(s.as_bytes(), pattern).to_vec(),
        (b"%", Some(pattern)) => {
            reversed(trim_shortest(&reversed(s.as_bytes()), &reversed(pattern)))
        }
        (b"%%", Some(pattern)) => {
            reversed(trim_longest(&reversed(s.as_bytes()), &reversed(pattern)))
        }
        (b":", _) => substr(s.as_bytes(), args)?.to_vec(),
        (b"/#", _) => match args {
            [old, new] if s.as_bytes().starts_with(old) => replace(s.as_bytes(), old, new, 1)?,
            _ => s.as_bytes().to_vec(),
        },
        (b"/%", _) => match args {
            [old, new] if s.as_bytes().ends_with(old) => {
                let mut out = s.as_bytes()[..s.len() - old.len()].to_vec();
                out.extend_from_slice(new);
                out
            }
            _ => s.as_bytes().to_vec(),
        },
        (b"/" | b"//", Some(old)) => {
            let n = if name == b"/" { 1 } else { -1 };
            let new = args.get(1).map_or(&[][..], Vec::as_slice);
            replace(s.as_bytes(), old, new, n)?
        }
        // Everything else, a bare `${param}` and every default operator among them:
        // the value, or the arguments when it is empty.
        _ => {
            if s.is_empty() && !args.is_empty() {
                args.concat()
            } else {
                s.as_bytes().to_vec()
            }
        }
    };
    Ok(out)
}

/// The value with its first character mapped.
fn map_first(s: &str, f: fn(char) -> char) -> Vec<u8> {
    let mut chars = s.chars();
    match chars.next() {
        None => Vec::new(),
        Some(c) => {
            let mut out = String::with_capacity(s.len() + 4);
            out.push(f(c));
            out.push_str(chars.as_str());
            out.into_bytes()
        }
    }
}

/// Go's `reverse`: the characters in reverse order, each invalid byte one U+FFFD.
fn reversed(s: &[u8]) -> Vec<u8> {
    go_runes(s)
        .into_iter()
        .rev()
        .collect::<String>()
        .into_bytes()
}

/// `${param:offset:length}` by bytes, as Go's `toSubstr` (bash-like).
fn substr<'a>(s: &'a [u8], args: &[Vec<u8>]) -> Result<&'a [u8], EnvsubstError> {
    let Some(first) = args.first() else {
        return Ok(s);
    };
    let Some(mut pos) = atoi(first) else {
        return Ok(s);
    };
    let len = s.len() as i64;
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let rest = |pos: i64| {
        if pos < len {
            &s[pos as usize..]
        } else {
            &[][..]
        }
    };
    let Some(second) = args.get(1) else {
        return Ok(rest(pos));
    };
    let Some(length) = atoi(second) else {
        return Ok(s);
    };
    let end = pos.wrapping_add(length);
    if end >= len {
        return Ok(rest(pos));
    }
    if end < pos {
        // Go slices s[pos:end] and panics.
        return Err(EnvsubstError::BadSubstitution);
    }
    Ok(&s[pos as usize..end as usize])
}

/// Go's `strconv.Atoi` (64-bit): an optional sign and decimal digits.
fn atoi(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Go's `strings.Replace(s, old, new, n)` (`n < 0`: all), on bytes.
fn replace(s: &[u8], old: &[u8], new: &[u8], n: i64) -> Result<Vec<u8>, EnvsubstError> {
    if old == new || n == 0 {
        return Ok(s.to_vec());
    }
    let count = if old.is_empty() {
        go_runes(s).len() + 1
    } else {
        count(s, old)
    };
    if count == 0 {
        return Ok(s.to_vec());
    }
    let n = if n < 0 || (count as i64) < n {
        count
    } else {
        n as usize
    };
    if n.saturating_mul(new.len()).saturating_add(s.len()) > MAX_OUTPUT {
        return Err(EnvsubstError::TooLarge(MAX_OUTPUT));
    }
    let mut out = Vec::with_capacity(s.len() + n * new.len());
    let mut start = 0;
    for i in 0..n {
        let mut j = start;
        if old.is_empty() {
            if i > 0 {
                j += decode(&s[start..]).1;
            }
        } else {
            j += find(&s[start..], old).unwrap_or(0);
        }
        out.extend_from_slice(&s[start..j]);
        out.extend_from_slice(new);
        start = j + old.len();
    }
    out.extend_from_slice(&s[start.min(s.len())..]);
    Ok(out)
}

/// Where `needle` (not empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How many times `needle` (not empty) occurs in `hay`, not overlapping.
fn count(mut hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    while let Some(i) = find(hay, needle) {
        n += 1;
        hay = &hay[i + needle.len()..];
    }
    n
}

/// Go's `trimShortest`: `s` without its shortest non-empty prefix matching `pattern`.
fn trim_shortest<'a>(s: &'a [u8], pattern: &[u8]) -> &'a [u8] {
    let mut shortest = None;
    for end in (1..=s.len()).rev() {
        match go_match(pattern, &s[..end]) {
            Err(()) => return s,
            Ok(true) => shortest = Some(end),
            Ok(false) => {}
        }
    }
    match shortest {
        Some(end) => &s[end..],
        None => s,
    }
}

/// Go's `trimLongest`: `s` without its longest non-empty prefix matching `pattern`.
fn trim_longest<'a>(s: &'a [u8], pattern: &[u8]) -> &'a [u8] {
    for end in (1..=s.len()).rev() {
        match go_match(pattern, &s[..end]) {
            Err(()) => return s,
            Ok(true) => return &s[end..],
            Ok(false) => {}
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// Go's path.Match, as forked into envsubst: `*` and `?` match '/' too.

/// Whether `name` matches the whole glob `pattern`; Err when the pattern turns out
/// malformed on the way (Go looks no further than it needs to).
fn go_match(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, ()> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(true);
        }
        match match_chunk(chunk, name) {
            Chunk::Match(t) if t.is_empty() || !pattern.is_empty() => {
                name = t;
                continue;
            }
            Chunk::Bad => return Err(()),
            _ => {}
        }
        if star {
            for i in 0..name.len() {
                match match_chunk(chunk, &name[i + 1..]) {
                    Chunk::Match(t) => {
                        if pattern.is_empty() && !t.is_empty() {
                            continue;
                        }
                        name = t;
                        continue 'pattern;
                    }
                    Chunk::Bad => return Err(()),
                    Chunk::NoMatch => {}
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// The next piece of a pattern: whether stars lead it, the chunk up to the next star
/// (outside a class), and the rest.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while let [b'*', rest @ ..] = pattern {
        pattern = rest;
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

enum Chunk<'a> {
    /// The chunk matches the start of the text; what follows.
    Match(&'a [u8]),
    NoMatch,
    /// A malformed pattern.
    Bad,
}

/// Whether the chunk (no stars) matches the start of `s`.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Chunk<'a> {
    while let Some(&c) = chunk.first() {
        if s.is_empty() {
            return Chunk::NoMatch;
        }
        match c {
            b'[' => {
                let (r, n) = decode(s);
                s = &s[n..];
                chunk = &chunk[1..];
                let mut negated = false;
                if chunk.first() == Some(&b'^') {
                    negated = true;
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if ranges > 0 && chunk.first() == Some(&b']') {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Some((lo, rest)) = get_esc(chunk) else {
                        return Chunk::Bad;
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let Some((h, rest)) = get_esc(&chunk[1..]) else {
                            return Chunk::Bad;
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    return Chunk::NoMatch;
                }
            }
            b'?' => {
                s = &s[decode(s).1..];
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Chunk::Bad;
                    }
                }
                if chunk[0] != s[0] {
                    return Chunk::NoMatch;
                }
                s = &s[1..];
                chunk = &chunk[1..];
            }
        }
    }
    Chunk::Match(s)
}

/// A character of a class, maybe escaped, and the rest of the chunk; None when malformed
/// (nothing left after it counts as malformed: the class is not closed).
fn get_esc(mut chunk: &[u8]) -> Option<(char, &[u8])> {
    match chunk.first() {
        None | Some(b'-' | b']') => return None,
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return None;
            }
        }
        Some(_) => {}
    }
    let (r, n) = decode(chunk);
    if (r == RUNE_ERROR && n == 1) || chunk.len() == n {
        return None;
    }
    Some((r, &chunk[n..]))
}

// ---------------------------------------------------------------------------------------
// Go's Unicode tables (Unicode 15.0.0, the version of Go's `unicode` package)

/// Characters whose case Rust's (newer) Unicode maps and Go's doesn't: Go keeps them.
/// (tests/substitute.rs maps every character both ways and compares with Go.)
const NEWER_CASES: &[u32] = &[
    0x19B, 0x19B, 0x264, 0x264, 0x1C89, 0x1C8A, 0xA7CB, 0xA7CF, 0xA7D2, 0xA7D5, 0xA7DA, 0xA7DC,
    0x10D50, 0x10D65, 0x10D70, 0x10D85, 0x16EA0, 0x16EB8, 0x16EBB, 0x16ED3,
];

/// Go's `unicode.IsLetter` (Unicode 15.0.0, Go 1.26): inclusive ranges, flattened `[lo, hi, lo, hi, ...]`.
const GO_LETTERS: &[u32] = &[
    0x41, 0x5A, 0x61, 0x7A, 0xAA, 0xAA, 0xB5, 0xB5, 0xBA, 0xBA, 0xC0, 0xD6, 0xD8, 0xF6, 0xF8,
    0x2C1, 0x2C6, 0x2D1, 0x2E0, 0x2E4, 0x2EC, 0x2EC, 0x2EE, 0x2EE, 0x370, 0x374, 0x376, 0x377,
    0x37A, 0x37D, 0x37F, 0x37F, 0x386, 0x386, 0x388, 0x38A, 0x38C, 0x38C, 0x38E, 0x3A1, 0x3A3,
    0x3F5, 0x3F7, 0x481, 0x48A, 0x52F, 0x531, 0x556, 0x559, 0x559, 0x560, 0x588, 0x5D0, 0x5EA,
    0x5EF, 0x5F2, 0x620, 0x64A, 0x66E, 0x66F, 0x671, 0x6D3, 0x6D5, 0x6D5, 0x6E5, 0x6E6, 0x6EE,
    0x6EF, 0x6FA, 0x6FC, 0x6FF, 0x6FF, 0x710, 0x710, 0x712, 0x72F, 0x74D, 0x7A5, 0x7B1, 0x7B1,
    0x7CA, 0x7EA, 0x7F4, 0x7F5, 0x7FA, 0x7FA, 0x800, 0x815, 0x81A, 0x81A, 0x824, 0x824, 0x828,
    0x828, 0x840, 0x858, 0x860, 0x86A, 0x870, 0x887, 0x889, 0x88E, 0x8A0, 0x8C9, 0x904, 0x939,
    0x93D, 0x93D, 0x950, 0x950, 0x958, 0x961, 0x971, 0x980, 0x985, 0x98C, 0x98F, 0x990, 0x993,
    0x9A8, 0x9AA, 0x9B0, 0x9B2, 0x9B2, 0x9B6, 0x9B9, 0x9BD, 0x9BD, 0x9CE, 0x9CE, 0x9DC, 0x9DD,
    0x9DF, 0x9E1, 0x9F0, 0x9F1, 0x9FC, 0x9FC, 0xA05, 0xA0A, 0xA0F, 0xA10, 0xA13, 0xA28, 0xA2A,
    0xA30, 0xA32, 0xA33, 0xA35, 0xA36, 0xA38, 0xA39, 0xA59, 0xA5C, 0xA5E, 0xA5E, 0xA72, 0xA74,
    0xA85, 0xA8D, 0xA8F, 0xA91, 0xA93, 0xAA8, 0xAAA, 0xAB0, 0xAB2, 0xAB3, 0xAB5, 0xAB9, 0xABD,
    0xABD, 0xAD0, 0xAD0, 0xAE0, 0xAE1, 0xAF9, 0xAF9, 0xB05, 0xB0C, 0xB0F, 0xB10, 0xB13, 0xB28,
    0xB2A, 0xB30, 0xB32, 0xB33, 0xB35, 0xB39, 0xB3D, 0xB3D, 0xB5C, 0xB5D, 0xB5F, 0xB61, 0xB71,
    0xB71, 0xB83, 0xB83, 0xB85, 0xB8A, 0xB8E, 0xB90, 0xB92, 0xB95, 0xB99, 0xB9A, 0xB9C, 0xB9C,
    0xB9E, 0xB9F, 0xBA3, 0xBA4, 0xBA8, 0xBAA, 0xBAE, 0xBB9, 0xBD0, 0xBD0, 0xC05, 0xC0C, 0xC0E,
    0xC10, 0xC12, 0xC28, 0xC2A, 0xC39, 0xC3D, 0xC3D, 0xC58, 0xC5A, 0xC5D, 0xC5D, 0xC60, 0xC61,
    0xC80, 0xC80, 0xC85, 0xC8C, 0xC8E, 0xC90, 0xC92, 0xCA8, 0xCAA, 0xCB3, 0xCB5, 0xCB9, 0xCBD,
    0xCBD, 0xCDD, 0xCDE, 0xCE0, 0xCE1, 0xCF1, 0xCF2, 0xD04, 0xD0C, 0xD0E, 0xD10, 0xD12, 0xD3A,
    0xD3D, 0xD3D, 0xD4E, 0xD4E, 0xD54, 0xD56, 0xD5F, 0xD61, 0xD7A, 0xD7F, 0xD85, 0xD96, 0xD9A,
    0xDB1, 0xDB3, 0xDBB, 0xDBD, 0xDBD, 0xDC0, 0xDC6, 0xE01, 0xE30, 0xE32, 0xE33, 0xE40, 0xE46,
    0xE81, 0xE82, 0xE84, 0xE84, 0xE86, 0xE8A, 0xE8C, 0xEA3, 0xEA5, 0xEA5, 0xEA7, 0xEB0, 0xEB2,
    0xEB3, 0xEBD, 0xEBD, 0xEC0, 0xEC4, 0xEC6, 0xEC6, 0xEDC, 0xEDF, 0xF00, 0xF00, 0xF40, 0xF47,
    0xF49, 0xF6C, 0xF88, 0xF8C, 0x1000, 0x102A, 0x103F, 0x103F, 0x1050, 0x1055, 0x105A, 0x105D,
    0x1061, 0x1061, 0x1065, 0x1066, 0x106E, 0x1070, 0x1075, 0x1081, 0x108E, 0x108E, 0x10A0, 0x10C5,
    0x10C7, 0x10C7, 0x10CD, 0x10CD, 0x10D0, 0x10FA, 0x10FC, 0x1248, 0x124A, 0x124D, 0x1250, 0x1256,
    0x1258, 0x1258, 0x125A, 0x125D, 0x1260, 0x1288, 0x128A, 0x128D, 0x1290, 0x12B0, 0x12B2, 0x12B5,
    0x12B8, 0x12BE, 0x12C0, 0x12C0, 0x12C2, 0x12C5, 0x12C8, 0x12D6, 0x12D8, 0x1310, 0x1312, 0x1315,
    0x1318, 0x135A, 0x1380, 0x138F, 0x13A0, 0x13F5, 0x13F8, 0x13FD, 0x1401, 0x166C, 0x166F, 0x167F,
    0x1681, 0x169A, 0x16A0, 0x16EA, 0x16F1, 0x16F8, 0x1700, 0x1711, 0x171F, 0x1731, 0x1740, 0x1751,
    0x1760, 0x176C, 0x176E, 0x1770, 0x1780, 0x17B3, 0x17D7, 0x17D7, 0x17DC, 0x17DC, 0x1820, 0x1878,
    0x1880, 0x1884, 0x1887, 0x18A8, 0x18AA, 0x18AA, 0x18B0, 0x18F5, 0x1900, 0x191E, 0x1950, 0x196D,
    0x1970, 0x1974, 0x1980, 0x19AB, 0x19B0, 0x19C9, 0x1A00, 0x1A16, 0x1A20, 0x1A54, 0x1AA7, 0x1AA7,
    0x1B05, 0x1B33, 0x1B45, 0x1B4C, 0x1B83, 0x1BA0, 0x1BAE, 0x1BAF, 0x1BBA, 0x1BE5, 0x1C00, 0x1C23,
    0x1C4D, 0x1C4F, 0x1C5A, 0x1C7D, 0x1C80, 0x1C88, 0x1C90, 0x1CBA, 0x1CBD, 0x1CBF, 0x1CE9, 0x1CEC,
    0x1CEE, 0x1CF3, 0x1CF5, 0x1CF6, 0x1CFA, 0x1CFA, 0x1D00, 0x1DBF, 0x1E00, 0x1F15, 0x1F18, 0x1F1D,
    0x1F20, 0x1F45, 0x1F48, 0x1F4D, 0x1F50, 0x1F57, 0x1F59, 0x1F59, 0x1F5B, 0x1F5B, 0x1F5D, 0x1F5D,
    0x1F5F, 0x1F7D, 0x1F80, 0x1FB4, 0x1FB6, 0x1FBC, 0x1FBE, 0x1FBE, 0x1FC2, 0x1FC4, 0x1FC6, 0x1FCC,
    0x1FD0, 0x1FD3, 0x1FD6, 0x1FDB, 0x1FE0, 0x1FEC, 0x1FF2, 0x1FF4, 0x1FF6, 0x1FFC, 0x2071, 0x2071,
    0x207F, 0x207F, 0x2090, 0x209C, 0x2102, 0x2102, 0x2107, 0x2107, 0x210A, 0x2113, 0x2115, 0x2115,
    0x2119, 0x211D, 0x2124, 0x2124, 0x2126, 0x2126, 0x2128, 0x2128, 0x212A, 0x212D, 0x212F, 0x2139,
    0x213C, 0x213F, 0x2145, 0x2149, 0x214E, 0x214E, 0x2183, 0x2184, 0x2C00, 0x2CE4, 0x2CEB, 0x2CEE,
    0x2CF2, 0x2CF3, 0x2D00, 0x2D25, 0x2D27, 0x2D27, 0x2D2D, 0x2D2D, 0x2D30, 0x2D67, 0x2D6F, 0x2D6F,
    0x2D80, 0x2D96, 0x2DA0, 0x2DA6, 0x2DA8, 0x2DAE, 0x2DB0, 0x2DB6, 0x2DB8, 0x2DBE, 0x2DC0, 0x2DC6,
    0x2DC8, 0x2DCE, 0x2DD0, 0x2DD6, 0x2DD8, 0x2DDE, 0x2E2F, 0x2E2F, 0x3005, 0x3006, 0x3031, 0x3035,
    0x303B, 0x303C, 0x3041, 0x3096, 0x309D, 0x309F, 0x30A1, 0x30FA, 0x30FC, 0x30FF, 0x3105, 0x312F,
    0x3131, 0x318E, 0x31A0, 0x31BF, 0x31F0, 0x31FF, 0x3400, 0x4DBF, 0x4E00, 0xA48C, 0xA4D0, 0xA4FD,
    0xA500, 0xA60C, 0xA610, 0xA61F, 0xA62A, 0xA62B, 0xA640, 0xA66E, 0xA67F, 0xA69D, 0xA6A0, 0xA6E5,
    0xA717, 0xA71F, 0xA722, 0xA788, 0xA78B, 0xA7CA, 0xA7D0, 0xA7D1, 0xA7D3, 0xA7D3, 0xA7D5, 0xA7D9,
    0xA7F2, 0xA801, 0xA803, 0xA805, 0xA807, 0xA80A, 0xA80C, 0xA822, 0xA840, 0xA873, 0xA882, 0xA8B3,
    0xA8F2, 0xA8F7, 0xA8FB, 0xA8FB, 0xA8FD, 0xA8FE, 0xA90A, 0xA925, 0xA930, 0xA946, 0xA960, 0xA97C,
    0xA984, 0xA9B2, 0xA9CF, 0xA9CF, 0xA9E0, 0xA9E4, 0xA9E6, 0xA9EF, 0xA9FA, 0xA9FE, 0xAA00, 0xAA28,
    0xAA40, 0xAA42, 0xAA44, 0xAA4B, 0xAA60, 0xAA76, 0xAA7A, 0xAA7A, 0xAA7E, 0xAAAF, 0xAAB1, 0xAAB1,
    0xAAB5, 0xAAB6, 0xAAB9, 0xAABD, 0xAAC0, 0xAAC0, 0xAAC2, 0xAAC2, 0xAADB, 0xAADD, 0xAAE0, 0xAAEA,
    0xAAF2, 0xAAF4, 0xAB01, 0xAB06, 0xAB09, 0xAB0E, 0xAB11, 0xAB16, 0xAB20, 0xAB26, 0xAB28, 0xAB2E,
    0xAB30, 0xAB5A, 0xAB5C, 0xAB69, 0xAB70, 0xABE2, 0xAC00, 0xD7A3, 0xD7B0, 0xD7C6, 0xD7CB, 0xD7FB,
    0xF900, 0xFA6D, 0xFA70, 0xFAD9, 0xFB00, 0xFB06, 0xFB13, 0xFB17, 0xFB1D, 0xFB1D, 0xFB1F, 0xFB28,
    0xFB2A, 0xFB36, 0xFB38, 0xFB3C, 0xFB3E, 0xFB3E, 0xFB40, 0xFB41, 0xFB43, 0xFB44, 0xFB46, 0xFBB1,
    0xFBD3, 0xFD3D, 0xFD50, 0xFD8F, 0xFD92, 0xFDC7, 0xFDF0, 0xFDFB, 0xFE70, 0xFE74, 0xFE76, 0xFEFC,
    0xFF21, 0xFF3A, 0xFF41, 0xFF5A, 0xFF66, 0xFFBE, 0xFFC2, 0xFFC7, 0xFFCA, 0xFFCF, 0xFFD2, 0xFFD7,
    0xFFDA, 0xFFDC, 0x10000, 0x1000B, 0x1000D, 0x10026, 0x10028, 0x1003A, 0x1003C, 0x1003D,
    0x1003F, 0x1004D, 0x10050, 0x1005D, 0x10080, 0x100FA, 0x10280, 0x1029C, 0x102A0, 0x102D0,
    0x10300, 0x1031F, 0x1032D, 0x10340, 0x10342, 0x10349, 0x10350, 0x10375, 0x10380, 0x1039D,
    0x103A0, 0x103C3, 0x103C8, 0x103CF, 0x10400, 0x1049D, 0x104B0, 0x104D3, 0x104D8, 0x104FB,
    0x10500, 0x10527, 0x10530, 0x10563, 0x10570, 0x1057A, 0x1057C, 0x1058A, 0x1058C, 0x10592,
    0x10594, 0x10595, 0x10597, 0x105A1, 0x105A3, 0x105B1, 0x105B3, 0x105B9, 0x105BB, 0x105BC,
    0x10600, 0x10736, 0x10740, 0x10755, 0x10760, 0x10767, 0x10780, 0x10785, 0x10787, 0x107B0,
    0x107B2, 0x107BA, 0x10800, 0x10805, 0x10808, 0x10808, 0x1080A, 0x10835, 0x10837, 0x10838,
    0x1083C, 0x1083C, 0x1083F, 0x10855, 0x10860, 0x10876, 0x10880, 0x1089E, 0x108E0, 0x108F2,
    0x108F4, 0x108F5, 0x10900, 0x10915, 0x10920, 0x10939, 0x10980, 0x109B7, 0x109BE, 0x109BF,
    0x10A00, 0x10A00, 0x10A10, 0x10A13, 0x10A15, 0x10A17, 0x10A19, 0x10A35, 0x10A60, 0x10A7C,
    0x10A80, 0x10A9C, 0x10AC0, 0x10AC7, 0x10AC9, 0x10AE4, 0x10B00, 0x10B35, 0x10B40, 0x10B55,
    0x10B60, 0x10B72, 0x10B80, 0x10B91, 0x10C00, 0x10C48, 0x10C80, 0x10CB2, 0x10CC0, 0x10CF2,
    0x10D00, 0x10D23, 0x10E80, 0x10EA9, 0x10EB0, 0x10EB1, 0x10F00, 0x10F1C, 0x10F27, 0x10F27,
    0x10F30, 0x10F45, 0x10F70, 0x10F81, 0x10FB0, 0x10FC4, 0x10FE0, 0x10FF6, 0x11003, 0x11037,
    0x11071, 0x11072, 0x11075, 0x11075, 0x11083, 0x110AF, 0x110D0, 0x110E8, 0x11103, 0x11126,
    0x11144, 0x11144, 0x11147, 0x11147, 0x11150, 0x11172, 0x11176, 0x11176, 0x11183, 0x111B2,
    0x111C1, 0x111C4, 0x111DA, 0x111DA, 0x111DC, 0x111DC, 0x11200, 0x11211, 0x11213, 0x1122B,
    0x1123F, 0x11240, 0x11280, 0x11286, 0x11288, 0x11288, 0x1128A, 0x1128D, 0x1128F, 0x1129D,
    0x1129F, 0x112A8, 0x112B0, 0x112DE, 0x11305, 0x1130C, 0x1130F, 0x11310, 0x11313, 0x11328,
    0x1132A, 0x11330, 0x11332, 0x11333, 0x11335, 0x11339, 0x1133D, 0x1133D, 0x11350, 0x11350,
    0x1135D, 0x11361, 0x11400, 0x11434, 0x11447, 0x1144A, 0x1145F, 0x11461, 0x11480, 0x114AF,
    0x114C4, 0x114C5, 0x114C7, 0x114C7, 0x11580, 0x115AE, 0x115D8, 0x115DB, 0x11600, 0x1162F,
    0x11644, 0x11644, 0x11680, 0x116AA, 0x116B8, 0x116B8, 0x11700, 0x1171A, 0x11740, 0x11746,
    0x11800, 0x1182B, 0x118A0, 0x118DF, 0x118FF, 0x11906, 0x11909, 0x11909, 0x1190C, 0x11913,
    0x11915, 0x11916, 0x11918, 0x1192F, 0x1193F, 0x1193F, 0x11941, 0x11941, 0x119A0, 0x119A7,
    0x119AA, 0x119D0, 0x119E1, 0x119E1, 0x119E3, 0x119E3, 0x11A00, 0x11A00, 0x11A0B, 0x11A32,
    0x11A3A, 0x11A3A, 0x11A50, 0x11A50, 0x11A5C, 0x11A89, 0x11A9D, 0x11A9D, 0x11AB0, 0x11AF8,
    0x11C00, 0x11C08, 0x11C0A, 0x11C2E, 0x11C40, 0x11C40, 0x11C72, 0x11C8F, 0x11D00, 0x11D06,
    0x11D08, 0x11D09, 0x11D0B, 0x11D30, 0x11D46, 0x11D46, 0x11D60, 0x11D65, 0x11D67, 0x11D68,
    0x11D6A, 0x11D89, 0x11D98, 0x11D98, 0x11EE0, 0x11EF2, 0x11F02, 0x11F02, 0x11F04, 0x11F10,
    0x11F12, 0x11F33, 0x11FB0, 0x11FB0, 0x12000, 0x12399, 0x12480, 0x12543, 0x12F90, 0x12FF0,
    0x13000, 0x1342F, 0x13441, 0x13446, 0x14400, 0x14646, 0x16800, 0x16A38, 0x16A40, 0x16A5E,
    0x16A70, 0x16ABE, 0x16AD0, 0x16AED, 0x16B00, 0x16B2F, 0x16B40, 0x16B43, 0x16B63, 0x16B77,
    0x16B7D, 0x16B8F, 0x16E40, 0x16E7F, 0x16F00, 0x16F4A, 0x16F50, 0x16F50, 0x16F93, 0x16F9F,
    0x16FE0, 0x16FE1, 0x16FE3, 0x16FE3, 0x17000, 0x187F7, 0x18800, 0x18CD5, 0x18D00, 0x18D08,
    0x1AFF0, 0x1AFF3, 0x1AFF5, 0x1AFFB, 0x1AFFD, 0x1AFFE, 0x1B000, 0x1B122, 0x1B132, 0x1B132,
    0x1B150, 0x1B152, 0x1B155, 0x1B155, 0x1B164, 0x1B167, 0x1B170, 0x1B2FB, 0x1BC00, 0x1BC6A,
    0x1BC70, 0x1BC7C, 0x1BC80, 0x1BC88, 0x1BC90, 0x1BC99, 0x1D400, 0x1D454, 0x1D456, 0x1D49C,
    0x1D49E, 0x1D49F, 0x1D4A2, 0x1D4A2, 0x1D4A5, 0x1D4A6, 0x1D4A9, 0x1D4AC, 0x1D4AE, 0x1D4B9,
    0x1D4BB, 0x1D4BB, 0x1D4BD, 0x1D4C3, 0x1D4C5, 0x1D505, 0x1D507, 0x1D50A, 0x1D50D, 0x1D514,
    0x1D516, 0x1D51C, 0x1D51E, 0x1D539, 0x1D53B, 0x1D53E, 0x1D540, 0x1D544, 0x1D546, 0x1D546,
    0x1D54A, 0x1D550, 0x1D552, 0x1D6A5, 0x1D6A8, 0x1D6C0, 0x1D6C2, 0x1D6DA, 0x1D6DC, 0x1D6FA,
    0x1D6FC, 0x1D714, 0x1D716, 0x1D734, 0x1D736, 0x1D74E, 0x1D750, 0x1D76E, 0x1D770, 0x1D788,
    0x1D78A, 0x1D7A8, 0x1D7AA, 0x1D7C2, 0x1D7C4, 0x1D7CB, 0x1DF00, 0x1DF1E, 0x1DF25, 0x1DF2A,
    0x1E030, 0x1E06D, 0x1E100, 0x1E12C, 0x1E137, 0x1E13D, 0x1E14E, 0x1E14E, 0x1E290, 0x1E2AD,
    0x1E2C0, 0x1E2EB, 0x1E4D0, 0x1E4EB, 0x1E7E0, 0x1E7E6, 0x1E7E8, 0x1E7EB, 0x1E7ED, 0x1E7EE,
    0x1E7F0, 0x1E7FE, 0x1E800, 0x1E8C4, 0x1E900, 0x1E943, 0x1E94B, 0x1E94B, 0x1EE00, 0x1EE03,
    0x1EE05, 0x1EE1F, 0x1EE21, 0x1EE22, 0x1EE24, 0x1EE24, 0x1EE27, 0x1EE27, 0x1EE29, 0x1EE32,
    0x1EE34, 0x1EE37, 0x1EE39, 0x1EE39, 0x1EE3B, 0x1EE3B, 0x1EE42, 0x1EE42, 0x1EE47, 0x1EE47,
    0x1EE49, 0x1EE49, 0x1EE4B, 0x1EE4B, 0x1EE4D, 0x1EE4F, 0x1EE51, 0x1EE52, 0x1EE54, 0x1EE54,
    0x1EE57, 0x1EE57, 0x1EE59, 0x1EE59, 0x1EE5B, 0x1EE5B, 0x1EE5D, 0x1EE5D, 0x1EE5F, 0x1EE5F,
    0x1EE61, 0x1EE62, 0x1EE64, 0x1EE64, 0x1EE67, 0x1EE6A, 0x1EE6C, 0x1EE72, 0x1EE74, 0x1EE77,
    0x1EE79, 0x1EE7C, 0x1EE7E, 0x1EE7E, 0x1EE80, 0x1EE89, 0x1EE8B, 0x1EE9B, 0x1EEA1, 0x1EEA3,
    0x1EEA5, 0x1EEA9, 0x1EEAB, 0x1EEBB, 0x20000, 0x2A6DF, 0x2A700, 0x2B739, 0x2B740, 0x2B81D,
    0x2B820, 0x2CEA1, 0x2CEB0, 0x2EBE0, 0x2F800, 0x2FA1D, 0x30000, 0x3134A, 0x31350, 0x323AF,
];

/// Go's `unicode.IsDigit` (Unicode 15.0.0): inclusive ranges, flattened.
const GO_DIGITS: &[u32] = &[
    0x30, 0x39, 0x660, 0x669, 0x6F0, 0x6F9, 0x7C0, 0x7C9, 0x966, 0x96F, 0x9E6, 0x9EF, 0xA66, 0xA6F,
    0xAE6, 0xAEF, 0xB66, 0xB6F, 0xBE6, 0xBEF, 0xC66, 0xC6F, 0xCE6, 0xCEF, 0xD66, 0xD6F, 0xDE6,
    0xDEF, 0xE50, 0xE59, 0xED0, 0xED9, 0xF20, 0xF29, 0x1040, 0x1049, 0x1090, 0x1099, 0x17E0,
    0x17E9, 0x1810, 0x1819, 0x1946, 0x194F, 0x19D0, 0x19D9, 0x1A80, 0x1A89, 0x1A90, 0x1A99, 0x1B50,
    0x1B59, 0x1BB0, 0x1BB9, 0x1C40, 0x1C49, 0x1C50, 0x1C59, 0xA620, 0xA629, 0xA8D0, 0xA8D9, 0xA900,
    0xA909, 0xA9D0, 0xA9D9, 0xA9F0, 0xA9F9, 0xAA50, 0xAA59, 0xABF0, 0xABF9, 0xFF10, 0xFF19,
    0x104A0, 0x104A9, 0x10D30, 0x10D39, 0x11066, 0x1106F, 0x110F0, 0x110F9, 0x11136, 0x1113F,
    0x111D0, 0x111D9, 0x112F0, 0x112F9, 0x11450, 0x11459, 0x114D0, 0x114D9, 0x11650, 0x11659,
    0x116C0, 0x116C9, 0x11730, 0x11739, 0x118E0, 0x118E9, 0x11950, 0x11959, 0x11C50, 0x11C59,
    0x11D50, 0x11D59, 0x11DA0, 0x11DA9, 0x11F50, 0x11F59, 0x16A60, 0x16A69, 0x16AC0, 0x16AC9,
    0x16B50, 0x16B59, 0x1D7CE, 0x1D7FF, 0x1E140, 0x1E149, 0x1E2F0, 0x1E2F9, 0x1E4F0, 0x1E4F9,
    0x1E950, 0x1E959, 0x1FBF0, 0x1FBF9,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use EnvsubstError::*;

    fn run(text: &str, vars: &[(&str, &str)], strict: bool) -> Result<String, EnvsubstError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        eval(text, &|name| match vars.get(name) {
            Some(v) => Some(v.clone()),
            None if strict => None,
            None => Some(String::new()),
        })
    }

    /// (text, expected) with the variables below, non-strict.
    const CASES: &[(&str, &str)] = &[
        // plain text and escapes
        ("", ""),
        ("plain text", "plain text"),
        ("$a $ {a} $(a)", "$a $ {a} $(a)"),
        ("$$", "$"),
        ("$$$", "$$"),
        ("$$$$", "$$"),
        ("$${s}", "${s}"),
        ("a$$b$${s}c${s}", "a$b${s}cabcd"),
        ("\\\\ \\/ ${s}", "\\\\ \\/ abcd"),
        ("}", "}"),
        ("$", "$"),
        ("$}", "$}"),
        // bare and length
        ("${s}", "abcd"),
        ("<${s}${n}>", "<abcd123>"),
        ("${unset}", ""),
        ("${#s}", "4"),
        ("${#u}", "10"),
        ("${#unset}", "0"),
        ("${_x}", "under"),
        ("${é}", "accent"),
        // casing
        ("${s^}", "Abcd"),
        ("${s^^}", "ABCD"),
        ("${S,}", "aBCD"),
        ("${S,,}", "abcd"),
        ("${u^^}", "ÉTÉ ΣΑ"),
        ("${u^}", "Été σα"),
        ("${s,^}", "abcd"),
        ("${sz^^}", "ß"),
        ("${dot,,}", "i"),
        // substrings, by bytes
        ("${p:6}", "bozo/ideas"),
        ("${p:6:4}", "bozo"),
        ("${p:${m5}}", "ideas"),
        ("${p:${m100}}", "/home/bozo/ideas"),
        ("${p: -5}", "/home/bozo/ideas"),
        ("${p:-5}", "/home/bozo/ideas"),
        ("${p:100}", ""),
        ("${p:6:100}", "bozo/ideas"),
        ("${p:x}", "/home/bozo/ideas"),
        ("${p:1:x}", "/home/bozo/ideas"),
        ("${p:${plus2}:${plus3}}", "ome"),
        ("${p:0:0}", ""),
        ("${p:1::2}", "ho"),
        ("${p:${n:0:1}:2}", "ho"),
        ("${u:0:1}", "\u{FFFD}"),
        ("${u:1}", "\u{FFFD}t\u{e9} \u{3c3}\u{3b1}"),
        // replacements
        ("${r/a/X}", "Xbcabc"),
        ("${r//a/X}", "XbcXbc"),
        ("${r/#a/X}", "Xbcabc"),
        ("${r/#b/X}", "abcabc"),
        ("${r/%c/X}", "abcabX"),
        ("${r/%a/X}", "abcabc"),
        ("${r/b/}", "acabc"),
        ("${r//b/}", "acac"),
        ("${r/#a/}", "abcabc"),
        ("${r/%c/}", "abcabc"),
        ("${p//\\//-}", "-home-bozo-ideas"),
        ("${bs//\\\\/+}", "a+b"),
        ("${r//${unset}/-}", "-a-b-c-a-b-c-"),
        ("${r/${unset}/-}", "-abcabc"),
        ("${r//b/$$}", "a$ca$c"),
        // removal, with Go's globs
        ("${f#*.}", "string.txt"),
        ("${f##*.}", "txt"),
        ("${f%.*}", "bash.string"),
        ("${f%%.*}", "bash"),
        ("${f#*}", "ash.string.txt"),
        ("${f%*}", "bash.string.tx"),
        ("${f#[a-c]}", "ash.string.txt"),
        ("${f#[^a-c]}", "bash.string.txt"),
        ("${f#?a}", "sh.string.txt"),
        ("${f#[}", "bash.string.txt"),
        ("${f#\\b}", "ash.string.txt"),
        ("${f##b*s}", "tring.txt"),
        ("${p#*/}", "home/bozo/ideas"),
        ("${p##*/}", "ideas"),
        ("${f###}", "bash.string.txt"),
        ("${u%?}", "\u{e9}t\u{e9} \u{3c3}\u{FFFD}"),
        // defaults: all alike
        ("${unset=d}", "d"),
        ("${unset:=d}", "d"),
        ("${unset:-d}", "d"),
        ("${unset:+d}", "d"),
        ("${unset:?d}", "d"),
        ("${s:-d}", "abcd"),
        ("${s:+d}", "abcd"),
        ("${s:?d}", "abcd"),
        ("${unset:-}", ""),
        ("${unset:-a${s}b${n}c}", "aabcdb123c"),
        ("${unset:-${unset2:-${s^^}}}", "ABCD"),
        ("${unset:-$$}", "$$"),
        ("${unset:-\\/}", "\\/"),
        ("${unset:-a:b}", "a:b"),
        ("${unset:- x }", " x "),
        ("${unset:-{}", "{"),
        ("${unset=}", ""),
        // NUL ends the text
        ("ab\u{0}${s}", "ab"),
    ];

    const VARS: &[(&str, &str)] = &[
        ("s", "abcd"),
        ("S", "ABCD"),
        ("n", "123"),
        ("u", "été σα"),
        ("_x", "under"),
        ("é", "accent"),
        ("sz", "ß"),
        ("dot", "\u{130}"),
        ("p", "/home/bozo/ideas"),
        ("r", "abcabc"),
        ("bs", "a\\b"),
        ("f", "bash.string.txt"),
        ("m5", "-5"),
        ("m100", "-100"),
        ("plus2", "+2"),
        ("plus3", "+3"),
    ];

    #[test]
    fn operators() {
        let mut wrong = Vec::new();
        for (text, want) in CASES {
            match run(text, VARS, false) {
                Ok(got) if got == *want => {}
                got => wrong.push(format!("{text:?}: want {want:?}, got {got:?}")),
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn errors() {
        let cases: &[(&str, EnvsubstError)] = &[
            ("${", VariableName),
            ("${}", VariableName),
            ("${ s}", VariableName),
            ("${-}", VariableName),
            ("${s", MissingClosingBrace),
            ("${s x}", MissingClosingBrace),
            ("${s-d}", MissingClosingBrace),
            ("${s+d}", MissingClosingBrace),
            ("${s?d}", MissingClosingBrace),
            ("${s:}", FunctionSubstitution),
            ("${s:1:}", FunctionSubstitution),
            ("${s:-d", FunctionSubstitution),
            ("${s:-${}}", VariableName),
            ("${s/a}", BadSubstitution),
            ("${s//}", BadSubstitution),
            ("${s#}", FunctionSubstitution),
            ("${#}", BadSubstitution),
            ("${#s", BadSubstitution),
            ("${##s}", BadSubstitution),
            ("${s^x}", BadSubstitution),
            ("${s^^^}", BadSubstitution),
            ("${s:é}", BadSubstitution),
            ("${s:1:-1}", BadSubstitution),
            ("${s:1:9223372036854775807}", BadSubstitution),
            ("x ${s ${", MissingClosingBrace),
        ];
        let mut wrong = Vec::new();
        for (text, want) in cases {
            let got = run(text, VARS, false);
            if got.as_ref() != Err(want) {
                wrong.push(format!("{text:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn strict() {
        let not_set = |name: &str| Err(NotSet(name.to_string()));
        let cases: &[(&str, &str)] = &[
            ("${s}", "abcd"),
            ("${empty}", ""),
            ("${empty:-d}", "d"),
            ("${unset:-d}", "d"),
            ("${unset=d}", "d"),
            ("${unset:=d}", "d"),
            ("${unset:+d}", "d"),
            ("${unset:?d}", "d"),
            ("${unset:-}", ""),
            ("$${unset}", "${unset}"),
        ];
        let mut wrong = Vec::new();
        let vars = &[("s", "abcd"), ("empty", "")];
        for (text, want) in cases {
            let got = run(text, vars, true);
            if got.as_deref() != Ok(*want) {
                wrong.push(format!("{text:?}: want {want:?}, got {got:?}"));
            }
        }
        for text in [
            "${unset}",
            "${#unset}",
            "${unset^}",
            "${unset^^}",
            "${unset,}",
            "${unset,,}",
            "${unset,^}",
            "${unset:0}",
            "${unset:0:1}",
            "${unset/a/b}",
            "${unset//a/b}",
            "${unset/#a/b}",
            "${unset/%a/b}",
            "${unset#a}",
            "${unset##a}",
            "${unset%a}",
            "${unset%%a}",
            "${s:-${unset}}",
            "${s/${unset}/x}",
            "text ${s} ${unset} ${other}",
        ] {
            let got = run(text, vars, true);
            if got != not_set("unset") {
                wrong.push(format!("{text:?}: want NotSet(unset), got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert_eq!(
            not_set("x").unwrap_err().to_string(),
            "variable not set (strict mode): \"x\""
        );
    }

    #[test]
    fn nesting() {
        let nested = |depth: usize| format!("{}x{}", "${a:-".repeat(depth), "}".repeat(depth));
        assert_eq!(run(&nested(MAX_DEPTH), &[], false).as_deref(), Ok("x"));
        assert_eq!(
            run(&nested(MAX_DEPTH + 1), &[], false),
            Err(TooDeep(MAX_DEPTH))
        );
        assert_eq!(run(&nested(100_000), &[], false), Err(TooDeep(MAX_DEPTH)));
        assert_eq!(
            TooDeep(MAX_DEPTH).to_string(),
            "substitutions nested more than 64 deep"
        );
    }

    #[test]
    fn a_text_may_not_grow_past_what_an_object_can_hold() {
        let big = "x".repeat(1 << 20);
        // Four references to a 1 MiB value: past 3 MiB, refused before it is built.
        assert_eq!(
            run(&"${a}".repeat(4), &[("a", &big)], false),
            Err(EnvsubstError::TooLarge(MAX_OUTPUT))
        );
        assert_eq!(
            run(&"${a}".repeat(3), &[("a", &big)], false).map(|s| s.len()),
            Ok(3 << 20)
        );
        // One replacement that would make a terabyte.
        let text = format!("${{a//x/{}}}", "y".repeat(1 << 20));
        assert_eq!(
            run(&text, &[("a", &big)], false),
            Err(EnvsubstError::TooLarge(MAX_OUTPUT))
        );
    }

    #[test]
    fn long_texts() {
        let text = "${a}".repeat(250_000);
        assert_eq!(
            run(&text, &[("a", "xy")], false).unwrap(),
            "xy".repeat(250_000)
        );
        let text = "$$".repeat(500_000);
        assert_eq!(run(&text, &[], false).unwrap(), "$".repeat(500_000));
        let text = format!("${{a:-{}}}", "${b}-".repeat(200_000));
        assert_eq!(
            run(&text, &[("b", "1")], false).unwrap(),
            "1-".repeat(200_000)
        );
        let text = format!("${{a/b/{}}}", "\\/".repeat(200_000));
        assert_eq!(
            run(&text, &[("a", "abc")], false).unwrap(),
            format!("a{}c", "/".repeat(200_000))
        );
    }

    #[test]
    fn go_casing() {
        assert_eq!(go_upper('ß'), 'ß');
        assert_eq!(go_upper('\u{1F80}'), '\u{1F88}');
        assert_eq!(go_upper('\u{1FB3}'), '\u{1FBC}');
        assert_eq!(go_upper('ﬀ'), 'ﬀ');
        assert_eq!(go_lower('\u{130}'), 'i');
        assert_eq!(go_lower('Σ'), 'σ');
        assert_eq!(go_upper('\u{1C8A}'), '\u{1C8A}');
        assert!(is_ident('é') && is_ident('٣') && is_ident('_'));
        assert!(!is_ident('\u{2160}') && !is_ident('\u{93F}') && !is_ident('-'));
    }

    #[test]
    fn go_globs() {
        let m = |p: &str, n: &str| go_match(p.as_bytes(), n.as_bytes());
        assert_eq!(m("*", "a/b"), Ok(true));
        assert_eq!(m("a?c", "a/c"), Ok(true));
        assert_eq!(m("a*c", "abxc"), Ok(true));
        assert_eq!(m("a*c", "abxcd"), Ok(false));
        assert_eq!(m("[a-c]x", "bx"), Ok(true));
        assert_eq!(m("[^a-c]x", "bx"), Ok(false));
        assert_eq!(m("[\\]]", "]"), Ok(true));
        assert_eq!(m("[", "a"), Err(()));
        assert_eq!(m("a\\", "a"), Ok(false));
        assert_eq!(m("\\", "a"), Err(()));
        assert_eq!(m("[]a]", "a"), Err(()));
        assert_eq!(m("x[", "a"), Ok(false));
        assert_eq!(m("é?", "éé"), Ok(true));
    }

    /// Pseudo-random texts from the operators' alphabet never make eval panic.
    #[test]
    fn no_panic() {
        const ALPHABET: &[&str] = &[
            "$", "{", "}", ":", "-", "=", "+", "?", "#", "%", "/", ",", "^", "\\", "a", "b", "1",
            " ", "é",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let values = ["", "a", "ab/é", "é1", "\u{0}", "$${a}"];
        let mut ok = 0;
        for i in 0..300_000u32 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let a = values[(next() % values.len() as u64) as usize];
            let b = values[(next() % values.len() as u64) as usize];
            let strict = i % 2 == 0;
            let lookup = |name: &str| match name {
                "a" => Some(a.to_string()),
                "b" => Some(b.to_string()),
                _ if strict => None,
                _ => Some(String::new()),
            };
            if eval(&text, &lookup).is_ok() {
                ok += 1;
            }
        }
        // The alphabet is rich enough to reach both outcomes often.
        assert!(ok > 3_000 && ok < 297_000, "{ok} of 300000 succeeded");
    }
}
