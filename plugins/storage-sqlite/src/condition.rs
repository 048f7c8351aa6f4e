//! View conditions and orders (the flat AST of `ixn:storage`) rendered as
//! parameterised SQL: literals are always bound, column names are checked
//! against the schema and quoted.

use ixn_plugin_api::storage::{CompareOp, Condition, ExprNode, Literal, OrderBy, StorageError};

use crate::schema::Schema;
use crate::sql::{Param, SqlBuilder, quote};

/// Deepest nesting accepted: far beyond any hand-written view condition, and
/// well below both SQLite's expression depth limit (1000) and what would
/// overflow the stack of the rendering recursion.
const MAX_DEPTH: usize = 200;

/// Most node visits one rendering may make. Nodes may be shared (the AST is a
/// graph of indices), so a small list could otherwise expand exponentially.
const MAX_VISITS: usize = 10_000;

/// Appends `(condition)` to `out`; `now` is bound for `_time_in_queue`.
pub(crate) fn render_condition(
    condition: &Condition,
    schema: &Schema,
    now: i64,
    out: &mut SqlBuilder,
) -> Result<(), StorageError> {
    let mut r = Renderer {
        nodes: &condition.nodes,
        schema,
        now,
        out,
        path: Vec::new(),
        visits: 0,
    };
    r.node(condition.root)
        .map_err(|m| StorageError::permanent(format!("view condition: {m}")))
}

/// `"col" [DESC], …, "id"`: the requested order, ties broken by id.
pub(crate) fn render_order(order: &[OrderBy], schema: &Schema) -> Result<String, StorageError> {
    let mut parts = Vec::with_capacity(order.len() + 1);
    for o in order {
        if !schema.is_queryable(&o.column) {
            return Err(StorageError::permanent(format!(
                "view order: unknown column `{}`",
                o.column
            )));
        }
        parts.push(format!(
            "{}{}",
            quote(&o.column),
            if o.descending { " DESC" } else { "" }
        ));
    }
    parts.push(quote("id"));
    Ok(parts.join(", "))
}

struct Renderer<'a> {
    nodes: &'a [ExprNode],
    schema: &'a Schema,
    now: i64,
    out: &'a mut SqlBuilder,
    /// Indices being rendered, root first: a node met again on this path is a cycle.
    path: Vec<u32>,
    visits: usize,
}

