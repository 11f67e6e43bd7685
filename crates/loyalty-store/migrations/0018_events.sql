-- The event log (outbox, issue 18 §1): one row per event, written in the transaction of the
-- change it records, read forward from a cursor (`seq`) in commit order.
--
-- `seq` is handed out by `event_log`, one row that every transaction writing events updates
-- last, just before it commits. The update's row lock is held until the commit, so on
-- PostgreSQL, where several writers (nodes, an import) commit at once, a transaction takes its
-- numbers only after the one before it has committed: a reader that sees `seq` n has seen
-- everything below n. A sequence would not do that (a number taken early may commit after a
-- larger one, and a reader past it would skip it for good). On SQLite there is one writer at a
-- time anyway. The numbers have no gaps: a transaction that rolls back gives its range back.
--
-- No secondary index: the only read is the range scan from a cursor, and an event's id is
-- derived from its payload (`loyalty_core::events::Event::id`), never stored. The table is
-- keyed by position rather than by member; the one table of the store that is, besides
-- `order_keys` and `referrals`.
CREATE TABLE events (
    seq         BIGINT PRIMARY KEY,
    kind        BIGINT NOT NULL,
    member_id   TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    payload     TEXT NOT NULL
);

-- `next_seq` is the position the next event takes; `started_at` the instant of the first
-- write that had events (what came before it has none, and `verify` knows it).
CREATE TABLE event_log (
    id         BIGINT PRIMARY KEY,
    next_seq   BIGINT NOT NULL,
    started_at BIGINT
);
INSERT INTO event_log (id, next_seq, started_at) VALUES (1, 1, NULL);

-- The last local day (days since 1970-01-01) each member was told of points about to expire
-- (`points.expiring`), so that a second run of the day, or one after a restart, tells nobody
-- twice.
CREATE TABLE expiry_notices (
    member_id TEXT PRIMARY KEY,
    day       BIGINT NOT NULL
);
