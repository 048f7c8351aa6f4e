//! View conditions and orders: parsed with `sqlparser` at config load,
//! checked against the interactions table's columns, and turned into the flat
//! AST of `ixn:storage` that backends render as parameterised SQL.
//!
//! The original's pseudo-function `_time_in_queue[]` (seconds since the
//! interaction was placed in its queue) is rewritten to `_time_in_queue()`
//! before parsing — same length, so positions in errors stay right.

use ixn_plugin_api::storage::{
    CompareOp, Condition, CustomField, ExprNode, FieldType, Literal, OrderBy,
};
use sqlparser::ast::{BinaryOperator, Expr, FunctionArguments, UnaryOperator, Value};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use ixn_plugin_api::columns::STANDARD_COLUMNS;
pub use ixn_plugin_api::columns::{ColumnType, is_identifier};

/// The columns a condition may name: standard ones and custom fields.
#[derive(Debug, Clone)]
pub struct Schema {
    columns: Vec<(String, ColumnType)>,
    /// Columns of custom fields marked `to-delete`: they empty as
    /// `ixn convert-fields` folds them into the blob, so nothing may select on them.
    retiring: Vec<String>,
}

impl Schema {
    /// The standard columns plus these custom fields.
    pub fn new(custom: &[CustomField]) -> Self {
        let mut columns: Vec<(String, ColumnType)> = STANDARD_COLUMNS
            .iter()
            .filter(|c| c.queryable)
            .map(|c| (c.name.to_string(), c.column_type))
            .collect();
        let mut retiring = Vec::new();
        for f in custom {
            if f.to_delete {
                retiring.push(f.column.clone());
                continue;
            }
            let t = match f.field_type {
                FieldType::Text => ColumnType::Text,
                FieldType::Integer => ColumnType::Integer,
                FieldType::Timestamp => ColumnType::Timestamp,
            };
            columns.push((f.column.clone(), t));
        }
        Schema { columns, retiring }
    }

    /// Why `name` cannot be used in a condition or an order.
    fn unknown(&self, what: &str, name: &str) -> String {
        if self.retiring.iter().any(|c| c == name) {
            format!(
                "{what} `{name}` belongs to a custom field marked to-delete: its values are moving to the blob"
            )
        } else {
            format!("unknown {what} `{name}` (known: {})", self.known())
        }
    }

    fn column(&self, name: &str) -> Option<ColumnType> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    fn known(&self) -> String {
        self.columns
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A condition that does not parse or does not type-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionError {
    /// Byte offset in the condition text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses and checks a view condition.
pub fn parse_condition(text: &str, schema: &Schema) -> Result<Condition, ConditionError> {
    let rewritten = text.replace("_time_in_queue[]", "_time_in_queue()");
    let expr = Parser::new(&GenericDialect {})
        .try_with_sql(&rewritten)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
            Ok(e)
        })
        .map_err(|e| ConditionError {
            offset: 0,
            message: e.to_string(),
        })?;
    let mut b = Builder {
        nodes: Vec::new(),
        schema,
        text: &rewritten,
    };
    let (root, t) = b.expr(&expr)?;
    if t != Kind::Bool {
        return Err(b.err(Span::empty(), "the condition is not a boolean expression"));
    }
    Ok(Condition {
        nodes: b.nodes,
        root,
    })
}

/// Parses `column [asc|desc], …`.
pub fn parse_order(text: &str, schema: &Schema) -> Result<Vec<OrderBy>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut words = part.split_whitespace();
        let column = words.next().unwrap_or_default().to_ascii_lowercase();
        let descending = match words.next().map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(w) => return Err(format!("`{w}` after `{column}`: want asc or desc")),
        };
        if let Some(extra) = words.next() {
            return Err(format!("unexpected `{extra}` in `{part}`"));
        }
        if schema.column(&column).is_none() {
            return Err(schema.unknown("column", &column));
        }
        out.push(OrderBy { column, descending });
    }
    Ok(out)
}

/// The type of an operand while checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Text,
    Number,
    Null,
}

struct Builder<'a> {
    nodes: Vec<ExprNode>,
    schema: &'a Schema,
    text: &'a str,
}

