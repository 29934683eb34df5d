//! A YAML 1.1 reader for the first document of a stream, giving the node tree go-yaml v2
//! builds: scalars with their style (plain or quoted) and tag, sequences, mappings, and
//! aliases resolved to their anchored nodes. It is written for valid YAML: syntax errors
//! are found first by libyaml (serde_yaml_ng's parser) and worded as go-yaml words them.

use std::collections::HashMap;
use std::rc::Rc;

#[derive(Debug)]
pub enum YNode {
    Scalar {
        value: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<Rc<YNode>>),
    Map(Vec<(Rc<YNode>, Rc<YNode>)>),
}

pub struct Loader {
    c: Vec<char>,
    i: usize,
    line_start: usize,
    anchors: HashMap<String, Rc<YNode>>,
    depth: usize,
    /// The last node read was a one-line plain scalar that may continue.
    pending_plain: bool,
}

type R<T> = Result<T, String>;

/// How deep collections may nest. go-yaml allows 10,000 and grows its stack; no values file
/// nests past a few dozen, and every later step (coalescing, templates, printing) recurses
/// over the same depth on a fixed stack.
pub(super) const MAX_DEPTH: usize = 256;

fn blank(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t' | '\n' | '\r'))
}

fn flow_ind(c: char) -> bool {
    matches!(c, ',' | '[' | ']' | '{' | '}')
}

impl Loader {
    pub fn new(text: &str) -> Loader {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let c: Vec<char> = text.chars().filter(|&c| c != '\r').collect();
        Loader {
            c,
            i: 0,
            line_start: 0,
            anchors: HashMap::new(),
            depth: 0,
            pending_plain: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }

    fn at(&self, k: usize) -> Option<char> {
        self.c.get(self.i + k).copied()
    }

    fn col(&self) -> i64 {
        (self.i - self.line_start) as i64
    }

    fn bump(&mut self) {
        if self.peek() == Some('\n') {
            self.i += 1;
            self.line_start = self.i;
        } else if self.i < self.c.len() {
            self.i += 1;
        }
    }

    fn err(&self, msg: &str) -> String {
        let line = self.c[..self.i.min(self.c.len())]
            .iter()
            .filter(|&&c| c == '\n')
            .count()
            + 1;
        format!("yaml: line {line}: {msg}")
    }

    /// A `---` or `...` at the start of a line.
    fn at_doc_marker(&self) -> bool {
        self.col() == 0
            && ((self.peek() == Some('-') && self.at(1) == Some('-') && self.at(2) == Some('-'))
                || (self.peek() == Some('.') && self.at(1) == Some('.') && self.at(2) == Some('.')))
            && blank(self.at(3))
    }

    fn skip_inline_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Skips spaces, comments and line breaks up to the next token.
    fn skip_to_token(&mut self) {
        loop {
            self.skip_inline_space();
            match self.peek() {
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                }
                Some('\n') => self.bump(),
                _ => return,
            }
        }
    }

    fn at_end(&self) -> bool {
        self.peek().is_none() || self.at_doc_marker()
    }

    /// The first document's root node, or None for an empty stream.
    pub fn document(&mut self) -> R<Option<Rc<YNode>>> {
        loop {
            self.skip_to_token();
            if self.col() == 0 && self.peek() == Some('%') {
                while !matches!(self.peek(), None | Some('\n')) {
                    self.bump();
                }
                continue;
            }
            break;
        }
        let explicit = self.at_doc_marker() && self.peek() == Some('-');
        if explicit {
            for _ in 0..3 {
                self.bump();
            }
        } else if self.at_end() {
            return Ok(None);
        }
        let n = self.block_node(-1, false)?;
        Ok(Some(n))
    }

    fn null() -> Rc<YNode> {
        Rc::new(YNode::Scalar {
            value: String::new(),
            plain: true,
            tag: None,
        })
    }

