//! The subset's grammar: a lexer and a precedence-climbing parser that turn an expression
//! into an [`Expr`] tree, or say it uses something outside the subset (`None`), in which
//! case the caller keeps the full engine for it.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    Int(i64),
    Dec(f64),
    Bool(bool),
    /// `$this`.
    This,
    /// `%resource`.
    Resource,
    /// `%rootResource`.
    RootResource,
    /// A path of names (`input.type.coding`), walked item by item without a collection
    /// between steps. From `base` when given; else from the focus, whose own resource
    /// type may stand first (`Task.code`: the Task itself, then its code).
    Path(Option<Box<Expr>>, Vec<String>),
    /// `base.f(args)`, or `f(args)` on the focus (`base` is `None`).
    Call(Option<Box<Expr>>, Func, Vec<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    /// `base is Type`.
    Is(Box<Expr>, String),
}

/// The functions of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Exists,
    Empty,
    Not,
    Count,
    Where,
    Select,
    All,
    First,
    HasValue,
    IsDistinct,
    Contains,
    StartsWith,
    Length,
    ToString,
    Is,
    Trace,
    AllFalse,
    AllTrue,
}

impl Func {
    fn named(name: &str) -> Option<(Func, std::ops::RangeInclusive<usize>)> {
        use Func::*;
        Some(match name {
            "exists" => (Exists, 0..=1),
            "empty" => (Empty, 0..=0),
            "not" => (Not, 0..=0),
            "count" => (Count, 0..=0),
            "where" => (Where, 1..=1),
            "select" => (Select, 1..=1),
            "all" => (All, 1..=1),
            "first" => (First, 0..=0),
            "hasValue" => (HasValue, 0..=0),
            "isDistinct" => (IsDistinct, 0..=0),
            "contains" => (Contains, 1..=1),
            "startsWith" => (StartsWith, 1..=1),
            "length" => (Length, 0..=0),
            "toString" => (ToString, 0..=0),
            "is" => (Is, 1..=1),
            "trace" => (Trace, 1..=2),
            "allFalse" => (AllFalse, 0..=0),
            "allTrue" => (AllTrue, 0..=0),
            _ => return None,
        })
    }
}

/// The operators of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Implies,
    Or,
    Xor,
    And,
    In,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Union,
    Plus,
    Concat,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Dec(f64),
    This,
    Var(String),
    Sym(&'static str),
}

fn lex(src: &str) -> Option<Vec<Tok>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match *b.get(i)? {
                        b'\'' => break,
                        b'\\' => {
                            let e = *b.get(i + 1)?;
                            s.push(match e {
                                b'\'' | b'"' | b'`' | b'\\' | b'/' => e as char,
                                b'n' => '\n',
                                b't' => '\t',
                                b'r' => '\r',
                                _ => return None,
                            });
                            i += 2;
                        }
                        _ => {
                            // A whole UTF-8 character.
                            let ch = src[i..].chars().next()?;
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                i += 1;
                out.push(Tok::Str(s));
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    out.push(Tok::Dec(src[start..i].parse().ok()?));
                } else {
                    out.push(Tok::Int(src[start..i].parse().ok()?));
                }
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Ident(src[start..i].to_string()));
            }
            b'$' => {
                let rest = &src[i + 1..];
                if rest.starts_with("this")
                    && !rest[4..]
                        .bytes()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    out.push(Tok::This);
                    i += 5;
                } else {
                    return None; // $index, $total
                }
            }
            b'%' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if i == start {
                    return None; // %`quoted` or %'string'
                }
                out.push(Tok::Var(src[start..i].to_string()));
            }
            _ => {
                let two = src.get(i..i + 2).unwrap_or("");
                let sym = match two {
                    "<=" => "<=",
                    ">=" => ">=",
                    "!=" => "!=",
                    _ => match c {
                        b'.' => ".",
                        b'(' => "(",
                        b')' => ")",
                        b',' => ",",
                        b'=' => "=",
                        b'<' => "<",
                        b'>' => ">",
                        b'|' => "|",
                        b'+' => "+",
                        b'&' => "&",
                        _ => return None, // - * / ~ [ ] { } ` and anything else
                    },
                };
                i += sym.len();
                out.push(Tok::Sym(sym));
            }
        }
    }
    Some(out)
}

