//! The spec's text with the position of every key and value, so that any error — from serde, from
//! validation or from shape inference — can name the file, line, layer and field.
use std::ops::Range;
use std::path::{Path, PathBuf};

use jsonc_parser::ast;
use jsonc_parser::common::{Range as JsonRange, Ranged};
use toml::de::{DeTable, DeValue};

/// Where a value sits in the document.
#[derive(Clone, Debug)]
pub enum SpanNode {
    Table { span: Range<usize>, entries: Vec<(String, Range<usize>, SpanNode)> },
    Array { span: Range<usize>, items: Vec<SpanNode> },
    Scalar { span: Range<usize> },
}

impl SpanNode {
    fn span(&self) -> Range<usize> {
        match self {
            SpanNode::Table { span, .. } | SpanNode::Array { span, .. } | SpanNode::Scalar { span } => span.clone(),
        }
    }
}

/// A step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            _ => Format::Toml,
        }
    }
}

#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub format: Format,
    /// `None` when the text does not parse; serde then reports the syntax error.
    pub tree: Option<SpanNode>,
}

fn from_toml_value(v: &toml::Spanned<DeValue>) -> SpanNode {
    match v.get_ref() {
        DeValue::Table(t) => from_toml_table(t, v.span()),
        DeValue::Array(a) => {
            let items: Vec<SpanNode> = a.iter().map(from_toml_value).collect();
            // An array of tables (`[[layer]]`) spans from its first header to its last item's body.
            let span = cover(v.span(), items.iter().map(SpanNode::span));
            SpanNode::Array { span, items }
        }
        _ => SpanNode::Scalar { span: v.span() },
    }
}

/// `span` widened to hold every one of `parts`; an empty `span` is replaced by them.
fn cover(span: Range<usize>, parts: impl Iterator<Item = Range<usize>>) -> Range<usize> {
    parts.fold(span, |acc, p| if acc.is_empty() { p } else { acc.start.min(p.start)..acc.end.max(p.end) })
}

fn from_toml_table(t: &DeTable, span: Range<usize>) -> SpanNode {
    let mut entries: Vec<(String, Range<usize>, SpanNode)> = t.iter().map(|(k, v)| (k.get_ref().to_string(), k.span(), from_toml_value(v))).collect();
    entries.sort_by_key(|(_, key, _)| key.start);
    // toml spans a `[header]` table by its header alone, and gives dotted or implicit tables no span:
    // widen it over its keys and values, so that a position in the body is found inside the table.
    let span = cover(span, entries.iter().flat_map(|(_, key, value)| [key.clone(), value.span()]));
    SpanNode::Table { span, entries }
}

fn from_json(v: &ast::Value) -> SpanNode {
    let span = |r: JsonRange| r.start..r.end;
    match v {
        ast::Value::Object(o) => SpanNode::Table {
            span: span(o.range),
            entries: o
                .properties
                .iter()
                .map(|p| {
                    let key = match &p.name {
                        ast::ObjectPropName::String(s) => span(s.range),
                        ast::ObjectPropName::Word(w) => span(w.range),
                    };
                    (p.name.as_str().to_string(), key, from_json(&p.value))
                })
                .collect(),
        },
        ast::Value::Array(a) => SpanNode::Array { span: span(a.range), items: a.elements.iter().map(from_json).collect() },
        other => SpanNode::Scalar { span: span(other.range()) },
    }
}

impl Source {
    pub fn new(path: &Path, text: String) -> Source {
        let format = Format::of(path);
        let tree = match format {
            Format::Toml => DeTable::parse(&text).ok().map(|t| from_toml_table(t.get_ref(), t.span())),
            Format::Json => {
                jsonc_parser::parse_to_ast(&text, &Default::default(), &Default::default()).ok().and_then(|r| r.value.as_ref().map(from_json))
            }
        };
        Source { path: path.to_path_buf(), text, format, tree }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())].iter().filter(|&&b| b == b'\n').count() + 1
    }

    /// 0-based byte offset of a 1-based line and column (serde_json's positions).
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let start: usize = self.text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
        (start + column.saturating_sub(1)).min(self.text.len())
    }

    /// The span of the key at `path` (or of the element, for an index).
    pub fn locate(&self, path: &[Seg]) -> Option<Range<usize>> {
        self.find(path).map(|(_, span)| span)
    }

    /// The node at `path`, with the span that names it: its key's, or its own for an array element.
    fn find(&self, path: &[Seg]) -> Option<(&SpanNode, Range<usize>)> {
        let mut node = self.tree.as_ref()?;
        let mut found = node.span();
        for seg in path {
            match (node, seg) {
                (SpanNode::Table { entries, .. }, Seg::Key(k)) => {
                    let (_, key, value) = entries.iter().find(|(name, _, _)| name == k)?;
                    found = key.clone();
                    node = value;
                }
                (SpanNode::Array { items, .. }, Seg::Index(i)) => {
                    node = items.get(*i)?;
                    found = node.span();
                }
                _ => return None,
            }
        }
        Some((node, found))
    }

    /// The deepest path whose key or value contains `offset`.
    pub fn path_at(&self, offset: usize) -> Vec<Seg> {
        let mut path = vec![];
        let mut node = match &self.tree {
            Some(n) => n,
            None => return path,
        };
        loop {
            let next = match node {
                // Header tables' spans may overlap (`[[layer]]` items after `[train]`): take the
                // tightest entry that holds the offset.
                SpanNode::Table { entries, .. } => entries
                    .iter()
                    .filter(|(_, key, value)| key.contains(&offset) || value.span().contains(&offset))
                    .min_by_key(|(_, key, value)| if key.contains(&offset) { 0 } else { value.span().len() })
                    .map(|(name, _, value)| (Seg::Key(name.clone()), value)),
                SpanNode::Array { items, .. } => {
                    items.iter().enumerate().find(|(_, item)| item.span().contains(&offset)).map(|(i, v)| (Seg::Index(i), v))
                }
                SpanNode::Scalar { .. } => None,
            };
            match next {
                Some((seg, child)) => {
                    path.push(seg);
                    node = child;
                }
                None => return path,
            }
        }
    }

    /// The keys present in the table at `path`, in document order.
    pub fn keys(&self, path: &[Seg]) -> Vec<String> {
        match self.find(path) {
            Some((SpanNode::Table { entries, .. }, _)) => entries.iter().map(|(k, _, _)| k.clone()).collect(),
            _ => vec![],
        }
    }

    /// The text of the scalar at `path`, unquoted (for messages before the value could be typed).
    pub fn scalar_text(&self, path: &[Seg]) -> Option<String> {
        match self.find(path)? {
            (SpanNode::Scalar { span }, _) => self.text.get(span.clone()).map(|t| t.trim_matches(|c| c == '"' || c == '\'').to_string()),
            _ => None,
        }
    }
}