    /// Anchor and tag before a node.
    fn properties(&mut self) -> R<(Option<String>, Option<String>)> {
        let (mut anchor, mut tag) = (None, None);
        loop {
            match self.peek() {
                Some('&') => {
                    self.bump();
                    anchor = Some(self.word(String::new()));
                }
                Some('!') => {
                    self.bump();
                    let mut t = String::from("!");
                    if self.peek() == Some('<') {
                        self.bump();
                        t.clear();
                        while let Some(c) = self.peek() {
                            self.bump();
                            if c == '>' {
                                break;
                            }
                            t.push(c);
                        }
                    } else {
                        t = self.word(t);
                        if let Some(rest) = t.strip_prefix("!!") {
                            t = format!("tag:yaml.org,2002:{rest}");
                        }
                    }
                    tag = Some(t);
                }
                _ => return Ok((anchor, tag)),
            }
            self.skip_inline_space();
        }
    }

    /// `start` and the characters up to a blank or a flow indicator (an anchor's, an alias's
    /// or a tag's name).
    fn word(&mut self, mut start: String) -> String {
        while let Some(c) = self.peek() {
            if blank(Some(c)) || flow_ind(c) {
                break;
            }
            start.push(c);
            self.bump();
        }
        start
    }

    fn register(&mut self, anchor: Option<String>, n: Rc<YNode>) -> Rc<YNode> {
        if let Some(a) = anchor {
            self.anchors.insert(a, n.clone());
        }
        n
    }

