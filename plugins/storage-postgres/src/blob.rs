//! The attached-data blob as PostgreSQL stores it: JSONB, written from the
//! codec's JSON text ([`ixn_sql::attached`]) with a cast.

use ixn_sql::Param;
use sqlx::{Postgres, QueryBuilder};

/// Appends the blob value (from `encode_blob`) as `$n::jsonb`, or NULL.
pub(crate) fn push_blob(out: &mut QueryBuilder<Postgres>, blob: Param) {
    match blob {
        Param::Blob(bytes) => {
            // The codec writes JSON, which is UTF-8; a lossy conversion can
            // only ever replace what no JSON holds.
            out.push_bind(String::from_utf8_lossy(&bytes).into_owned())
                .push("::jsonb");
        }
        _ => {
            out.push("NULL");
        }
    }
}
