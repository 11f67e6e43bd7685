-- Paid membership: each member's membership (one row), its terms (one per payment or trial)
-- and its history. The member row carries the benefits window (`plan`, `plan_from`,
-- `plan_until`) so that pricing an order or a cart reads nothing more; the writer keeps it in
-- step with the terms in the same transaction, and `verify` checks that it does.
ALTER TABLE members ADD COLUMN plan TEXT;
ALTER TABLE members ADD COLUMN plan_from BIGINT;
ALTER TABLE members ADD COLUMN plan_until BIGINT;
-- The plan a benefit use belongs to (its own codes, or a coupon of its monthly pack): what a
-- member's savings add up.
ALTER TABLE benefit_uses ADD COLUMN plan TEXT;

CREATE TABLE memberships (
    member_id       TEXT PRIMARY KEY,
    plan            TEXT NOT NULL,
    renews          BIGINT NOT NULL,
    trial_used      BIGINT NOT NULL,
    invitations     TEXT NOT NULL,
    noticed_for     BIGINT,
    grace_noted_for BIGINT,
    lapse_noted_for BIGINT,
    next_seq        BIGINT NOT NULL,
    next_due_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX memberships_due ON memberships (next_due_at) WHERE next_due_at IS NOT NULL;

CREATE TABLE membership_terms (
    member_id      TEXT NOT NULL,
    term_id        TEXT NOT NULL,
    plan           TEXT NOT NULL,
    trial          BIGINT NOT NULL,
    paid_minor     BIGINT NOT NULL,
    payment_ref    TEXT NOT NULL,
    paid_at        BIGINT NOT NULL,
    starts_at      BIGINT NOT NULL,
    ends_at        BIGINT NOT NULL,
    credit_minor   BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL,
    refund_id      TEXT,
    credited_minor BIGINT NOT NULL,
    ended_at       BIGINT,
    packs_issued   BIGINT NOT NULL,
    tier           TEXT NOT NULL,
    segment        TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (member_id, term_id),
    CHECK (paid_minor >= 0 AND credit_minor >= 0 AND refunded_minor >= 0 AND credited_minor >= 0),
    CHECK (refunded_minor + credited_minor <= paid_minor + credit_minor)
);
CREATE INDEX membership_terms_by_start ON membership_terms (starts_at);

CREATE TABLE membership_events (
    member_id    TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    plan         TEXT NOT NULL,
    term_id      TEXT,
    amount_minor BIGINT NOT NULL,
    detail       TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (member_id, seq)
);
CREATE INDEX membership_events_by_time ON membership_events (at, kind);
