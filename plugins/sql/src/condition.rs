//! View conditions and orders (the flat AST of `ixn:storage`) rendered as
//! parameterised SQL for any [`SqlDialect`]: literals are always bound (NULL
//! excepted, which is SQL text), column names are checked by the backend's
//! `queryable` and quoted.

use ixn_plugin_api::storage::{CompareOp, Condition, ExprNode, Literal, OrderBy, StorageError};
use sqlx::QueryBuilder;

use crate::query::{Param, SqlDialect, quote};

/// Whether a column name may appear in a view: the backend's schema answers.
pub type Queryable<'a> = &'a dyn Fn(&str) -> bool;

/// Deepest nesting accepted: far beyond any hand-written view condition, and
/// well below both SQLite's expression depth limit (1000) and what would
/// overflow the stack of the rendering recursion.
const MAX_DEPTH: usize = 200;

/// Most node visits one rendering may make. Nodes may be shared (the AST is a
/// graph of indices), so a small list could otherwise expand exponentially.
const MAX_VISITS: usize = 10_000;

/// Appends `(condition)` to `out`; `now` is bound for `_time_in_queue`.
/// Answers how many values it bound.
pub fn render_condition<DB: SqlDialect>(
    condition: &Condition,
    queryable: Queryable<'_>,
    now: i64,
    out: &mut QueryBuilder<DB>,
) -> Result<usize, StorageError> {
    let mut r = Renderer {
        nodes: &condition.nodes,
        queryable,
        now,
        out,
        path: Vec::new(),
        visits: 0,
        bound: 0,
    };
    r.node(condition.root)
        .map_err(|m| StorageError::permanent(format!("view condition: {m}")))?;
    Ok(r.bound)
}

/// `"col" [DESC], …, "id"`: the requested order, ties broken by id, NULL
/// sorting below every value on every database.
pub fn render_order<DB: SqlDialect>(
    order: &[OrderBy],
    queryable: Queryable<'_>,
) -> Result<String, StorageError> {
    let mut parts = Vec::with_capacity(order.len() + 1);
    for o in order {
        if !queryable(&o.column) {
            return Err(StorageError::permanent(format!(
                "view order: unknown column `{}`",
                o.column
            )));
        }
        let (direction, nulls) = if o.descending {
            (" DESC", DB::NULLS_LAST)
        } else {
            ("", DB::NULLS_FIRST)
        };
        parts.push(format!("{}{direction}{nulls}", quote(&o.column)));
    }
    parts.push(quote("id"));
    Ok(parts.join(", "))
}

struct Renderer<'a, DB: SqlDialect> {
    nodes: &'a [ExprNode],
    queryable: Queryable<'a>,
    now: i64,
    out: &'a mut QueryBuilder<DB>,
    /// Indices being rendered, root first: a node met again on this path is a cycle.
    path: Vec<u32>,
    visits: usize,
    /// Values bound so far.
    bound: usize,
}

