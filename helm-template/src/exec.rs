//! The evaluator: Go's `text/template` execution rules, with `missingkey=zero` as Helm
//! sets it, and its error messages.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use crate::funcs::{Ctx, Func, Imp, Registry, Ty};
use crate::gofmt;
use crate::parse::{self, Arg, Command, Control, Node, Pipe, Tree};
use crate::value::{MapKind, Member, Value};

/// How deep `template`, `include` and `tpl` may nest. Go allows 100,000 and grows its
/// stack to get there; a Pi does not have that stack, so this engine stops sooner.
pub const MAX_TEMPLATE_DEPTH: usize = 1500;
/// How often one name may be included inside itself (Helm's `recursionMaxNums`).
pub const MAX_INCLUDE_RECURSION: usize = 1000;
/// The most text one render may produce: a template that loops into gigabytes fails instead.
pub const MAX_OUTPUT_BYTES: usize = 64 << 20;

/// A set of named templates, as one Go `*template.Template` and its associates.
#[derive(Clone, Default)]
pub struct Templates {
    trees: HashMap<String, Rc<Tree>>,
}

impl Templates {
    pub fn new() -> Templates {
        Templates::default()
    }

    /// Parses `text` as the template `name` and adds it and what it defines, as Go's
    /// `t.New(name).Parse(text)` does: a later definition replaces an earlier one, unless
    /// it is empty.
    pub fn parse(
        &mut self,
        name: &str,
        text: &str,
        funcs: &Registry,
    ) -> Result<(), parse::ParseError> {
        let trees = parse::parse(name, text, &|f| funcs.contains(f))?;
        for tree in trees {
            if let Some(old) = self.trees.get(&tree.name) {
                if parse::is_empty_tree(&tree.root) && !old.root.is_empty() {
                    continue;
                }
            }
            self.trees.insert(tree.name.clone(), Rc::new(tree));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Rc<Tree>> {
        self.trees.get(name)
    }
}

/// An execution error, worded as Go's (`template: NAME:LINE:COL: executing …`).
#[derive(Debug, Clone)]
pub enum ExecError {
    /// Raised by the evaluator: Go's `template.ExecError`.
    Exec(String),
    /// Returned by `ExecuteTemplate` itself (an unknown template name).
    Other(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Exec(m) | ExecError::Other(m) => f.write_str(m),
        }
    }
}

/// What runs templates: the functions, the seeded random source, and Helm's include count.
pub struct Executor<'f> {
    pub funcs: &'f Registry,
    pub ctx: RefCell<Ctx>,
    include_counts: RefCell<HashMap<String, usize>>,
    output: RefCell<usize>,
    /// The name `tpl` parses its text under (Helm's root template, "gotpl").
    pub tpl_name: String,
}

impl<'f> Executor<'f> {
    pub fn new(funcs: &'f Registry, seed: crate::funcs::Seed) -> Executor<'f> {
        Executor {
            funcs,
            ctx: RefCell::new(Ctx::new(seed)),
            include_counts: RefCell::new(HashMap::new()),
            output: RefCell::new(0),
            tpl_name: "gotpl".into(),
        }
    }

    /// Go's `ExecuteTemplate(w, name, data)`.
    pub fn execute(&self, set: &Templates, name: &str, data: &Value) -> Result<String, ExecError> {
        self.execute_at_depth(set, name, data, 0)
    }

    fn execute_at_depth(
        &self,
        set: &Templates,
        name: &str,
        data: &Value,
        depth: usize,
    ) -> Result<String, ExecError> {
        let Some(tree) = set.get(name) else {
            return Err(ExecError::Other(format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name),
                gofmt::quote(&self.tpl_name)
            )));
        };
        let mut state = State {
            ex: self,
            set,
            tree,
            vars: vec![Var {
                name: "$".into(),
                value: Slot::plain(data.clone()),
            }],
            depth,
            at: At::None,
            out: String::new(),
        };
        match state.walk_list(&Slot::plain(data.clone()), &tree.root) {
            Ok(()) => Ok(state.out),
            Err(Stop::Error(e)) => Err(e),
            Err(Stop::Break) | Err(Stop::Continue) => Ok(state.out),
        }
    }
}

