//! Evaluation of a parsed [`Expr`] on borrowed JSON, typed by the R4 base model: each
//! value knows its FHIR type (from the element definitions, a choice element's suffix or a
//! resource's `resourceType`), so `lastModified >= authoredOn` compares dateTimes and
//! `value.empty()` finds `valueString`. Whatever the subset does not read with certainty
//! (a primitive's `_element`, a comparison of a date with a date-time, an element the
//! model does not know, a collection where one value is expected) is [`Unsupported`]: the
//! caller then asks the full engine, so this module is never the one that guesses.

use super::datetime;
use super::parse::{Expr, Func, Op};
use crate::validate::base::{Base, ElementDef, Elements};
use serde_json::Value;
use smallvec::{SmallVec, smallvec};
use std::borrow::Cow;
use std::cmp::Ordering;

/// The expression or the data needs something the subset does not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

type R<T> = Result<T, Unsupported>;

/// A collection: most hold one value (a boolean, a code), which then needs no allocation.
pub type Coll<'a> = SmallVec<[Item<'a>; 2]>;

/// The type of a value in the resource.
#[derive(Debug, Clone, Copy)]
pub enum Ty<'a> {
    /// A type of the base model (`Task`, `Period`, `dateTime`).
    Named(&'a str),
    /// A backbone element (`Bundle.entry`), by its children.
    Backbone(&'a Elements),
}

/// One value of a collection.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    /// A value of the resource, with its type.
    Node(&'a Value, Ty<'a>),
    Str(Cow<'a, str>),
    Int(i64),
    Dec(f64),
    Bool(bool),
}

/// A value as a FHIRPath primitive.
enum Prim<'x> {
    Str(&'x str),
    Int(i64),
    Dec(f64),
    Bool(bool),
    /// A date, dateTime or instant, as written.
    Date(&'x str),
}

/// What an evaluation may refer to besides its focus.
pub struct Scope<'a> {
    pub base: &'a Base,
    /// `%resource`.
    pub resource: Item<'a>,
    /// `%rootResource`.
    pub root: Item<'a>,
}

impl<'a> Scope<'a> {
    /// Evaluate `e` on `focus`, with `$this` = `this`.
    pub fn eval(&self, e: &'a Expr, focus: &[Item<'a>], this: Option<&Item<'a>>) -> R<Coll<'a>> {
        Ok(match e {
            Expr::Str(s) => smallvec![Item::Str(Cow::Borrowed(s))],
            Expr::Int(n) => smallvec![Item::Int(*n)],
            Expr::Dec(d) => smallvec![Item::Dec(*d)],
            Expr::Bool(b) => smallvec![Item::Bool(*b)],
            Expr::This => smallvec![this.ok_or(Unsupported)?.clone()],
            Expr::Resource => smallvec![self.resource.clone()],
            Expr::RootResource => smallvec![self.root.clone()],
            Expr::Path(None, names) => {
                let mut out = Coll::new();
                for item in focus {
                    match names.split_first() {
                        Some((first, rest)) if self.is_resource_named(item, first) => {
                            self.descend(item.clone(), rest, &mut out)?
                        }
                        _ => self.descend(item.clone(), names, &mut out)?,
                    }
                }
                out
            }
            Expr::Path(Some(base), names) => {
                let mut out = Coll::new();
                for item in self.eval(base, focus, this)? {
                    self.descend(item, names, &mut out)?;
                }
                out
            }
            Expr::Call(base, func, args) => {
                let input = match base {
                    Some(b) => self.eval(b, focus, this)?,
                    None => focus.iter().cloned().collect(),
                };
                self.call(*func, input, args)?
            }
            Expr::Is(base, ty) => is_type(self, self.eval(base, focus, this)?, ty)?,
            Expr::Binary(op, l, r) => {
                let l = self.eval(l, focus, this)?;
                let r = self.eval(r, focus, this)?;
                binary(*op, l, r)?
            }
        })
    }

    fn is_resource_named(&self, item: &Item<'a>, name: &str) -> bool {
        // Only resources are typed by a resource type's name.
        matches!(item, Item::Node(_, Ty::Named(t))
            if *t == name && self.base.resource_types.contains(name))
    }

    /// Walk `names` from `item`, pushing what the last one reaches.
    fn descend(&self, item: Item<'a>, names: &[String], out: &mut Coll<'a>) -> R<()> {
        let Some((name, rest)) = names.split_first() else {
            out.push(item);
            return Ok(());
        };
        // Depth first, each child walking on as it is found: no collection in between.
        self.child(&item, name, &mut |c| self.descend(c, rest, out))
    }

    /// Call `each` with the children of `item` named `name` (a choice element by its name
    /// without `[x]`).
    fn child(&self, item: &Item<'a>, name: &str, each: &mut dyn FnMut(Item<'a>) -> R<()>) -> R<()> {
        let Item::Node(Value::Object(obj), ty) = item else {
            return Err(Unsupported);
        };
        let elements = match ty {
            Ty::Named(t) => &self.base.get(t).ok_or(Unsupported)?.elements,
            Ty::Backbone(e) => e,
        };
        let def = elements.by_name(name).ok_or(Unsupported)?;
        if def.choice {
            for (key, value) in obj {
                if let Some(rest) = key.strip_prefix('_')
                    && rest.starts_with(name)
                {
                    return Err(Unsupported);
                }
                if key.len() > name.len()
                    && key.starts_with(name)
                    && let Some((d, t)) = elements.lookup(key)
                    && std::ptr::eq(d, def)
                {
                    push_values(value, Ty::Named(t), each)?;
                }
            }
            return Ok(());
        }
        // One pass over the (few) keys: cheaper than hashing the name, and it sees a
        // primitive's `_name` too.
        let mut found = None;
        for (key, value) in obj {
            if key == name {
                found = Some(value);
            } else if key.strip_prefix('_') == Some(name) {
                return Err(Unsupported);
            }
        }
        let Some(value) = found else {
            return Ok(());
        };
        match self.element_type(def)? {
            Some(ty) => push_values(value, ty, each),
            // `Resource`: each value's own type.
            None => {
                for v in as_list(value) {
                    let t = v
                        .get("resourceType")
                        .and_then(Value::as_str)
                        .ok_or(Unsupported)?;
                    each(Item::Node(v, Ty::Named(t)))?;
                }
                Ok(())
            }
        }
    }

    /// The type of an element's values; `None` for `Resource` (each value says its own).
    fn element_type(&self, def: &'a ElementDef) -> R<Option<Ty<'a>>> {
        if !def.children.list.is_empty() {
            return Ok(Some(Ty::Backbone(&def.children)));
        }
        if let Some(r) = &def.content_ref {
            let target = self.base.element(r).ok_or(Unsupported)?;
            return Ok(Some(Ty::Backbone(&target.children)));
        }
        match def.types.as_slice() {
            [t] if t == "Resource" => Ok(None),
            [t] => Ok(Some(Ty::Named(t))),
            _ => Err(Unsupported),
        }
    }

    fn call(&self, func: Func, input: Coll<'a>, args: &'a [Expr]) -> R<Coll<'a>> {
        let one = |b: bool| Ok(smallvec![Item::Bool(b)]);
        match func {
            Func::Exists if args.is_empty() => one(!input.is_empty()),
            Func::Exists => one(!self.filter(input, &args[0])?.is_empty()),
            Func::Empty => one(input.is_empty()),
            Func::Not => Ok(truth(&input)?.map(|b| Item::Bool(!b)).into_iter().collect()),
            Func::Count => Ok(smallvec![Item::Int(input.len() as i64)]),
            Func::Where => self.filter(input, &args[0]),
            Func::Select => {
                let mut out = Coll::new();
                for item in &input {
                    out.extend(self.eval(&args[0], std::slice::from_ref(item), Some(item))?);
                }
                Ok(out)
            }
            Func::All => {
                for item in &input {
                    let r = self.eval(&args[0], std::slice::from_ref(item), Some(item))?;
                    match truth(&r)? {
                        Some(true) => {}
                        Some(false) => return one(false),
                        None => return Err(Unsupported),
                    }
                }
                one(true)
            }
            Func::First => Ok(input.into_iter().take(1).collect()),
            Func::HasValue => match input.as_slice() {
                [Item::Node(v, _)] => one(!v.is_object() && !v.is_null()),
                [] | [_, _, ..] => one(false),
                [_] => Err(Unsupported),
            },
            Func::IsDistinct => {
                for (i, a) in input.iter().enumerate() {
                    for b in &input[i + 1..] {
                        if same(a, b)? {
                            return one(false);
                        }
                    }
                }
                one(true)
            }
            Func::Contains | Func::StartsWith => {
                let [Expr::Str(needle)] = args else {
                    return Err(Unsupported);
                };
                let Some(item) = single(&input)? else {
                    return Ok(Coll::new());
                };
                match prim(item)? {
                    Prim::Str(s) => one(if func == Func::Contains {
                        s.contains(needle.as_str())
                    } else {
                        s.starts_with(needle.as_str())
                    }),
                    _ => Err(Unsupported),
                }
            }
            Func::Length => {
                let Some(item) = single(&input)? else {
                    return Ok(Coll::new());
                };
                match prim(item)? {
                    Prim::Str(s) => Ok(smallvec![Item::Int(s.chars().count() as i64)]),
                    _ => Err(Unsupported),
                }
            }
            Func::ToString => {
                let Some(item) = single(&input)? else {
                    return Ok(Coll::new());
                };
                let s = match prim(item)? {
                    Prim::Str(s) | Prim::Date(s) => s.to_string(),
                    Prim::Int(n) => n.to_string(),
                    Prim::Bool(b) => b.to_string(),
                    // A decimal's text depends on its written precision.
                    Prim::Dec(_) => return Err(Unsupported),
                };
                Ok(smallvec![Item::Str(Cow::Owned(s))])
            }
            Func::Is => {
                let [Expr::Str(ty)] = args else {
                    return Err(Unsupported);
                };
                is_type(self, input, ty)
            }
            Func::Trace => Ok(input),
            Func::AllFalse | Func::AllTrue => {
                let want = func == Func::AllTrue;
                for item in &input {
                    match prim(item)? {
                        Prim::Bool(b) if b == want => {}
                        Prim::Bool(_) => return one(false),
                        _ => return Err(Unsupported),
                    }
                }
                one(true)
            }
        }
    }

    /// The items for which `crit` is true (`where`).
    fn filter(&self, input: Coll<'a>, crit: &'a Expr) -> R<Coll<'a>> {
        let mut out = Coll::new();
        for item in input {
            let r = self.eval(crit, std::slice::from_ref(&item), Some(&item))?;
            if truth(&r)? == Some(true) {
                out.push(item);
            }
        }
        Ok(out)
    }
}

