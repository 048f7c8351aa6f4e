-- Partition the interactions table by queue (the seed's "partitioning by
-- queue", as PostgreSQL's PARTITION BY LIST): the rows so far become the
-- default partition, `interactions_default`; the partition plan of
-- `[storage.settings]` adds the named partitions at open (partitions.rs).
--
-- A unique index of a partitioned table must hold the partition key, so the
-- primary key becomes (id, queue) — still what a lookup by id reads — and
-- the uniqueness of an id across partitions moves to `interaction_ids`,
-- which submit writes in the same statement as the row.

ALTER TABLE "interactions" RENAME TO "interactions_default";
ALTER TABLE "interactions_default" DROP CONSTRAINT "interactions_pkey";
-- Every index of the old table goes: the parent's partitioned indexes below
-- (and the custom-field ones, re-created at open) take their names.
DO $$
DECLARE ix record;
BEGIN
    FOR ix IN SELECT indexname FROM pg_indexes
              WHERE schemaname = current_schema() AND tablename = 'interactions_default'
    LOOP
        EXECUTE format('DROP INDEX %I', ix.indexname);
    END LOOP;
END $$;

CREATE TABLE "interactions" (LIKE "interactions_default" INCLUDING DEFAULTS)
    PARTITION BY LIST ("queue");
ALTER TABLE "interactions" ATTACH PARTITION "interactions_default" DEFAULT;
ALTER TABLE "interactions" ADD PRIMARY KEY ("id", "queue");
CREATE INDEX "interactions_claim" ON "interactions"
    ("queue", "state", "is_locked", "id") WHERE "stopped_at" IS NULL;
CREATE INDEX "interactions_lease_until" ON "interactions" ("lease_until")
    WHERE "lease_until" IS NOT NULL;

CREATE TABLE "interaction_ids" ("id" TEXT NOT NULL PRIMARY KEY);
INSERT INTO "interaction_ids" ("id") SELECT "id" FROM "interactions";

-- The named partitions as last applied: open compares the configured plan
-- with this table, not with the catalogue, and touches nothing when they
-- agree. The default partition is not listed: it always exists.
CREATE TABLE "partition_plan" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "queues" TEXT[] NOT NULL,
    "tablespace" TEXT
);
