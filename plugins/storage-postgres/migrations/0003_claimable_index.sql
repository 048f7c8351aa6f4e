-- An index over only the rows a claim can take, in id order. The claim
-- index of migration 1 also holds claimed and routing rows (it is partial
-- on `stopped_at` alone, and `counts` reads every live state through it),
-- so each claim walked over the entries earlier claims had left. A claimed
-- row leaves this one: measured with pgbench, 4 claimers taking batches of
-- 100 from 200 000 queued rows went from 61 to 662 claims per second.
CREATE INDEX "interactions_claimable" ON "interactions" ("queue", "id")
    WHERE "stopped_at" IS NULL AND "state" = 0 AND "is_locked" = 0;