    fn alias(&mut self) -> R<Rc<YNode>> {
        self.bump();
        let name = self.word(String::new());
        self.anchors
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("yaml: unknown anchor '{name}' referenced"))
    }

    fn with_tag(n: Rc<YNode>, tag: Option<String>) -> Rc<YNode> {
        match (&*n, tag) {
            (YNode::Scalar { value, plain, .. }, Some(t)) => Rc::new(YNode::Scalar {
                value: value.clone(),
                plain: *plain,
                tag: Some(t),
            }),
            _ => n,
        }
    }

    /// A node in block context whose content sits at a column above `parent`; `indentless`
    /// lets a sequence start at the parent's own column (a mapping value).
    fn block_node(&mut self, parent: i64, indentless: bool) -> R<Rc<YNode>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("yaml: exceeded max depth".into());
        }
        let r = self.block_node_inner(parent, indentless);
        self.depth -= 1;
        r
    }

    fn block_node_inner(&mut self, parent: i64, indentless: bool) -> R<Rc<YNode>> {
        let start_line = self.line_start;
        self.skip_to_token();
        if self.at_end() {
            return Ok(Self::null());
        }
        let newline = self.line_start != start_line;
        let col = self.col();
        let is_seq = self.peek() == Some('-') && blank(self.at(1));
        if newline && (col < parent || (col == parent && !(indentless && is_seq))) {
            return Ok(Self::null());
        }
        let (anchor, tag) = self.properties()?;
        if anchor.is_some() || tag.is_some() {
            let line = self.line_start;
            self.skip_inline_space();
            if matches!(self.peek(), None | Some('#' | '\n')) {
                // The properties stand alone on their line: the content follows.
                self.skip_to_token();
                let col2 = self.col();
                let seq2 = self.peek() == Some('-') && blank(self.at(1));
                if self.at_end()
                    || (self.line_start != line
                        && (col2 < parent || (col2 == parent && !(indentless && seq2))))
                {
                    let n = Self::with_tag(Self::null(), tag);
                    return Ok(self.register(anchor, n));
                }
                let n = self.block_content(parent)?;
                let n = Self::with_tag(n, tag);
                return Ok(self.register(anchor, n));
            }
            // Properties before a key make the key's properties, unless this is a collection.
            let n = self.block_content_props(parent, anchor, tag)?;
            return Ok(n);
        }
        self.block_content(parent)
    }

    fn block_content_props(
        &mut self,
        parent: i64,
        anchor: Option<String>,
        tag: Option<String>,
    ) -> R<Rc<YNode>> {
        // A node with properties on the same line: a scalar (maybe a mapping key) or a collection.
        let col = self.col();
        match self.peek() {
            Some('[' | '{' | '|' | '>') => {
                let n = self.block_content(parent)?;
                let n = Self::with_tag(n, tag);
                Ok(self.register(anchor, n))
            }
            _ => {
                let line = self.line_start;
                let key = self.inline_scalar_or_flow(parent)?;
                let key = Self::with_tag(key, tag);
                let key = self.register(anchor, key);
                self.after_first(parent, col, line, key)
            }
        }
    }

    /// Content at the current token (no properties): a collection or a scalar.
    fn block_content(&mut self, parent: i64) -> R<Rc<YNode>> {
        let col = self.col();
        match self.peek() {
            Some('-') if blank(self.at(1)) => self.block_seq(col),
            Some('?') if blank(self.at(1)) => self.block_map(col, None),
            Some('|' | '>') => self.block_scalar(parent),
            Some('&' | '!') => {
                let (anchor, tag) = self.properties()?;
                self.block_content_props(parent, anchor, tag)
            }
            _ => {
                let line = self.line_start;
                let first = self.inline_scalar_or_flow(parent)?;
                self.after_first(parent, col, line, first)
            }
        }
    }

    /// After a node read at `col` on one line: either it is the first key of a block
    /// mapping, or it stands alone (a plain scalar then continues on the following lines).
    fn after_first(
        &mut self,
        parent: i64,
        col: i64,
        line: usize,
        first: Rc<YNode>,
    ) -> R<Rc<YNode>> {
        self.skip_inline_space();
        if self.line_start == line && self.peek() == Some(':') && blank(self.at(1)) {
            return self.block_map(col, Some(first));
        }
        // A plain scalar may continue on more-indented lines.
        if let YNode::Scalar {
            value,
            plain: true,
            tag,
        } = &*first
        {
            if self.pending_plain {
                self.pending_plain = false;
                let more = self.plain_continuation(parent, false)?;
                if let Some(more) = more {
                    let v = format!("{value}{more}");
                    return Ok(Rc::new(YNode::Scalar {
                        value: v,
                        plain: true,
                        tag: tag.clone(),
                    }));
                }
            }
        }
        self.pending_plain = false;
        Ok(first)
    }

    fn inline_scalar_or_flow(&mut self, _parent: i64) -> R<Rc<YNode>> {
        self.pending_plain = false;
        match self.peek() {
            Some('*') => self.alias(),
            Some('[' | '{') => self.flow_node(),
            Some('"') => self.double_quoted(),
            Some('\'') => self.single_quoted(),
            _ => {
                let v = self.plain_line(false);
                self.pending_plain = true;
                Ok(Rc::new(YNode::Scalar {
                    value: v,
                    plain: true,
                    tag: None,
                }))
            }
        }
    }

    /// A block mapping at `col`; `first_key` was read and the ':' is next, or None when an
    /// explicit `? key` is next.
    fn block_map(&mut self, col: i64, first_key: Option<Rc<YNode>>) -> R<Rc<YNode>> {
        let mut entries = Vec::new();
        let mut next = first_key;
        loop {
            let key = match next.take() {
                Some(k) => Some(k),
                None => {
                    // `? key`, then maybe `: value` at the same column.
                    self.bump();
                    let k = self.block_node(col, false)?;
                    self.skip_to_token();
                    if !self.at_end()
                        && self.col() == col
                        && self.peek() == Some(':')
                        && blank(self.at(1))
                    {
                        Some(k)
                    } else {
                        entries.push((k, Self::null()));
                        None
                    }
                }
            };
            if let Some(key) = key {
                // At ':'.
                self.bump();
                let value = self.block_node(col, true)?;
                entries.push((key, value));
            }
            self.skip_to_token();
            if self.at_end() || self.col() != col {
                break;
            }
            if self.peek() == Some('-') && blank(self.at(1)) {
                break;
            }
            if self.peek() == Some('?') && blank(self.at(1)) {
                continue;
            }
            let line = self.line_start;
            let (anchor, tag) = self.properties()?;
            let k = self.inline_scalar_or_flow(col)?;
            self.pending_plain = false;
            let k = Self::with_tag(k, tag);
            next = Some(self.register(anchor, k));
            self.skip_inline_space();
            if self.line_start != line || self.peek() != Some(':') || !blank(self.at(1)) {
                return Err(self.err("could not find expected ':'"));
            }
        }
        Ok(Rc::new(YNode::Map(entries)))
    }

    fn block_seq(&mut self, col: i64) -> R<Rc<YNode>> {
        let mut items = Vec::new();
        loop {
            self.bump();
            let item = self.block_node(col, false)?;
            items.push(item);
            self.skip_to_token();
            if self.at_end()
                || self.col() != col
                || !(self.peek() == Some('-') && blank(self.at(1)))
            {
                break;
            }
        }
        Ok(Rc::new(YNode::Seq(items)))
    }

    /// One line of a plain scalar, up to `: `, ` #`, the line's end (and in flow context the
    /// flow indicators), trailing blanks left out.
    fn plain_line(&mut self, flow: bool) -> String {
        let mut s = String::new();
        let mut blanks = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            if c == ':' && (blank(self.at(1)) || (flow && self.at(1).is_some_and(flow_ind))) {
                break;
            }
            if flow && flow_ind(c) {
                break;
            }
            if c == '#' && self.i > 0 && matches!(self.c[self.i - 1], ' ' | '\t') {
                break;
            }
            if c == ' ' || c == '\t' {
                blanks.push(c);
            } else {
                s.push_str(&blanks);
                blanks.clear();
                s.push(c);
            }
            self.bump();
        }
        s
    }

    /// The folded continuation lines of a plain scalar whose lines must sit above `parent`.
    fn plain_continuation(&mut self, parent: i64, flow: bool) -> R<Option<String>> {
        let mut out = String::new();
        let mut any = false;
        loop {
            if self.peek() != Some('\n') {
                break;
            }
            let save = (self.i, self.line_start);
            let mut breaks = 0;
            while self.peek() == Some('\n') {
                self.bump();
                breaks += 1;
                self.skip_inline_space();
            }
            let col = self.col();
            let stop = match self.peek() {
                None | Some('#') => true,
                Some(c) => {
                    self.at_doc_marker()
                        || (!flow && col <= parent)
                        || (flow && (flow_ind(c) || c == ':'))
                }
            };
            let line = if stop {
                String::new()
            } else {
                self.plain_line(flow)
            };
            if line.is_empty() {
                self.i = save.0;
                self.line_start = save.1;
                break;
            }
            if breaks == 1 {
                out.push(' ');
            } else {
                for _ in 1..breaks {
                    out.push('\n');
                }
            }
            out.push_str(&line);
            any = true;
        }
        Ok(if any { Some(out) } else { None })
    }

    /// Folds the line breaks of a quoted scalar: one break is a space, n breaks n-1 newlines.
    fn quoted(&mut self, double: bool) -> R<Rc<YNode>> {
        self.bump();
        let mut s = String::new();
        let mut ws = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("found unexpected end of stream"));
            };
            if c != ' ' && c != '\t' && c != '\n' {
                s.push_str(&ws);
                ws.clear();
            }
            match c {
                '\'' if !double => {
                    if self.at(1) == Some('\'') {
                        s.push('\'');
                        self.bump();
                        self.bump();
                    } else {
                        self.bump();
                        break;
                    }
                }
                '"' if double => {
                    self.bump();
                    break;
                }
                '\\' if double => {
                    self.bump();
                    let Some(e) = self.peek() else {
                        return Err(self.err("found unexpected end of stream"));
                    };
                    self.bump();
                    let hex = |l: &mut Loader, n: usize| -> R<char> {
                        let mut v = 0u32;
                        for _ in 0..n {
                            let d = l.peek().and_then(|c| c.to_digit(16));
                            let Some(d) = d else {
                                return Err(l.err("did not find expected hexdecimal number"));
                            };
                            v = v * 16 + d;
                            l.bump();
                        }
                        char::from_u32(v)
                            .ok_or_else(|| l.err("found invalid Unicode character escape code"))
                    };
                    let ch = match e {
                        '0' => '\0',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        't' | '\t' => '\t',
                        'n' => '\n',
                        'v' => '\u{b}',
                        'f' => '\u{c}',
                        'r' => '\r',
                        'e' => '\u{1b}',
                        ' ' => ' ',
                        '"' => '"',
                        '/' => '/',
                        '\'' => '\'',
                        '\\' => '\\',
                        'N' => '\u{85}',
                        '_' => '\u{a0}',
                        'L' => '\u{2028}',
                        'P' => '\u{2029}',
                        'x' => hex(self, 2)?,
                        'u' => hex(self, 4)?,
                        'U' => hex(self, 8)?,
                        '\n' => {
                            // An escaped line break: the lines join without a space.
                            self.skip_inline_space();
                            let mut breaks = 0;
                            while self.peek() == Some('\n') {
                                self.bump();
                                breaks += 1;
                                self.skip_inline_space();
                            }
                            for _ in 0..breaks {
                                s.push('\n');
                            }
                            continue;
                        }
                        _ => {
                            return Err(self.err(
                                "found unknown escape character while parsing a quoted scalar",
                            ))
                        }
                    };
                    s.push(ch);
                }
                '\n' => {
                    // Blanks at the end of a line are dropped.
                    ws.clear();
                    let mut breaks = 0;
                    while self.peek() == Some('\n') {
                        self.bump();
                        breaks += 1;
                        self.skip_inline_space();
                    }
                    if breaks == 1 {
                        s.push(' ');
                    } else {
                        for _ in 1..breaks {
                            s.push('\n');
                        }
                    }
                }
                ' ' | '\t' => {
                    ws.push(c);
                    self.bump();
                }
                c => {
                    s.push(c);
                    self.bump();
                }
            }
        }
        s.push_str(&ws);
        Ok(Rc::new(YNode::Scalar {
            value: s,
            plain: false,
            tag: None,
        }))
    }

    fn double_quoted(&mut self) -> R<Rc<YNode>> {
        self.quoted(true)
    }

    fn single_quoted(&mut self) -> R<Rc<YNode>> {
        self.quoted(false)
    }

    /// A literal (`|`) or folded (`>`) block scalar, as libyaml's scan_block_scalar reads it.
    fn block_scalar(&mut self, parent: i64) -> R<Rc<YNode>> {
        let literal = self.peek() == Some('|');
        self.bump();
        let (mut chomp, mut increment) = (0i32, 0i64);
        for _ in 0..2 {
            match self.peek() {
                Some('+') if chomp == 0 => {
                    chomp = 1;
                    self.bump();
                }
                Some('-') if chomp == 0 => {
                    chomp = -1;
                    self.bump();
                }
                Some(c @ '1'..='9') if increment == 0 => {
                    increment = c as i64 - '0' as i64;
                    self.bump();
                }
                _ => {}
            }
        }
        self.skip_inline_space();
        if self.peek() == Some('#') {
            while !matches!(self.peek(), None | Some('\n')) {
                self.bump();
            }
        }
        if self.peek() == Some('\n') {
            self.bump();
        }
        let mut indent = if increment > 0 {
            if parent >= 0 {
                parent + increment
            } else {
                increment
            }
        } else {
            0
        };
        let mut s = String::new();
        let mut leading_break = String::new();
        let mut trailing_breaks = String::new();
        // scan_block_scalar_breaks
        let breaks = |l: &mut Loader, indent: &mut i64, trailing: &mut String| {
            let mut max_indent = 0;
            loop {
                while (*indent == 0 || l.col() < *indent) && l.peek() == Some(' ') {
                    l.bump();
                }
                if l.col() > max_indent {
                    max_indent = l.col();
                }
                if (*indent == 0 || l.col() < *indent) && l.peek() == Some('\t') {
                    // A tab in the indentation: libyaml rejects it (caught before us).
                    break;
                }
                if l.peek() != Some('\n') {
                    break;
                }
                trailing.push('\n');
                l.bump();
            }
            if *indent == 0 {
                *indent = max_indent.max(parent + 1).max(1);
            }
        };
        breaks(self, &mut indent, &mut trailing_breaks);
        let mut leading_blank = false;
        while self.col() == indent && self.peek().is_some() && !self.at_doc_marker() {
            let trailing_blank = matches!(self.peek(), Some(' ' | '\t'));
            if !literal && leading_break.starts_with('\n') && !leading_blank && !trailing_blank {
                if trailing_breaks.is_empty() {
                    s.push(' ');
                }
                leading_break.clear();
            } else {
                s.push_str(&leading_break);
                leading_break.clear();
            }
            s.push_str(&trailing_breaks);
            trailing_breaks.clear();
            leading_blank = matches!(self.peek(), Some(' ' | '\t'));
            while let Some(c) = self.peek() {
                if c == '\n' {
                    break;
                }
                s.push(c);
                self.bump();
            }
            if self.peek().is_none() {
                break;
            }
            leading_break.push('\n');
            self.bump();
            breaks(self, &mut indent, &mut trailing_breaks);
        }
        if chomp != -1 {
            s.push_str(&leading_break);
        }
        if chomp == 1 {
            s.push_str(&trailing_breaks);
        }
        self.pending_plain = false;
        Ok(Rc::new(YNode::Scalar {
            value: s,
            plain: false,
            tag: None,
        }))
    }

    // ------------------------------------------------------------ flow context

    fn skip_flow_ws(&mut self) {
        self.skip_to_token();
    }

    fn flow_node(&mut self) -> R<Rc<YNode>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("yaml: exceeded max depth".into());
        }
        let r = self.flow_node_inner();
        self.depth -= 1;
        self.pending_plain = false;
        r
    }

    fn flow_scalar_or_node(&mut self) -> R<Rc<YNode>> {
        let (anchor, tag) = self.properties()?;
        let n = match self.peek() {
            Some('[' | '{') => self.flow_node()?,
            Some('*') => self.alias()?,
            Some('"') => self.double_quoted()?,
            Some('\'') => self.single_quoted()?,
            Some(',' | ']' | '}') => Self::null(),
            _ => {
                let mut v = self.plain_line(true);
                if let Some(more) = self.plain_continuation(-1, true)? {
                    v.push_str(&more);
                }
                Rc::new(YNode::Scalar {
                    value: v,
                    plain: true,
                    tag: None,
                })
            }
        };
        let n = Self::with_tag(n, tag);
        Ok(self.register(anchor, n))
    }

    fn flow_node_inner(&mut self) -> R<Rc<YNode>> {
        let seq = self.peek() == Some('[');
        let close = if seq { ']' } else { '}' };
        self.bump();
        let mut items = Vec::new();
        let mut entries = Vec::new();
        loop {
            self.skip_flow_ws();
            match self.peek() {
                None => return Err(self.err("did not find expected ',' or ']'")),
                Some(c) if c == close => {
                    self.bump();
                    break;
                }
                _ => {}
            }
            let explicit = self.peek() == Some('?') && blank(self.at(1));
            if explicit {
                self.bump();
                self.skip_flow_ws();
            }
            let k = self.flow_scalar_or_node()?;
            self.skip_flow_ws();
            let has_value = self.peek() == Some(':');
            if has_value {
                self.bump();
                self.skip_flow_ws();
                let v = if matches!(self.peek(), Some(',' | ']' | '}')) {
                    Self::null()
                } else {
                    self.flow_scalar_or_node()?
                };
                if seq {
                    items.push(Rc::new(YNode::Map(vec![(k, v)])));
                } else {
                    entries.push((k, v));
                }
            } else if seq {
                if explicit {
                    items.push(Rc::new(YNode::Map(vec![(k, Self::null())])));
                } else {
                    items.push(k);
                }
            } else {
                entries.push((k, Self::null()));
            }
            self.skip_flow_ws();
            match self.peek() {
                Some(',') => self.bump(),
                Some(c) if c == close => {}
                _ => {
                    return Err(self.err(if seq {
                        "did not find expected ',' or ']'"
                    } else {
                        "did not find expected ',' or '}'"
                    }))
                }
            }
        }
        Ok(Rc::new(if seq {
            YNode::Seq(items)
        } else {
            YNode::Map(entries)
        }))
    }
}