impl<DB: SqlDialect> Renderer<'_, DB> {
    fn bind(&mut self, value: Param) {
        self.bound += 1;
        DB::push_param(self.out, value);
    }

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
                if !(self.queryable)(name) {
                    return Err(format!("unknown column `{name}`"));
                }
                self.out.push(quote(name));
            }
            ExprNode::TimeInQueue => {
                // Whole seconds, as the original's _time_in_queue[]: integer division.
                self.out.push("((");
                self.bind(Param::Int(self.now));
                self.out.push(" - \"placed_in_queue_at\") / 1000)");
            }
            ExprNode::Literal(lit) => match lit {
                // NULL is SQL text, not a bound value: a bound NULL has a
                // type on PostgreSQL, which then refuses to compare it with
                // a column of another.
                Literal::Null => {
                    self.out.push("NULL");
                }
                Literal::Str(s) => self.bind(Param::Text(s.clone())),
                Literal::Int(i) => self.bind(Param::Int(*i)),
                Literal::Float(f) => self.bind(Param::Float(*f)),
                Literal::Boolean(b) => self.bind(Param::Bool(*b)),
            },
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
            ExprNode::All(items) => self.list(items, " AND ", "TRUE")?,
            ExprNode::Any(items) => self.list(items, " OR ", "FALSE")?,
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
                    self.out.push("FALSE");
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
            // SQLite's LIKE: `%` and `_` wildcards, case-insensitive for
            // ASCII letters (PostgreSQL's ILIKE).
            ExprNode::Like((a, pattern)) => {
                self.binary(*a, &format!(" {} ", DB::LIKE), *pattern)?;
            }
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

    /// `(a AND b …)`; an empty list is the neutral element (`TRUE` for AND, `FALSE` for OR).
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
    use ixn_plugin_api::columns::standard_column;
    use ixn_plugin_api::storage::Literal as L;
    use sqlx::{Postgres, Sqlite};

    /// The standard queryable columns and one custom field, `category`.
    fn queryable(column: &str) -> bool {
        column == "category" || standard_column(column).is_some_and(|c| c.queryable)
    }

    fn render<DB: SqlDialect>(
        nodes: Vec<ExprNode>,
        root: u32,
    ) -> Result<(String, usize), StorageError> {
        let mut out = QueryBuilder::<DB>::default();
        let bound = render_condition(&Condition { nodes, root }, &queryable, 5000, &mut out)?;
        Ok((out.sql().as_str().to_string(), bound))
    }

    use ExprNode::*;

    fn every_kind() -> Vec<ExprNode> {
        vec![
            Column("category".into()),              // 0
            Literal(L::Str("x' OR 1=1 --".into())), // 1
            Compare((CompareOp::Eq, 0, 1)),         // 2
            TimeInQueue,                            // 3
            Literal(L::Int(30)),                    // 4
            Compare((CompareOp::Ge, 3, 4)),         // 5
            Column("priority".into()),              // 6
            InList((6, vec![4, 4])),                // 7
            Like((0, 1)),                           // 8
            IsNull(0),                              // 9
            Negate(9),                              // 10
            IsNotNull(6),                           // 11
            Any(vec![7, 8]),                        // 12
            Literal(L::Null),                       // 13
            Compare((CompareOp::Ne, 0, 13)),        // 14
            All(vec![2, 5, 12, 10, 11, 14]),        // 15
        ]
    }

    #[test]
    fn renders_every_node_kind_with_bound_literals() {
        let (sql, bound) = render::<Sqlite>(every_kind(), 15).unwrap();
        assert_eq!(
            sql,
            "((\"category\" = ?) AND (((? - \"placed_in_queue_at\") / 1000) >= ?) AND ((\"priority\" IN (?, ?)) OR (\"category\" LIKE ?)) AND (NOT (\"category\" IS NULL)) AND (\"priority\" IS NOT NULL) AND (\"category\" <> NULL))"
        );
        assert_eq!(bound, 6);
        let (sql, bound) = render::<Postgres>(every_kind(), 15).unwrap();
        assert_eq!(
            sql,
            "((\"category\" = $1) AND ((($2 - \"placed_in_queue_at\") / 1000) >= $3) AND ((\"priority\" IN ($4, $5)) OR (\"category\" ILIKE $6)) AND (NOT (\"category\" IS NULL)) AND (\"priority\" IS NOT NULL) AND (\"category\" <> NULL))"
        );
        assert_eq!(bound, 6);
    }

    #[test]
    fn empty_lists() {
        assert_eq!(render::<Sqlite>(vec![All(vec![])], 0).unwrap().0, "TRUE");
        assert_eq!(render::<Postgres>(vec![Any(vec![])], 0).unwrap().0, "FALSE");
        let empty_in = vec![Column("id".into()), InList((0, vec![]))];
        assert_eq!(render::<Sqlite>(empty_in, 1).unwrap().0, "FALSE");
    }

    #[test]
    fn refuses_bad_graphs_and_columns() {
        let e = render::<Sqlite>(vec![Negate(5)], 0).unwrap_err();
        assert!(e.message.contains("node 5 does not exist"), "{e}");
        assert!(render::<Sqlite>(vec![], 0).is_err());
        let e = render::<Sqlite>(vec![Negate(1), Negate(0)], 0).unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
        let e = render::<Sqlite>(vec![Negate(0)], 0).unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
        let hostile = vec![Column("x\"; DROP TABLE interactions; --".into())];
        let e = render::<Postgres>(hostile, 0).unwrap_err();
        assert!(e.message.contains("unknown column"), "{e}");
        assert!(render::<Sqlite>(vec![Column("flexible_properties".into())], 0).is_err());
        // A long acyclic chain is refused, not a stack overflow.
        let mut deep: Vec<ExprNode> = (1..100_000).map(Negate).collect();
        deep.push(Column("id".into()));
        let e = render::<Sqlite>(deep, 0).unwrap_err();
        assert!(e.message.contains("deeper"), "{e}");
        // Shared children that would expand exponentially are refused.
        let mut wide = vec![Column("id".into())];
        for i in 0..60u32 {
            wide.push(All(vec![i, i]));
        }
        let e = render::<Sqlite>(wide, 60).unwrap_err();
        assert!(e.message.contains("nodes to render"), "{e}");
    }

    #[test]
    fn orders() {
        let o = |c: &str, d| OrderBy {
            column: c.into(),
            descending: d,
        };
        assert_eq!(render_order::<Sqlite>(&[], &queryable).unwrap(), "\"id\"");
        let both = [o("priority", true), o("category", false)];
        assert_eq!(
            render_order::<Sqlite>(&both, &queryable).unwrap(),
            "\"priority\" DESC, \"category\", \"id\""
        );
        // NULL sorts as on SQLite, below every value.
        assert_eq!(
            render_order::<Postgres>(&both, &queryable).unwrap(),
            "\"priority\" DESC NULLS LAST, \"category\" NULLS FIRST, \"id\""
        );
        assert!(render_order::<Sqlite>(&[o("priority; --", false)], &queryable).is_err());
    }

    const ROWS: &str =
        "INSERT INTO t VALUES ('a', 'Sales', 30, 0), ('b', 'x'' OR 1=1 --', 1, 4000),
                                 ('c', NULL, 30, 0), ('d', 'sales-emea', 2, 0);";

    /// Conditions with the ids of [`ROWS`] each selects.
    fn cases() -> Vec<(Vec<ExprNode>, u32, Vec<&'static str>)> {
        vec![
            (every_kind(), 2, vec!["b"]),
            // (5000 - 0) / 1000 = 5 s in queue for a, c, d; 1 s for b.
            (
                vec![
                    TimeInQueue,
                    Literal(L::Int(5)),
                    Compare((CompareOp::Ge, 0, 1)),
                ],
                2,
                vec!["a", "c", "d"],
            ),
            // Case-insensitive, as SQLite's LIKE.
            (
                vec![
                    Column("category".into()),
                    Literal(L::Str("SALES%".into())),
                    Like((0, 1)),
                ],
                2,
                vec!["a", "d"],
            ),
            (
                vec![
                    Column("priority".into()),
                    Literal(L::Int(30)),
                    InList((0, vec![1])),
                ],
                2,
                vec!["a", "c"],
            ),
            (vec![Column("category".into()), IsNull(0)], 1, vec!["c"]),
            // NULL compares to nothing, on a text column as on any.
            (
                vec![
                    Column("category".into()),
                    Literal(L::Null),
                    Compare((CompareOp::Ne, 0, 1)),
                ],
                2,
                vec![],
            ),
            (vec![Any(vec![])], 0, vec![]),
            (vec![All(vec![])], 0, vec!["a", "b", "c", "d"]),
        ]
    }

    fn select<DB: SqlDialect>(nodes: Vec<ExprNode>, root: u32) -> QueryBuilder<DB> {
        let mut out = QueryBuilder::<DB>::new("SELECT id FROM t WHERE ");
        render_condition(&Condition { nodes, root }, &queryable, 5000, &mut out).unwrap();
        out.push(" ORDER BY id");
        out
    }

    /// The bound values are the literals, in order: each condition selects
    /// the rows it says on a real database.
    #[tokio::test]
    async fn selects_what_it_says_on_sqlite() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let create =
            "CREATE TABLE t (id TEXT, category TEXT, priority INTEGER, placed_in_queue_at INTEGER)";
        sqlx::raw_sql(create).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(ROWS).execute(&mut conn).await.unwrap();
        for (nodes, root, expected) in cases() {
            let mut query = select::<Sqlite>(nodes, root);
            let ids: Vec<String> = query
                .build_query_scalar()
                .fetch_all(&mut conn)
                .await
                .unwrap();
            assert_eq!(ids, expected, "{}", query.sql().as_str());
        }
    }

    /// The same conditions select the same rows on PostgreSQL (a temporary
    /// table on `IXN_TEST_PG_URL`).
    #[tokio::test]
    async fn selects_the_same_on_postgres() {
        use sqlx::Connection;
        let Ok(url) = std::env::var("IXN_TEST_PG_URL") else {
            eprintln!("skipped: IXN_TEST_PG_URL is not set (PostgreSQL conditions)");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let create = "CREATE TEMPORARY TABLE t (id TEXT, category TEXT, priority BIGINT, placed_in_queue_at BIGINT)";
        sqlx::raw_sql(create).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(ROWS).execute(&mut conn).await.unwrap();
        for (nodes, root, expected) in cases() {
            let mut query = select::<Postgres>(nodes, root);
            let ids: Vec<String> = query
                .build_query_scalar()
                .fetch_all(&mut conn)
                .await
                .unwrap();
            assert_eq!(ids, expected, "{}", query.sql().as_str());
        }
    }
}