impl Renderer<'_> {
    fn node(&mut self, index: u32) -> Result<(), String> {
        let Some(node) = self.nodes.get(index as usize) else {
            return Err(format!(
                "node {index} does not exist (the condition has {} nodes)",
                self.nodes.len()
            ));
        };
        if self.path.contains(&index) {
            return Err(format!("node {index} refers back to itself (a cycle)"));
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err(format!("more than {MAX_VISITS} nodes to render"));
        }
        self.path.push(index);
        self.render(node)?;
        self.path.pop();
        Ok(())
    }

    fn render(&mut self, node: &ExprNode) -> Result<(), String> {
        match node {
            ExprNode::Column(name) => {
                if !self.schema.is_queryable(name) {
                    return Err(format!("unknown column `{name}`"));
                }
                self.out.push(&quote(name));
            }
            ExprNode::TimeInQueue => {
                // Whole seconds, as the original's _time_in_queue[]: integer division.
                self.out
                    .push("((")
                    .param(self.now)
                    .push(" - \"placed_in_queue_at\") / 1000)");
            }
            ExprNode::Literal(lit) => {
                self.out.param(match lit {
                    Literal::Null => Param::Null,
                    Literal::Str(s) => Param::Text(s.clone()),
                    Literal::Int(i) => Param::Int(*i),
                    Literal::Float(f) => Param::Float(*f),
                    Literal::Boolean(b) => Param::Bool(*b),
                });
            }
            ExprNode::Compare((op, a, b)) => {
                let op = match op {
                    CompareOp::Eq => " = ",
                    CompareOp::Ne => " <> ",
                    CompareOp::Lt => " < ",
                    CompareOp::Le => " <= ",
                    CompareOp::Gt => " > ",
                    CompareOp::Ge => " >= ",
                };
                self.binary(*a, op, *b)?;
            }
            ExprNode::All(items) => self.list(items, " AND ", "1")?,
            ExprNode::Any(items) => self.list(items, " OR ", "0")?,
            ExprNode::Negate(a) => {
                self.out.push("(NOT ");
                self.node(*a)?;
                self.out.push(")");
            }
            ExprNode::IsNull(a) => {
                self.out.push("(");
                self.node(*a)?;
                self.out.push(" IS NULL)");
            }
            ExprNode::IsNotNull(a) => {
                self.out.push("(");
                self.node(*a)?;
                self.out.push(" IS NOT NULL)");
            }
            ExprNode::InList((a, items)) => {
                if items.is_empty() {
                    // `x IN ()` is false for every x, NULL included.
                    self.out.push("0");
                    return Ok(());
                }
                self.out.push("(");
                self.node(*a)?;
                self.out.push(" IN (");
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        self.out.push(", ");
                    }
                    self.node(*item)?;
                }
                self.out.push("))");
            }
            // SQLite's LIKE: `%` and `_` wildcards, case-insensitive for ASCII letters.
            ExprNode::Like((a, pattern)) => self.binary(*a, " LIKE ", *pattern)?,
        }
        Ok(())
    }

    fn binary(&mut self, a: u32, op: &str, b: u32) -> Result<(), String> {
        self.out.push("(");
        self.node(a)?;
        self.out.push(op);
        self.node(b)?;
        self.out.push(")");
        Ok(())
    }

    /// `(a AND b …)`; an empty list is the neutral element (`1` for AND, `0` for OR).
    fn list(&mut self, items: &[u32], separator: &str, empty: &str) -> Result<(), String> {
        if items.is_empty() {
            self.out.push(empty);
            return Ok(());
        }
        self.out.push("(");
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                self.out.push(separator);
            }
            self.node(*item)?;
        }
        self.out.push(")");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use ixn_plugin_api::storage::{CustomField, FieldType};

    fn schema() -> Schema {
        Schema::new(vec![CustomField {
            key: "Category".into(),
            column: "category".into(),
            field_type: FieldType::Text,
            length: 32,
            to_delete: false,
        }])
        .unwrap()
    }

    fn render(nodes: Vec<ExprNode>, root: u32) -> Result<SqlBuilder, StorageError> {
        let mut out = SqlBuilder::default();
        render_condition(&Condition { nodes, root }, &schema(), 5000, &mut out)?;
        Ok(out)
    }

    use ExprNode::*;

    #[test]
    fn renders_every_node_kind_with_bound_literals() {
        let nodes = vec![
            Column("category".into()),                                             // 0
            Literal(ixn_plugin_api::storage::Literal::Str("x' OR 1=1 --".into())), // 1
            Compare((CompareOp::Eq, 0, 1)),                                        // 2
            TimeInQueue,                                                           // 3
            Literal(ixn_plugin_api::storage::Literal::Int(30)),                    // 4
            Compare((CompareOp::Ge, 3, 4)),                                        // 5
            Column("priority".into()),                                             // 6
            InList((6, vec![4, 4])),                                               // 7
            Like((0, 1)),                                                          // 8
            IsNull(0),                                                             // 9
            Negate(9),                                                             // 10
            IsNotNull(6),                                                          // 11
            Any(vec![7, 8]),                                                       // 12
            All(vec![2, 5, 12, 10, 11]),                                           // 13
        ];
        let out = render(nodes, 13).unwrap();
        assert_eq!(
            out.sql,
            "((\"category\" = ?) AND (((? - \"placed_in_queue_at\") / 1000) >= ?) AND ((\"priority\" IN (?, ?)) OR (\"category\" LIKE ?)) AND (NOT (\"category\" IS NULL)) AND (\"priority\" IS NOT NULL))"
        );
        assert_eq!(
            out.params,
            vec![
                Param::Text("x' OR 1=1 --".into()),
                Param::Int(5000),
                Param::Int(30),
                Param::Int(30),
                Param::Int(30),
                Param::Text("x' OR 1=1 --".into()),
            ]
        );
    }

    #[test]
    fn empty_lists() {
        assert_eq!(render(vec![All(vec![])], 0).unwrap().sql, "1");
        assert_eq!(render(vec![Any(vec![])], 0).unwrap().sql, "0");
        assert_eq!(
            render(vec![Column("id".into()), InList((0, vec![]))], 1)
                .unwrap()
                .sql,
            "0"
        );
    }

    #[test]
    fn refuses_bad_graphs_and_columns() {
        let e = render(vec![Negate(5)], 0).unwrap_err();
        assert!(e.message.contains("node 5 does not exist"), "{e}");
        assert!(render(vec![], 0).is_err());
        let e = render(vec![Negate(1), Negate(0)], 0).unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
        assert!(
            render(vec![Negate(0)], 0)
                .unwrap_err()
                .message
                .contains("cycle")
        );
        let e = render(vec![Column("x\"; DROP TABLE interactions; --".into())], 0).unwrap_err();
        assert!(e.message.contains("unknown column"), "{e}");
        assert!(render(vec![Column("flexible_properties".into())], 0).is_err());
        // A long acyclic chain is refused, not a stack overflow.
        let mut deep: Vec<ExprNode> = (1..100_000).map(Negate).collect();
        deep.push(Column("id".into()));
        assert!(render(deep, 0).unwrap_err().message.contains("deeper"));
        // Shared children that would expand exponentially are refused.
        let mut wide = vec![Column("id".into())];
        for i in 0..60u32 {
            wide.push(All(vec![i, i]));
        }
        assert!(
            render(wide, 60)
                .unwrap_err()
                .message
                .contains("nodes to render")
        );
    }

    #[test]
    fn orders() {
        let s = schema();
        let o = |c: &str, d| OrderBy {
            column: c.into(),
            descending: d,
        };
        assert_eq!(render_order(&[], &s).unwrap(), "\"id\"");
        assert_eq!(
            render_order(&[o("priority", true), o("category", false)], &s).unwrap(),
            "\"priority\" DESC, \"category\", \"id\""
        );
        assert!(render_order(&[o("priority; --", false)], &s).is_err());
    }
}
