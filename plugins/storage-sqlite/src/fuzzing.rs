//! The condition renderer, opened for the fuzz targets in `tests/fuzz`
//! (feature `fuzzing`; not part of the plugin's contract).

use ixn_plugin_api::storage::{Condition, CustomField, StorageError};

use crate::schema::Schema;
use ixn_sql::condition::render_condition;
use sqlx::{QueryBuilder, Sqlite};

/// `condition` rendered for a table with `custom` fields: the SQL text and
/// how many values are bound to its placeholders.
pub fn render(
    condition: &Condition,
    custom: &[CustomField],
    now: i64,
) -> Result<(String, usize), StorageError> {
    let schema = Schema::new(custom.to_vec())?;
    let mut out = QueryBuilder::<Sqlite>::default();
    let bound = render_condition(condition, &|c| schema.is_queryable(c), now, &mut out)?;
    Ok((out.into_string(), bound))
}