/// Parse `src`; `None` when it uses anything outside the subset (or is not FHIRPath).
pub fn parse(src: &str) -> Option<Expr> {
    let toks = lex(src)?;
    // A long chain of operators nests as deep as it is long, for the evaluator too.
    if toks.len() > MAX_TOKENS {
        return None;
    }
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
    };
    let e = p.expr(0)?;
    (p.at == p.toks.len()).then_some(e)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    /// Nesting of sub-expressions so far: a hostile profile's thousands of `(` are declined
    /// (left to the full engine) rather than run the parser and evaluator out of stack.
    depth: usize,
}

/// Deeper than any real invariant (the R4 and CDex ones nest less than 10).
const MAX_DEPTH: usize = 64;

/// Longer than any real invariant (the longest R4 one has about 100 tokens).
const MAX_TOKENS: usize = 1_000;

/// Binding strength of a binary operator token (FHIRPath's precedence, loosest first).
fn binary(t: &Tok) -> Option<(u8, Op)> {
    Some(match t {
        Tok::Ident(w) if w == "implies" => (1, Op::Implies),
        Tok::Ident(w) if w == "or" => (2, Op::Or),
        Tok::Ident(w) if w == "xor" => (2, Op::Xor),
        Tok::Ident(w) if w == "and" => (3, Op::And),
        Tok::Ident(w) if w == "in" => (4, Op::In),
        Tok::Sym("=") => (5, Op::Eq),
        Tok::Sym("!=") => (5, Op::Ne),
        Tok::Sym("<") => (6, Op::Lt),
        Tok::Sym("<=") => (6, Op::Le),
        Tok::Sym(">") => (6, Op::Gt),
        Tok::Sym(">=") => (6, Op::Ge),
        Tok::Sym("|") => (7, Op::Union),
        Tok::Sym("+") => (9, Op::Plus),
        Tok::Sym("&") => (9, Op::Concat),
        _ => return None,
    })
}

/// `is` binds between `|` (7) and `+`/`&` (9).
const IS_LEVEL: u8 = 8;

