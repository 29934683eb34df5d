//! Two glob dialects: Go's `path/filepath.Match` (`.helmignore` rules) and
//! github.com/gobwas/glob with '/' as separator (`.Files.Glob`).

#[derive(Debug, Clone)]
enum Node {
    Lit(char),
    /// `*`: any run of characters but '/'.
    Star,
    /// `**` (gobwas only): any run of characters.
    Super,
    /// `?`: one character but '/'.
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `{a,b}` (gobwas only).
    Alt(Vec<Vec<Node>>),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    nodes: Vec<Node>,
}

/// How many steps one match may take: patterns with many stars cannot loop for long.
const BUDGET: usize = 1_000_000;
/// The longest pattern compiled (matching recurses once per element).
const MAX_PATTERN: usize = 1024;

impl Glob {
    /// Compiles a gobwas/glob pattern.
    pub fn gobwas(pattern: &str) -> Option<Glob> {
        if pattern.len() > MAX_PATTERN {
            return None;
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let nodes = parse(&chars, &mut i, true, 0)?;
        if i != chars.len() {
            return None;
        }
        Some(Glob { nodes })
    }

    /// Compiles a Go `filepath.Match` pattern.
    pub fn go(pattern: &str) -> Option<Glob> {
        if pattern.len() > MAX_PATTERN {
            return None;
        }
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let nodes = parse(&chars, &mut i, false, 0)?;
        Some(Glob { nodes })
    }

    pub fn matches(&self, name: &str) -> bool {
        let input: Vec<char> = name.chars().collect();
        let mut budget = BUDGET;
        match_nodes(&self.nodes, &[], &input, 0, &mut budget)
    }
}

fn parse(chars: &[char], i: &mut usize, gobwas: bool, depth: usize) -> Option<Vec<Node>> {
    if depth > 32 {
        return None;
    }
    let mut out = Vec::new();
    while *i < chars.len() {
        let c = chars[*i];
        match c {
            '*' => {
                if gobwas && chars.get(*i + 1) == Some(&'*') {
                    *i += 2;
                    out.push(Node::Super);
                } else {
                    *i += 1;
                    out.push(Node::Star);
                }
            }
            '?' => {
                *i += 1;
                out.push(Node::One);
            }
            '\\' => {
                let n = *chars.get(*i + 1)?;
                *i += 2;
                out.push(Node::Lit(n));
            }
            '[' => {
                *i += 1;
                let negated = matches!(chars.get(*i), Some('!'))
                    || (!gobwas && matches!(chars.get(*i), Some('^')));
                if negated {
                    *i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let mut lo = *chars.get(*i)?;
                    if lo == ']' && (!first || gobwas) {
                        *i += 1;
                        break;
                    }
                    if lo == ']' && !gobwas && first {
                        // Go rejects an empty class.
                        return None;
                    }
                    if lo == '\\' && !gobwas {
                        *i += 1;
                        lo = *chars.get(*i)?;
                    }
                    *i += 1;
                    let mut hi = lo;
                    if chars.get(*i) == Some(&'-') && chars.get(*i + 1).is_some_and(|c| *c != ']') {
                        *i += 1;
                        hi = *chars.get(*i)?;
                        if hi == '\\' && !gobwas {
                            *i += 1;
                            hi = *chars.get(*i)?;
                        }
                        *i += 1;
                        if hi < lo {
                            return None;
                        }
                    }
                    ranges.push((lo, hi));
                    first = false;
                }
                out.push(Node::Class { negated, ranges });
            }
            '{' if gobwas => {
                *i += 1;
                let mut alts = Vec::new();
                loop {
                    let alt = parse(chars, i, true, depth + 1)?;
                    alts.push(alt);
                    match chars.get(*i) {
                        Some(',') => *i += 1,
                        Some('}') => {
                            *i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
                out.push(Node::Alt(alts));
            }
            ',' | '}' if gobwas && depth > 0 => return Some(out),
            _ => {
                *i += 1;
                out.push(Node::Lit(c));
            }
        }
    }
    Some(out)
}

fn match_nodes(
    nodes: &[Node],
    rest: &[&[Node]],
    input: &[char],
    pos: usize,
    budget: &mut usize,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let Some((first, tail)) = nodes.split_first() else {
        return match rest.split_first() {
            Some((next, more)) => match_nodes(next, more, input, pos, budget),
            None => pos == input.len(),
        };
    };
    match first {
        Node::Lit(c) => {
            input.get(pos) == Some(c) && match_nodes(tail, rest, input, pos + 1, budget)
        }
        Node::One => {
            input.get(pos).is_some_and(|c| *c != '/')
                && match_nodes(tail, rest, input, pos + 1, budget)
        }
        Node::Class { negated, ranges } => {
            input.get(pos).is_some_and(|c| {
                let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                inside != *negated && (*c != '/' || !*negated)
            }) && match_nodes(tail, rest, input, pos + 1, budget)
        }
        Node::Star | Node::Super => {
            let mut p = pos;
            loop {
                if match_nodes(tail, rest, input, p, budget) {
                    return true;
                }
                match input.get(p) {
                    Some('/') if matches!(first, Node::Star) => return false,
                    Some(_) => p += 1,
                    None => return false,
                }
            }
        }
        Node::Alt(alts) => {
            let mut more: Vec<&[Node]> = Vec::with_capacity(rest.len() + 1);
            more.push(tail);
            more.extend_from_slice(rest);
            alts.iter()
                .any(|a| match_nodes(a, &more, input, pos, budget))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn dialects() {
        let g = Glob::gobwas("files/*.txt").unwrap();
        assert!(g.matches("files/a.txt"));
        assert!(!g.matches("files/x/a.txt"));
        assert!(Glob::gobwas("files/**").unwrap().matches("files/x/a.txt"));
        assert!(Glob::gobwas("{a,b}/*.{yaml,json}")
            .unwrap()
            .matches("b/c.json"));
        assert!(Glob::go("*.tgz").unwrap().matches("x.tgz"));
        assert!(!Glob::go("*.tgz").unwrap().matches("d/x.tgz"));
        assert!(Glob::go("[^a]bc").unwrap().matches("xbc"));
        assert!(Glob::go("[").is_none());
    }
}
