-- The interactions table with the standard columns of the catalogue
-- (plugins/api/src/columns.rs; a unit test keeps the two the same), its
-- claim and lease indexes, the stopped-per-queue counts and the conversion
-- checkpoint. Custom-field columns are added at open and on reload, not here:
-- they are configuration, not a version of the schema.
CREATE TABLE "interactions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "tenant" TEXT NOT NULL,
    "media_type" TEXT NOT NULL,
    "interaction_type" TEXT NOT NULL,
    "interaction_subtype" TEXT NOT NULL,
    "external_id" TEXT,
    "parent_id" TEXT,
    "queue" TEXT NOT NULL,
    "state" BIGINT NOT NULL DEFAULT 0,
    "is_locked" BIGINT NOT NULL DEFAULT 0,
    "priority" BIGINT NOT NULL DEFAULT 0,
    "submitted_by" TEXT NOT NULL,
    "submitted_at" BIGINT NOT NULL,
    "placed_in_queue_at" BIGINT NOT NULL,
    "moved_to_queue_at" BIGINT,
    "delivered_at" BIGINT,
    "assigned_to" TEXT,
    "workbin" TEXT,
    "scheduled_at" BIGINT,
    "lease_owner" TEXT,
    "lease_until" BIGINT,
    "lease_expiries" BIGINT NOT NULL DEFAULT 0,
    "stopped_at" BIGINT,
    "stop_reason" TEXT,
    "component_version" TEXT,
    "flexible_properties" JSONB
);

-- What a claim reads: the live rows of one queue, queued and unlocked, in
-- id order (the default order), so that a claim reads the first rows and
-- stops at its limit instead of sorting the whole backlog. `counts` reads
-- the live rows per queue and state through it too.
CREATE INDEX "interactions_claim" ON "interactions"
    ("queue", "state", "is_locked", "id") WHERE "stopped_at" IS NULL;
-- What lease recovery reads.
CREATE INDEX "interactions_lease_until" ON "interactions" ("lease_until")
    WHERE "lease_until" IS NOT NULL;

-- Stopped interactions per queue, in shards: every host's `apply` counts
-- its stops here, and one row per queue would make all of them wait on
-- each other's row lock until commit. A stop goes to the shard its id
-- hashes to; `counts` adds the shards up.
CREATE TABLE "queue_stopped_counts" (
    "queue" TEXT NOT NULL,
    "shard" BIGINT NOT NULL,
    "stopped" BIGINT NOT NULL,
    PRIMARY KEY ("queue", "shard")
);

CREATE TABLE "convert_checkpoint" (
    "slot" BIGINT NOT NULL PRIMARY KEY CHECK ("slot" = 1),
    "fields" TEXT NOT NULL,
    "last_id" TEXT,
    "done" BIGINT NOT NULL,
    "total" BIGINT NOT NULL,
    "to_columns" BIGINT NOT NULL,
    "to_blob" BIGINT NOT NULL,
    "kept" BIGINT NOT NULL,
    "finished" BIGINT NOT NULL
);
