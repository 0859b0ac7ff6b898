-- A fold is worked out on a reader and written under the writer. Whatever changes the rollup or
-- the folded part of the log behind a fold's back (a merge's refold marks, an erased contact,
-- emptying the rollup) counts a generation, so that a fold planned before it is planned again
-- instead of written over it.
ALTER TABLE analytics_folded ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