/// A value as the evaluator holds it: `iface` marks a value read out of an
/// `interface {}` slot (a map entry, a list item), whose static type Go's messages name
/// ("interface {}"), and whose nil Go treats differently from "no value".
#[derive(Clone)]
struct Slot {
    v: Value,
    iface: bool,
}

impl Slot {
    fn plain(v: Value) -> Slot {
        Slot { v, iface: false }
    }

    fn iface(v: Value) -> Slot {
        Slot { v, iface: true }
    }
}

struct Var {
    name: String,
    value: Slot,
}

enum Stop {
    Error(ExecError),
    Break,
    Continue,
}

type R<T> = Result<T, Stop>;

/// The node Go's error messages point at (its `s.at(node)`).
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Arg(&'t Arg),
    Cmd(&'t Command),
    Pipe(&'t Pipe),
    Action(&'t Pipe),
    Control(&'t str, &'t Control),
    Template(&'t Node),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::None => 0,
            At::Arg(a) => a.pos(),
            At::Cmd(c) => c.pos,
            At::Pipe(p) | At::Action(p) => p.pos,
            At::Control(_, c) => c.pos,
            At::Template(Node::Template { pos, .. }) => *pos,
            At::Template(_) => 0,
        }
    }

    fn context(&self) -> String {
        match self {
            At::None => String::new(),
            At::Arg(a) => a.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Action(p) => format!("{{{{{p}}}}}"),
            At::Control(kind, c) => {
                let mut s = format!("{{{{{kind} {}}}}}", c.pipe);
                write_list(&mut s, &c.list);
                if let Some(e) = &c.else_list {
                    s.push_str("{{else}}");
                    write_list(&mut s, e);
                }
                s.push_str("{{end}}");
                s
            }
            At::Template(Node::Template { name, pipe, .. }) => match pipe {
                None => format!("{{{{template {}}}}}", gofmt::quote(name)),
                Some(p) => format!("{{{{template {} {p}}}}}", gofmt::quote(name)),
            },
            At::Template(_) => String::new(),
        }
    }
}

fn write_list(s: &mut String, list: &[Node]) {
    for n in list {
        match n {
            Node::Text(t) => s.push_str(t),
            Node::Action(p) => s.push_str(&format!("{{{{{p}}}}}")),
            Node::Break => s.push_str("{{break}}"),
            Node::Continue => s.push_str("{{continue}}"),
            Node::If(c) => s.push_str(&At::Control("if", c).context()),
            Node::Range(c) => s.push_str(&At::Control("range", c).context()),
            Node::With(c) => s.push_str(&At::Control("with", c).context()),
            t @ Node::Template { .. } => s.push_str(&At::Template(t).context()),
        }
    }
}

struct State<'t, 'e, 'f> {
    ex: &'e Executor<'f>,
    set: &'t Templates,
    tree: &'t Tree,
    vars: Vec<Var>,
    depth: usize,
    at: At<'t>,
    out: String,
}

impl<'t, 'e, 'f> State<'t, 'e, 'f> {
    fn errorf<T>(&self, msg: impl fmt::Display) -> R<T> {
        let name = &self.tree.name;
        let text = match self.at {
            At::None => format!("template: {name}: {msg}"),
            at => format!(
                "template: {}: executing {} at <{}>: {msg}",
                parse::location(self.tree, at.pos()),
                gofmt::quote(name),
                at.context()
            ),
        };
        Err(Stop::Error(ExecError::Exec(text)))
    }

    fn write(&mut self, s: &str) -> R<()> {
        let mut total = self.ex.output.borrow_mut();
        *total += s.len();
        if *total > MAX_OUTPUT_BYTES {
            drop(total);
            return self.errorf(format!(
                "the output is larger than {} MiB",
                MAX_OUTPUT_BYTES >> 20
            ));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Slot, list: &'t [Node]) -> R<()> {
        for node in list {
            self.walk(dot, node)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Slot, node: &'t Node) -> R<()> {
        match node {
            Node::Text(t) => self.write(t),
            Node::Action(pipe) => {
                self.at = At::Action(pipe);
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at = At::Action(pipe);
                    let text = match &v.v {
                        Value::Nil => "<no value>".to_string(),
                        Value::Object(o) => o.print_in_template(),
                        other => gofmt::to_string(other),
                    };
                    self.write(&text)?;
                }
                Ok(())
            }
            Node::Break => Err(Stop::Break),
            Node::Continue => Err(Stop::Continue),
            Node::If(c) => self.walk_if_or_with(false, dot, c),
            Node::With(c) => self.walk_if_or_with(true, dot, c),
            Node::Range(c) => self.walk_range(dot, c),
            Node::Template { name, pipe, .. } => self.walk_template(dot, node, name, pipe.as_ref()),
        }
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Slot, c: &'t Control) -> R<()> {
        self.at = At::Control(if with { "with" } else { "if" }, c);
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &c.pipe)?;
            if val.v.truth() {
                if with {
                    self.walk_list(&val, &c.list)
                } else {
                    self.walk_list(dot, &c.list)
                }
            } else if let Some(e) = &c.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Slot, c: &'t Control) -> R<()> {
        self.at = At::Control("range", c);
        let outer = self.vars.len();
        let r = self.walk_range_inner(dot, c);
        self.vars.truncate(outer);
        match r {
            Err(Stop::Break) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &Slot, c: &'t Control) -> R<()> {
        let val = self.eval_pipeline(dot, &c.pipe)?;
        let mark = self.vars.len();
        let decl = &c.pipe.decl;
        let one = |s: &mut Self, index: Value, elem: Slot| -> R<()> {
            if !decl.is_empty() {
                if c.pipe.is_assign {
                    if decl.len() > 1 {
                        s.set_var(&decl[0], Slot::plain(index.clone()))?;
                    } else {
                        s.set_var(&decl[0], elem.clone())?;
                    }
                } else {
                    s.set_top_var(1, elem.clone());
                }
            }
            if decl.len() > 1 {
                if c.pipe.is_assign {
                    s.set_var(&decl[1], elem.clone())?;
                } else {
                    s.set_top_var(2, Slot::plain(index));
                }
            }
            let r = s.walk_list(&elem, &c.list);
            s.vars.truncate(mark);
            match r {
                Err(Stop::Continue) => Ok(()),
                other => other,
            }
        };
        match &val.v {
            Value::Int(n) | Value::Int64(n) => {
                if decl.len() > 1 {
                    return self.errorf(format!(
                        "can't use {} to iterate over more than one variable",
                        n
                    ));
                }
                let typed = |i: i64| {
                    if matches!(val.v, Value::Int(_)) {
                        Value::Int(i)
                    } else {
                        Value::Int64(i)
                    }
                };
                if *n > 0 {
                    for i in 0..*n {
                        one(self, Value::Nil, Slot::plain(typed(i)))?;
                    }
                    return Ok(());
                }
            }
            Value::List(l) => {
                if !l.items.is_empty() {
                    let iface = l.kind == crate::value::ListKind::Any;
                    for (i, item) in l.items.iter().enumerate() {
                        let elem = if iface {
                            Slot::iface(item.clone())
                        } else {
                            Slot::plain(item.clone())
                        };
                        one(self, Value::Int(i as i64), elem)?;
                    }
                    return Ok(());
                }
            }
            Value::Map(m) => {
                let entries = m.snapshot();
                if !entries.is_empty() {
                    for (k, v) in entries {
                        one(self, Value::string(k), Slot::iface(v))?;
                    }
                    return Ok(());
                }
            }
            Value::Object(o) if o.map_entries().is_some() => {
                let entries = o.map_entries().unwrap_or_default();
                if !entries.is_empty() {
                    for (k, v) in entries {
                        one(self, Value::string(k), Slot::plain(v))?;
                    }
                    return Ok(());
                }
            }
            Value::Nil => {}
            other => {
                return self.errorf(format!(
                    "range can't iterate over {}",
                    gofmt::to_string(other)
                ));
            }
        }
        if let Some(e) = &c.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn walk_template(
        &mut self,
        dot: &Slot,
        node: &'t Node,
        name: &str,
        pipe: Option<&'t Pipe>,
    ) -> R<()> {
        self.at = At::Template(node);
        let Some(tree) = self.set.get(name) else {
            return self.errorf(format!("template {} not defined", gofmt::quote(name)));
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return self.errorf(format!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            ));
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Slot::plain(Value::Nil),
        };
        let mut inner = State {
            ex: self.ex,
            set: self.set,
            tree,
            vars: vec![Var {
                name: "$".into(),
                value: new_dot.clone(),
            }],
            depth: self.depth + 1,
            at: At::None,
            out: String::new(),
        };
        let r = inner.walk_list(&new_dot, &tree.root);
        let out = std::mem::take(&mut inner.out);
        self.out.push_str(&out);
        match r {
            Err(Stop::Error(e)) => Err(Stop::Error(e)),
            _ => Ok(()),
        }
    }

    fn set_var(&mut self, name: &str, value: Slot) -> R<()> {
        for v in self.vars.iter_mut().rev() {
            if v.name == name {
                v.value = value;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn set_top_var(&mut self, n: usize, value: Slot) {
        let len = self.vars.len();
        self.vars[len - n].value = value;
    }

    fn var_value(&self, name: &str) -> R<Slot> {
        for v in self.vars.iter().rev() {
            if v.name == name {
                return Ok(v.value.clone());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn eval_pipeline(&mut self, dot: &Slot, pipe: &'t Pipe) -> R<Slot> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Slot> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // A value read out of an interface is the value inside it.
            value = Some(Slot::plain(v.v));
        }
        let value = value.unwrap_or(Slot::plain(Value::Nil));
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(var, value.clone())?;
            } else {
                self.vars.push(Var {
                    name: var.clone(),
                    value: value.clone(),
                });
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Slot>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Slot, cmd: &'t Command, fin: Option<Slot>) -> R<Slot> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = At::Arg(first);
                return self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, fin);
            }
            Arg::Chain { node, fields, .. } => {
                return self.eval_chain(dot, first, node, fields, &cmd.args, fin)
            }
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, Some(cmd), &cmd.args, fin)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable { idents, .. } => {
                return self.eval_variable(dot, first, idents, &cmd.args, fin)
            }
            _ => {}
        }
        self.at = At::Arg(first);
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { value, .. } => Ok(Slot::plain(Value::Bool(*value))),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.errorf("nil is not a command"),
            Arg::Number { number, .. } => self.ideal_constant(first, number).map(Slot::plain),
            Arg::String { text, .. } => Ok(Slot::plain(Value::str(text))),
            _ => self.errorf(format!(
                "can't evaluate command {}",
                gofmt::quote(&first.to_string())
            )),
        }
    }

    fn ideal_constant(&mut self, node: &'t Arg, n: &parse::Number) -> R<Value> {
        self.at = At::Arg(node);
        let text = &n.text;
        let is_hex_int = text.len() > 2
            && text.starts_with('0')
            && (text.as_bytes()[1] == b'x' || text.as_bytes()[1] == b'X')
            && !text.contains(['p', 'P']);
        let is_rune = text.starts_with('\'');
        if n.float.is_some() && !is_hex_int && !is_rune && text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(n.float.unwrap_or(0.0)));
        }
        if let Some(i) = n.int {
            return Ok(Value::Int(i));
        }
        if n.uint.is_some() {
            return self.errorf(format!("{text} overflows int"));
        }
        Ok(Value::Nil)
    }

    fn eval_chain(
        &mut self,
        dot: &Slot,
        chain: &'t Arg,
        node: &'t Arg,
        fields: &'t [String],
        args: &'t [Arg],
        fin: Option<Slot>,
    ) -> R<Slot> {
        self.at = At::Arg(chain);
        if matches!(node, Arg::Nil { .. }) {
            return self.errorf(format!("indirection through explicit nil in {chain}"));
        }
        let pipe = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, pipe, chain, fields, args, fin)
    }

    fn eval_variable(
        &mut self,
        dot: &Slot,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Slot>,
    ) -> R<Slot> {
        self.at = At::Arg(node);
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, node, &idents[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Slot,
        mut receiver: Slot,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Slot>,
    ) -> R<Slot> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, fin, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Slot,
        field: &str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<Slot>,
        receiver: Slot,
    ) -> R<Slot> {
        if receiver.v.is_nil() {
            if receiver.iface {
                return self.errorf(format!("nil pointer evaluating interface {{}}.{field}"));
            }
            return Ok(Slot::plain(Value::Nil));
        }
        let has_args = args.len() > 1 || fin.is_some();
        match &receiver.v {
            Value::Object(o) => match o.member(field) {
                Some(Member::Method(m)) => {
                    let f = Func {
                        params: m.params,
                        variadic: m.variadic,
                        imp: Imp::Plain(|_| Ok(Value::Nil)),
                    };
                    let argv = self.eval_args(dot, &f, field, args, fin)?;
                    return match (m.call)(argv) {
                        Ok(v) => Ok(Slot::plain(v)),
                        Err(e) => {
                            self.at = At::Arg(node);
                            self.errorf(format!("error calling {field}: {e}"))
                        }
                    };
                }
                Some(Member::Field(v)) => {
                    if has_args {
                        return self.errorf(format!(
                            "{field} has arguments but cannot be invoked as function"
                        ));
                    }
                    return Ok(Slot::iface(v));
                }
                None => {}
            },
            Value::Map(m) => {
                if has_args {
                    return self.errorf(format!("{field} is not a method but has arguments"));
                }
                return Ok(match m.get(field) {
                    Some(v) => Slot::iface(v),
                    None if m.kind == MapKind::String => Slot::plain(Value::str("")),
                    None => Slot::iface(Value::Nil),
                });
            }
            _ => {}
        }
        let type_name = if receiver.iface {
            "interface {}".to_string()
        } else {
            receiver.v.type_name()
        };
        self.errorf(format!("can't evaluate field {field} in type {type_name}"))
    }

    fn eval_function(
        &mut self,
        dot: &Slot,
        node: &'t Arg,
        name: &str,
        cmd: Option<&'t Command>,
        args: &'t [Arg],
        fin: Option<Slot>,
    ) -> R<Slot> {
        self.at = At::Arg(node);
        let Some(f) = self.ex.funcs.get(name).copied() else {
            return self.errorf(format!("{} is not a defined function", gofmt::quote(name)));
        };
        self.eval_call(dot, &f, node, cmd, name, args, fin)
    }

    /// Evaluates the arguments of a call against the function's Go signature.
    fn eval_args(
        &mut self,
        dot: &Slot,
        f: &Func,
        name: &str,
        args: &'t [Arg],
        fin: Option<Slot>,
    ) -> R<Vec<Value>> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed;
        if f.variadic.is_some() {
            num_fixed = f.params.len();
            if num_in < num_fixed {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    f.params.len(),
                    args.len()
                ));
            }
        } else {
            num_fixed = args.len();
            if num_in != f.params.len() {
                return self.errorf(format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    f.params.len()
                ));
            }
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(f.params[i]), &args[i])?.v);
            i += 1;
        }
        if let Some(vt) = f.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(vt), &args[i])?.v);
                i += 1;
            }
        }
        if let Some(fin) = fin {
            let t = if f.variadic.is_some() && num_in > num_fixed {
                f.variadic.unwrap_or(Ty::Any)
            } else if f.variadic.is_some() {
                f.params[num_in - 1]
            } else {
                f.params[f.params.len() - 1]
            };
            argv.push(self.validate_type(fin, Some(t))?.v);
        }
        Ok(argv)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Slot,
        f: &Func,
        node: &'t Arg,
        cmd: Option<&'t Command>,
        name: &str,
        args: &'t [Arg],
        fin: Option<Slot>,
    ) -> R<Slot> {
        let rest = if args.is_empty() { args } else { &args[1..] };
        if let Imp::And | Imp::Or = f.imp {
            let num_in = rest.len() + usize::from(fin.is_some());
            if num_in < 1 {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least 1 got {}",
                    rest.len()
                ));
            }
            let is_or = matches!(f.imp, Imp::Or);
            let mut v = Slot::plain(Value::Nil);
            for arg in rest {
                v = self.eval_arg(dot, Some(Ty::Reflect), arg)?;
                if v.v.truth() == is_or {
                    return Ok(v);
                }
            }
            if let Some(fin) = fin {
                v = self.validate_type(fin, Some(Ty::Reflect))?;
            }
            return Ok(v);
        }
        let argv = self.eval_args(dot, f, name, args, fin)?;
        let result = match f.imp {
            Imp::Plain(func) => func(&argv),
            Imp::WithCtx(func) => {
                let mut ctx = self.ex.ctx.borrow_mut();
                func(&mut ctx, &argv)
            }
            Imp::Include => self.include(&argv),
            Imp::Tpl => self.tpl(&argv),
            Imp::Call => Err(match argv.first() {
                None | Some(Value::Nil) => "call of nil".to_string(),
                Some(v) => {
                    let callee = match rest.first() {
                        Some(a) => a.to_string(),
                        None => gofmt::to_string(v),
                    };
                    format!("non-function {callee} of type {}", v.type_name())
                }
            }),
            Imp::And | Imp::Or => unreachable!("handled above"),
        };
        match result {
            Ok(v) => Ok(Slot::plain(v)),
            Err(e) => {
                self.at = match cmd {
                    Some(c) => At::Cmd(c),
                    None => At::Arg(node),
                };
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    fn include(&mut self, argv: &[Value]) -> Result<Value, String> {
        let name = argv
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let data = argv.get(1).cloned().unwrap_or(Value::Nil);
        {
            let mut counts = self.ex.include_counts.borrow_mut();
            let n = counts.entry(name.clone()).or_insert(0);
            if *n > MAX_INCLUDE_RECURSION {
                return Err(format!(
                    "rendering template has a nested reference name: {name}: unable to execute template"
                ));
            }
            *n += 1;
        }
        let r = if self.depth >= MAX_TEMPLATE_DEPTH {
            Err(format!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            ))
        } else {
            self.ex
                .execute_at_depth(self.set, &name, &data, self.depth + 1)
                .map_err(|e| e.to_string())
        };
        if let Some(n) = self.ex.include_counts.borrow_mut().get_mut(&name) {
            *n -= 1;
        }
        r.map(Value::string)
    }

    fn tpl(&mut self, argv: &[Value]) -> Result<Value, String> {
        let text = argv
            .first()
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let data = argv.get(1).cloned().unwrap_or(Value::Nil);
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(format!(
                "exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"
            ));
        }
        let mut set = self.set.clone();
        let name = self.ex.tpl_name.clone();
        if let Err(e) = set.parse(&name, &text, self.ex.funcs) {
            return Err(format!(
                "cannot parse template {}: {}",
                gofmt::quote(&text),
                e.0
            ));
        }
        match self.ex.execute_at_depth(&set, &name, &data, self.depth + 1) {
            Ok(out) => Ok(Value::string(out.replace("<no value>", ""))),
            Err(e) => Err(format!(
                "error during tpl function execution for {}: {e}",
                gofmt::quote(&text)
            )),
        }
    }

    /// Go's `evalArg`: an argument evaluated for a parameter of type `ty` (None: no type).
    fn eval_arg(&mut self, dot: &Slot, ty: Option<Ty>, n: &'t Arg) -> R<Slot> {
        self.at = At::Arg(n);
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), ty),
            Arg::Nil { .. } => {
                return match ty {
                    Some(t) if t.nilable() => Ok(Slot::plain(Value::Nil)),
                    None => self.errorf("cannot assign nil to <nil>"),
                    Some(t) => self.errorf(format!("cannot assign nil to {}", t.go_name())),
                };
            }
            Arg::Field { idents, .. } => {
                let v = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    n,
                    idents,
                    std::slice::from_ref(n),
                    None,
                )?;
                return self.validate_type(v, ty);
            }
            Arg::Variable { idents, .. } => {
                let v = self.eval_variable(dot, n, idents, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate_type(v, ty);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(dot, n, name, None, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Chain { node, fields, .. } => {
                let v = self.eval_chain(dot, n, node, fields, &[], None)?;
                return self.validate_type(v, ty);
            }
            _ => {}
        }
        let Some(ty) = ty else {
            return self.errorf(format!("can't handle {n} for arg of type <nil>"));
        };
        let v = match (ty, n) {
            (Ty::Bool, Arg::Bool { value, .. }) => Value::Bool(*value),
            (Ty::Bool, _) => return self.errorf(format!("expected bool; found {n}")),
            (Ty::Float64, Arg::Number { number, .. }) if number.float.is_some() => {
                Value::Float(number.float.unwrap_or(0.0))
            }
            (Ty::Float64, _) => return self.errorf(format!("expected float; found {n}")),
            (Ty::Int, Arg::Number { number, .. }) if number.int.is_some() => {
                Value::Int(number.int.unwrap_or(0))
            }
            (Ty::Int64, Arg::Number { number, .. }) if number.int.is_some() => {
                Value::Int64(number.int.unwrap_or(0))
            }
            (Ty::Int | Ty::Int64, _) => return self.errorf(format!("expected integer; found {n}")),
            (Ty::String, Arg::String { text, .. }) => Value::str(text),
            (Ty::String, _) => return self.errorf(format!("expected string; found {n}")),
            (Ty::Any | Ty::Reflect, Arg::Bool { value, .. }) => Value::Bool(*value),
            (Ty::Any | Ty::Reflect, Arg::Number { number, .. }) => {
                self.ideal_constant(n, number)?
            }
            (Ty::Any | Ty::Reflect, Arg::String { text, .. }) => Value::str(text),
            _ => return self.errorf(format!("can't handle {n} for arg of type {}", ty.go_name())),
        };
        Ok(Slot::plain(v))
    }

    /// Go's `validateType`: the value must be assignable to the parameter's type.
    fn validate_type(&mut self, value: Slot, ty: Option<Ty>) -> R<Slot> {
        let Some(ty) = ty else {
            return Ok(value);
        };
        if value.v.is_nil() {
            if value.iface {
                return match ty {
                    Ty::Any | Ty::Reflect => Ok(Slot::plain(Value::Nil)),
                    t => self.errorf(format!(
                        "wrong type for value; expected {}; got interface {{}}",
                        t.go_name()
                    )),
                };
            }
            if ty.nilable() {
                return Ok(Slot::plain(Value::Nil));
            }
            return self.errorf(format!("invalid value; expected {}", ty.go_name()));
        }
        let ok = match ty {
            Ty::Any | Ty::Reflect => true,
            Ty::String => matches!(value.v, Value::String(_)),
            Ty::Int => matches!(value.v, Value::Int(_)),
            Ty::Int64 => matches!(value.v, Value::Int64(_)),
            Ty::Float64 => matches!(value.v, Value::Float(_)),
            Ty::Bool => matches!(value.v, Value::Bool(_)),
            Ty::Map => matches!(&value.v, Value::Map(m) if m.kind != MapKind::String),
            Ty::List => matches!(&value.v, Value::List(l) if l.kind == crate::value::ListKind::Any),
            Ty::StringList => {
                matches!(&value.v, Value::List(l) if l.kind == crate::value::ListKind::String)
            }
        };
        if !ok {
            return self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                ty.go_name(),
                value.v.type_name()
            ));
        }
        Ok(Slot::plain(value.v))
    }
}
