-- One schema for SQLite and PostgreSQL: integers are BIGINT (minor units, points, and instants
-- as microseconds since the Unix epoch), text is TEXT. The member id leads the key of every
-- member-owned table so the store can be sharded by member.

CREATE TABLE members (
    member_id     TEXT PRIMARY KEY,
    name          TEXT,
    phone         TEXT,
    email         TEXT,
    birthday      TEXT,
    channel       TEXT,
    registered_at BIGINT NOT NULL,
    status        TEXT NOT NULL,
    pending       BIGINT NOT NULL,
    active        BIGINT NOT NULL,
    held          BIGINT NOT NULL,
    debt          BIGINT NOT NULL,
    next_seq      BIGINT NOT NULL,
    next_lot_no   BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE lots (
    member_id    TEXT NOT NULL,
    lot_no       BIGINT NOT NULL,
    source_kind  TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    granted      BIGINT NOT NULL,
    remaining    BIGINT NOT NULL,
    expired      BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    expires_at   BIGINT,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (member_id, lot_no)
);
CREATE INDEX lots_due_activation ON lots (activates_at) WHERE status = 'pending';
CREATE INDEX lots_due_expiry ON lots (expires_at) WHERE status = 'active' AND remaining > 0;

CREATE TABLE holds (
    member_id          TEXT NOT NULL,
    hold_id            TEXT NOT NULL,
    order_id           TEXT NOT NULL,
    points             BIGINT NOT NULL,
    order_amount_minor BIGINT NOT NULL,
    status             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    settled_at         BIGINT,
    allocations        TEXT NOT NULL,
    PRIMARY KEY (member_id, hold_id)
);
CREATE INDEX holds_by_order ON holds (member_id, order_id);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'open';

CREATE TABLE entries (
    member_id     TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    points        BIGINT NOT NULL,
    source_kind   TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    lot_no        BIGINT,
    at            BIGINT NOT NULL,
    pending_after BIGINT NOT NULL,
    active_after  BIGINT NOT NULL,
    held_after    BIGINT NOT NULL,
    debt_after    BIGINT NOT NULL,
    note          TEXT,
    recorded_at   BIGINT NOT NULL,
    PRIMARY KEY (member_id, seq)
);

-- Routes an order id to its member; the only table keyed by something else.
CREATE TABLE order_keys (
    order_id  TEXT PRIMARY KEY,
    member_id TEXT NOT NULL
);

CREATE TABLE orders (
    member_id          TEXT NOT NULL,
    order_id           TEXT NOT NULL,
    paid_at            BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    eligible_minor     BIGINT NOT NULL,
    shipping_minor     BIGINT NOT NULL,
    total_minor        BIGINT NOT NULL,
    earned_points      BIGINT NOT NULL,
    clawed_back_points BIGINT NOT NULL,
    refunded_minor     BIGINT NOT NULL,
    lot_no             BIGINT,
    note               TEXT,
    lines              TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (member_id, order_id)
);

CREATE TABLE refunds (
    member_id       TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    refund_id       TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL,
    lines           TEXT NOT NULL,
    by_lines        BIGINT NOT NULL,
    clawback_points BIGINT NOT NULL,
    forgiven_points BIGINT NOT NULL,
    refunded_at     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (member_id, order_id, refund_id)
);

CREATE TABLE adjustments (
    member_id     TEXT NOT NULL,
    adjustment_id TEXT NOT NULL,
    points        BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (member_id, adjustment_id)
);

CREATE TABLE api_keys (
    key_hash   TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE idempotency (
    principal    TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (principal, idem_key)
);
CREATE INDEX idempotency_age ON idempotency (created_at);
