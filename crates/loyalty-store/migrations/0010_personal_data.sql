-- A member's personal data (PIPL, GDPR): an erasure removes name, phone, email and birthday,
-- closes the member and sets `erased_at`, after which the engine refuses the member's writes;
-- the ledger, orders and aggregates stay for accounting. Every export and erasure is a row of
-- `audit_log` with its actor, written in the erasure's own transaction. Keyed by member first,
-- like every member-owned table; an erasure's `audit_id` is 'erase', so it is recorded once.
ALTER TABLE members ADD COLUMN erased_at BIGINT;

CREATE TABLE audit_log (
    member_id TEXT NOT NULL,
    audit_id  TEXT NOT NULL,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    reason    TEXT,
    detail    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (member_id, audit_id)
);
CREATE INDEX audit_log_by_time ON audit_log (at);