/// A JSON value (or each of an array's) as items of type `ty`, to `each`.
fn push_values<'a>(value: &'a Value, ty: Ty<'a>, each: &mut dyn FnMut(Item<'a>) -> R<()>) -> R<()> {
    for v in as_list(value) {
        if v.is_null() {
            return Err(Unsupported);
        }
        each(Item::Node(v, ty))?;
    }
    Ok(())
}

fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Array(a) => a,
        v => std::slice::from_ref(v),
    }
}

/// `is Type` on a resource; other type tests are outside the subset.
fn is_type<'a>(scope: &Scope<'a>, input: Coll<'a>, ty: &str) -> R<Coll<'a>> {
    match input.as_slice() {
        [] => Ok(Coll::new()),
        [Item::Node(v, Ty::Named(t))] if v.get("resourceType").is_some() => {
            if !scope.base.resource_types.contains(ty) {
                return Err(Unsupported);
            }
            Ok(smallvec![Item::Bool(*t == ty)])
        }
        _ => Err(Unsupported),
    }
}

/// A collection as a boolean: empty is unknown (`None`), one boolean is itself; anything
/// else is outside the subset.
fn truth(c: &[Item<'_>]) -> R<Option<bool>> {
    match single(c)?.map(prim).transpose()? {
        None => Ok(None),
        Some(Prim::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(Unsupported),
    }
}

/// The one item of a collection a function or operator reads: `None` when there is none;
/// more than one is outside the subset.
fn single<'x, 'a>(c: &'x [Item<'a>]) -> R<Option<&'x Item<'a>>> {
    match c {
        [] => Ok(None),
        [item] => Ok(Some(item)),
        _ => Err(Unsupported),
    }
}

/// The primitive an item holds, read by its FHIR type.
fn prim<'x>(item: &'x Item<'_>) -> R<Prim<'x>> {
    Ok(match item {
        Item::Str(s) => Prim::Str(s),
        Item::Int(n) => Prim::Int(*n),
        Item::Dec(d) => Prim::Dec(*d),
        Item::Bool(b) => Prim::Bool(*b),
        Item::Node(v, Ty::Named(t)) => match (*t, v) {
            (
                "string" | "code" | "id" | "uri" | "url" | "canonical" | "oid" | "uuid"
                | "markdown" | "base64Binary",
                Value::String(s),
            ) => Prim::Str(s),
            ("integer" | "positiveInt" | "unsignedInt", Value::Number(n)) => {
                Prim::Int(n.as_i64().ok_or(Unsupported)?)
            }
            ("decimal", Value::Number(n)) => Prim::Dec(n.as_f64().ok_or(Unsupported)?),
            ("boolean", Value::Bool(b)) => Prim::Bool(*b),
            ("date" | "dateTime" | "instant", Value::String(s)) => Prim::Date(s),
            _ => return Err(Unsupported),
        },
        Item::Node(_, Ty::Backbone(_)) => return Err(Unsupported),
    })
}

/// Whether two items are certainly equal (`=` true); an unknown answer (dates of different
/// precisions) is outside the subset.
fn same(a: &Item<'_>, b: &Item<'_>) -> R<bool> {
    equal(&prim(a)?, &prim(b)?)?.ok_or(Unsupported)
}

/// FHIRPath `=` on two single values: `Some(bool)`, or `None` (empty: dates of different
/// precision).
fn equal(a: &Prim<'_>, b: &Prim<'_>) -> R<Option<bool>> {
    Ok(match (a, b) {
        (Prim::Str(x), Prim::Str(y)) => Some(x == y),
        (Prim::Bool(x), Prim::Bool(y)) => Some(x == y),
        (Prim::Date(x), Prim::Date(y)) => datetime::compare(x, y)
            .map_err(|_| Unsupported)?
            .map(Ordering::is_eq),
        _ => order(a, b)?.map(Ordering::is_eq),
    })
}

/// FHIRPath's ordering of two single values of the same kind.
fn order(a: &Prim<'_>, b: &Prim<'_>) -> R<Option<Ordering>> {
    Ok(match (a, b) {
        (Prim::Str(x), Prim::Str(y)) => Some(x.cmp(y)),
        (Prim::Int(x), Prim::Int(y)) => Some(x.cmp(y)),
        (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => {
            Some(number(a).partial_cmp(&number(b)).ok_or(Unsupported)?)
        }
        (Prim::Date(x), Prim::Date(y)) => datetime::compare(x, y).map_err(|_| Unsupported)?,
        _ => return Err(Unsupported),
    })
}

fn number(p: &Prim<'_>) -> f64 {
    match p {
        Prim::Int(n) => *n as f64,
        Prim::Dec(d) => *d,
        _ => f64::NAN,
    }
}

fn binary<'a>(op: Op, l: Coll<'a>, r: Coll<'a>) -> R<Coll<'a>> {
    let bool_or_empty = |b: Option<bool>| Ok(b.map(Item::Bool).into_iter().collect());
    match op {
        Op::And | Op::Or | Op::Xor | Op::Implies => {
            let (a, b) = (truth(&l)?, truth(&r)?);
            bool_or_empty(match op {
                Op::And => match (a, b) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                Op::Or => match (a, b) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                Op::Xor => a.zip(b).map(|(a, b)| a != b),
                _ => match (a, b) {
                    (Some(false), _) | (_, Some(true)) => Some(true),
                    (Some(true), b) => b,
                    (None, _) => None,
                },
            })
        }
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => match (l.as_slice(), r.as_slice()) {
            ([], _) | (_, []) => Ok(Coll::new()),
            ([a], [b]) => {
                let (a, b) = (prim(a)?, prim(b)?);
                bool_or_empty(match op {
                    Op::Eq => equal(&a, &b)?,
                    Op::Ne => equal(&a, &b)?.map(|e| !e),
                    _ => order(&a, &b)?.map(|o| match op {
                        Op::Lt => o.is_lt(),
                        Op::Le => o.is_le(),
                        Op::Gt => o.is_gt(),
                        _ => o.is_ge(),
                    }),
                })
            }
            _ => Err(Unsupported),
        },
        Op::In => match l.as_slice() {
            [] => Ok(Coll::new()),
            [a] => {
                // Only a primitive is looked for, even in nothing.
                prim(a)?;
                for b in &r {
                    if same(a, b)? {
                        return bool_or_empty(Some(true));
                    }
                }
                bool_or_empty(Some(false))
            }
            _ => Err(Unsupported),
        },
        Op::Union => {
            let mut out = Coll::new();
            for item in l.into_iter().chain(r) {
                // Only primitives are united, the first one too.
                prim(&item)?;
                let mut seen = false;
                for o in &out {
                    seen |= same(&item, o)?;
                }
                if !seen {
                    out.push(item);
                }
            }
            Ok(out)
        }
        Op::Plus => match (l.as_slice(), r.as_slice()) {
            ([], _) | (_, []) => Ok(Coll::new()),
            ([a], [b]) => Ok(smallvec![match (prim(a)?, prim(b)?) {
                (Prim::Int(x), Prim::Int(y)) => Item::Int(x.checked_add(y).ok_or(Unsupported)?),
                (Prim::Str(x), Prim::Str(y)) => Item::Str(Cow::Owned(format!("{x}{y}"))),
                _ => return Err(Unsupported),
            }]),
            _ => Err(Unsupported),
        },
        Op::Concat => {
            let text = |c: &[Item<'_>]| -> R<String> {
                match single(c)?.map(prim).transpose()? {
                    None => Ok(String::new()),
                    Some(Prim::Str(s)) => Ok(s.to_string()),
                    Some(_) => Err(Unsupported),
                }
            };
            Ok(smallvec![Item::Str(Cow::Owned(text(&l)? + &text(&r)?))])
        }
    }
}