/// Words that are operators, never names.
fn keyword(w: &str) -> bool {
    matches!(
        w,
        "implies" | "or" | "xor" | "and" | "in" | "is" | "as" | "contains" | "div" | "mod"
    )
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn eat(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Binary operators binding at least as tight as `min` (all left-associative).
    fn expr(&mut self, min: u8) -> Option<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let e = self.binary_from(min);
        self.depth -= 1;
        e
    }

    fn binary_from(&mut self, min: u8) -> Option<Expr> {
        let mut left = self.term()?;
        while let Some(t) = self.peek() {
            if matches!(t, Tok::Ident(w) if w == "is") {
                if IS_LEVEL < min {
                    break;
                }
                self.at += 1;
                let ty = self.type_name()?;
                left = Expr::Is(Box::new(left), ty);
                continue;
            }
            let Some((level, op)) = binary(t) else {
                match t {
                    Tok::Ident(w) if keyword(w) => return None, // as, contains, div, mod
                    _ => break,
                }
            };
            if level < min {
                break;
            }
            self.at += 1;
            let right = self.expr(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Some(left)
    }

    /// A type name (`Composition`); qualified names (`FHIR.x`, `System.x`) are outside.
    fn type_name(&mut self) -> Option<String> {
        match self.toks.get(self.at)? {
            Tok::Ident(n) if !keyword(n) => {
                let n = n.clone();
                self.at += 1;
                if matches!(self.peek(), Some(Tok::Sym("."))) {
                    return None;
                }
                Some(n)
            }
            _ => None,
        }
    }

    /// A term and its invocations (`a.b.c()`).
    fn term(&mut self) -> Option<Expr> {
        let mut e = match self.toks.get(self.at)?.clone() {
            Tok::Str(s) => {
                self.at += 1;
                Expr::Str(s)
            }
            Tok::Int(n) => {
                self.at += 1;
                Expr::Int(n)
            }
            Tok::Dec(d) => {
                self.at += 1;
                Expr::Dec(d)
            }
            Tok::This => {
                self.at += 1;
                Expr::This
            }
            Tok::Var(v) => {
                self.at += 1;
                match v.as_str() {
                    "resource" => Expr::Resource,
                    "rootResource" => Expr::RootResource,
                    "ucum" => Expr::Str("http://unitsofmeasure.org".into()),
                    _ => return None,
                }
            }
            Tok::Sym("(") => {
                self.at += 1;
                let inner = self.expr(0)?;
                if !self.eat(")") {
                    return None;
                }
                inner
            }
            Tok::Ident(w) if w == "true" || w == "false" => {
                self.at += 1;
                Expr::Bool(w == "true")
            }
            Tok::Ident(w) if !keyword(&w) => {
                self.at += 1;
                if self.eat("(") {
                    self.call(None, &w)?
                } else {
                    Expr::Path(None, vec![w])
                }
            }
            _ => return None,
        };
        while self.eat(".") {
            let Some(Tok::Ident(name)) = self.toks.get(self.at).cloned() else {
                return None;
            };
            self.at += 1;
            e = if self.eat("(") {
                self.call(Some(e), &name)?
            } else if let Expr::Path(base, mut names) = e {
                names.push(name);
                Expr::Path(base, names)
            } else {
                Expr::Path(Some(Box::new(e)), vec![name])
            };
        }
        Some(e)
    }

    /// The arguments of a call, after its `(`.
    fn call(&mut self, base: Option<Expr>, name: &str) -> Option<Expr> {
        let (func, arity) = Func::named(name)?;
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                // `is(Type)`: a type name, kept as a string.
                if func == Func::Is {
                    args.push(Expr::Str(self.type_name()?));
                } else {
                    args.push(self.expr(0)?);
                }
                if self.eat(")") {
                    break;
                }
                if !self.eat(",") {
                    return None;
                }
            }
        }
        arity
            .contains(&args.len())
            .then(|| Expr::Call(base.map(Box::new), func, args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(e: Expr) -> Box<Expr> {
        Box::new(e)
    }

    #[test]
    fn precedence_follows_fhirpath() {
        let e = parse("a = 'x' implies b.exists() and c or d").unwrap();
        let want = Expr::Binary(
            Op::Implies,
            b(Expr::Binary(
                Op::Eq,
                b(Expr::Path(None, vec!["a".into()])),
                b(Expr::Str("x".into())),
            )),
            b(Expr::Binary(
                Op::Or,
                b(Expr::Binary(
                    Op::And,
                    b(Expr::Call(
                        Some(b(Expr::Path(None, vec!["b".into()]))),
                        Func::Exists,
                        vec![],
                    )),
                    b(Expr::Path(None, vec!["c".into()])),
                )),
                b(Expr::Path(None, vec!["d".into()])),
            )),
        );
        assert_eq!(e, want);
    }

    #[test]
    fn paths_are_one_node() {
        assert_eq!(
            parse("Task.input.type").unwrap(),
            Expr::Path(None, vec!["Task".into(), "input".into(), "type".into()])
        );
        assert_eq!(
            parse("%resource.type").unwrap(),
            Expr::Path(Some(b(Expr::Resource)), vec!["type".into()])
        );
        assert_eq!(
            parse("entry.first().resource.meta").unwrap(),
            Expr::Path(
                Some(b(Expr::Call(
                    Some(b(Expr::Path(None, vec!["entry".into()]))),
                    Func::First,
                    vec![]
                ))),
                vec!["resource".into(), "meta".into()]
            )
        );
    }

    #[test]
    fn outside_the_subset_is_none() {
        for src in [
            "a.iif(b, c, d)",
            "name.matches('[A-Z]')",
            "a - 1",
            "a[0]",
            "%context.a",
            "a as Quantity",
            "a is FHIR.string",
            "a.exists(",
            "a.b)",
            "'unterminated",
            "descendants().linkId",
            "$index",
            "exists(a, b)",
            "(".repeat(10_000).as_str(),
            format!("{}a{}", "(".repeat(100), ")".repeat(100)).as_str(),
            vec!["a"; 2_000].join(" or ").as_str(),
        ] {
            assert_eq!(parse(src), None, "{src}");
        }
    }

    #[test]
    fn the_invariants_parse() {
        for src in [
            "lastModified.exists().not() or authoredOn.exists().not() or lastModified >= authoredOn",
            "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
            "type = 'message' implies entry.first().resource.is(MessageHeader)",
            "offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())",
            "$this.toString().length() = 10",
            "(type='group' implies item.empty().not()) and (type.trace('type')='display' implies item.trace('item').empty())",
            "(code.exists() or value.empty()) and (system.empty() or system = %ucum)",
            "operator = 'exists' implies (answer is Boolean)",
            "Task.code.coding.code.where($this='data-request-code').exists()",
        ] {
            assert!(parse(src).is_some(), "{src}");
        }
    }
}