impl Builder<'_> {
    fn push(&mut self, node: ExprNode) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    fn err(&self, span: Span, message: impl Into<String>) -> ConditionError {
        let offset = if span == Span::empty() {
            0
        } else {
            offset_of(self.text, span.start.line, span.start.column)
        };
        ConditionError {
            offset,
            message: message.into(),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<(u32, Kind), ConditionError> {
        match e {
            Expr::Nested(inner) => self.expr(inner),
            Expr::Identifier(ident) => {
                let name = ident.value.to_ascii_lowercase();
                match self.schema.column(&name) {
                    Some(t) => {
                        let kind = if t.is_numeric() {
                            Kind::Number
                        } else {
                            Kind::Text
                        };
                        Ok((self.push(ExprNode::Column(name)), kind))
                    }
                    None => Err(self.err(ident.span, self.schema.unknown("field", &ident.value))),
                }
            }
            Expr::Value(v) => {
                let (lit, kind) = match &v.value {
                    Value::SingleQuotedString(s) => (Literal::Str(s.clone()), Kind::Text),
                    Value::Number(n, _) => match n.parse::<i64>() {
                        Ok(i) => (Literal::Int(i), Kind::Number),
                        Err(_) => match n.parse::<f64>() {
                            Ok(f) => (Literal::Float(f), Kind::Number),
                            Err(_) => {
                                return Err(self.err(v.span, format!("`{n}` is not a number")));
                            }
                        },
                    },
                    Value::Boolean(b) => (Literal::Boolean(*b), Kind::Bool),
                    Value::Null => (Literal::Null, Kind::Null),
                    other => {
                        return Err(self.err(
                            v.span,
                            format!("unsupported literal `{other}`; use 'text' or a number"),
                        ));
                    }
                };
                Ok((self.push(ExprNode::Literal(lit)), kind))
            }
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => {
                        let lit =
                            match format!("-{n}").parse::<i64>() {
                                Ok(i) => Literal::Int(i),
                                Err(_) => Literal::Float(-n.parse::<f64>().map_err(|_| {
                                    self.err(v.span, format!("`{n}` is not a number"))
                                })?),
                            };
                        Ok((self.push(ExprNode::Literal(lit)), Kind::Number))
                    }
                    _ => Err(self.err(v.span, "`-` applies to numbers only")),
                },
                _ => Err(self.err(Span::empty(), "`-` applies to number literals only")),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => {
                let (i, k) = self.expr(expr)?;
                self.want(k, Kind::Bool, "NOT")?;
                Ok((self.push(ExprNode::Negate(i)), Kind::Bool))
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right),
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let (i, _) = self.expr(inner)?;
                let node = if matches!(e, Expr::IsNull(_)) {
                    ExprNode::IsNull(i)
                } else {
                    ExprNode::IsNotNull(i)
                };
                Ok((self.push(node), Kind::Bool))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let (i, k) = self.expr(expr)?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    let (j, kj) = self.expr(item)?;
                    if !matches!(self.nodes[j as usize], ExprNode::Literal(_)) {
                        return Err(self.err(Span::empty(), "IN lists hold literals only"));
                    }
                    self.compatible(k, kj, "IN")?;
                    items.push(j);
                }
                let node = self.push(ExprNode::InList((i, items)));
                Ok((
                    if *negated {
                        self.push(ExprNode::Negate(node))
                    } else {
                        node
                    },
                    Kind::Bool,
                ))
            }
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => {
                let (i, k) = self.expr(expr)?;
                let (j, kj) = self.expr(pattern)?;
                self.want(k, Kind::Text, "LIKE")?;
                self.want(kj, Kind::Text, "LIKE")?;
                let node = self.push(ExprNode::Like((i, j)));
                Ok((
                    if *negated {
                        self.push(ExprNode::Negate(node))
                    } else {
                        node
                    },
                    Kind::Bool,
                ))
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (i, k) = self.expr(expr)?;
                let (lo, kl) = self.expr(low)?;
                let (hi, kh) = self.expr(high)?;
                self.compatible(k, kl, "BETWEEN")?;
                self.compatible(k, kh, "BETWEEN")?;
                let ge = self.push(ExprNode::Compare((CompareOp::Ge, i, lo)));
                let le = self.push(ExprNode::Compare((CompareOp::Le, i, hi)));
                let node = self.push(ExprNode::All(vec![ge, le]));
                Ok((
                    if *negated {
                        self.push(ExprNode::Negate(node))
                    } else {
                        node
                    },
                    Kind::Bool,
                ))
            }
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                let no_args = match &f.args {
                    FunctionArguments::None => true,
                    FunctionArguments::List(l) => l.args.is_empty(),
                    FunctionArguments::Subquery(_) => false,
                };
                if name == "_time_in_queue" && no_args {
                    Ok((self.push(ExprNode::TimeInQueue), Kind::Number))
                } else {
                    Err(self.err(Span::empty(), format!("unknown function `{name}`; the only pseudo-function is _time_in_queue[]")))
                }
            }
            other => Err(self.err(Span::empty(), format!("unsupported expression `{other}`"))),
        }
    }

    fn binary(
        &mut self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
    ) -> Result<(u32, Kind), ConditionError> {
        let (l, kl) = self.expr(left)?;
        let (r, kr) = self.expr(right)?;
        let cmp = match op {
            BinaryOperator::And | BinaryOperator::Or => {
                self.want(kl, Kind::Bool, "AND/OR")?;
                self.want(kr, Kind::Bool, "AND/OR")?;
                let node = if *op == BinaryOperator::And {
                    ExprNode::All(vec![l, r])
                } else {
                    ExprNode::Any(vec![l, r])
                };
                return Ok((self.push(node), Kind::Bool));
            }
            BinaryOperator::Eq => CompareOp::Eq,
            BinaryOperator::NotEq => CompareOp::Ne,
            BinaryOperator::Lt => CompareOp::Lt,
            BinaryOperator::LtEq => CompareOp::Le,
            BinaryOperator::Gt => CompareOp::Gt,
            BinaryOperator::GtEq => CompareOp::Ge,
            other => return Err(self.err(Span::empty(), format!("unsupported operator `{other}`"))),
        };
        if kl == Kind::Null || kr == Kind::Null {
            return Err(self.err(
                Span::empty(),
                "comparison with NULL is never true; use IS NULL or IS NOT NULL",
            ));
        }
        self.compatible(kl, kr, &op.to_string())?;
        Ok((self.push(ExprNode::Compare((cmp, l, r))), Kind::Bool))
    }

    fn want(&self, got: Kind, want: Kind, what: &str) -> Result<(), ConditionError> {
        if got == want {
            Ok(())
        } else {
            Err(self.err(
                Span::empty(),
                format!(
                    "type mismatch: {what} wants {} operands, got {}",
                    name(want),
                    name(got)
                ),
            ))
        }
    }

    fn compatible(&self, a: Kind, b: Kind, what: &str) -> Result<(), ConditionError> {
        if a == b || a == Kind::Null || b == Kind::Null {
            Ok(())
        } else {
            Err(self.err(
                Span::empty(),
                format!(
                    "type mismatch: `{what}` compares {} with {}",
                    name(a),
                    name(b)
                ),
            ))
        }
    }
}

fn name(k: Kind) -> &'static str {
    match k {
        Kind::Bool => "boolean",
        Kind::Text => "text",
        Kind::Number => "number",
        Kind::Null => "NULL",
    }
}

/// Byte offset of a 1-based line and column (in characters).
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as u64 + 1 == line {
            return offset
                + l.char_indices()
                    .nth(column.saturating_sub(1) as usize)
                    .map(|(b, _)| b)
                    .unwrap_or(l.len());
        }
        offset += l.len();
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(&[CustomField {
            key: "Category".into(),
            column: "category".into(),
            field_type: FieldType::Text,
            length: 32,
            to_delete: false,
        }])
    }

    #[test]
    fn parses_time_in_queue_and_custom_fields() {
        let c = parse_condition(
            "_time_in_queue[] > 4320 AND category IN ('billing', 'sales') AND NOT priority < 0",
            &schema(),
        )
        .expect("valid condition");
        assert!(c.nodes.contains(&ExprNode::TimeInQueue));
        assert!(c.nodes.contains(&ExprNode::Column("category".into())));
        assert!(matches!(c.nodes[c.root as usize], ExprNode::All(_)));
    }

    #[test]
    fn unknown_field_is_an_error_with_position() {
        let e = parse_condition("media_type = 'email' AND colour = 'red'", &schema())
            .expect_err("unknown field");
        assert!(
            e.message.contains("unknown field `colour`"),
            "{}",
            e.message
        );
        assert_eq!(e.offset, 25);
    }

    #[test]
    fn type_mismatch_is_an_error() {
        let e = parse_condition("priority = 'high'", &schema()).expect_err("mismatch");
        assert!(e.message.contains("type mismatch"), "{}", e.message);
        let e = parse_condition("priority", &schema()).expect_err("not boolean");
        assert!(e.message.contains("not a boolean"), "{}", e.message);
    }

    #[test]
    fn literals_stay_literals() {
        let c = parse_condition("tenant = 'x'' OR 1=1 --'", &schema()).expect("valid");
        assert!(
            c.nodes
                .contains(&ExprNode::Literal(Literal::Str("x' OR 1=1 --".into())))
        );
    }

    #[test]
    fn order_parses_and_checks() {
        let o = parse_order("priority desc, submitted_at", &schema()).expect("valid");
        assert_eq!(o.len(), 2);
        assert!(o[0].descending);
        assert!(parse_order("nope desc", &schema()).is_err());
    }
}
