-- Coupons. A template's terms are one JSON text (they never change once created; only its
-- name, status and stock do). `issued` moves only with the write transaction that issues a
-- coupon, which holds the template's row (PostgreSQL: FOR UPDATE; SQLite: the one writer),
-- and the CHECK keeps stock from being exceeded whatever writes it.
CREATE TABLE coupon_templates (
    template_id TEXT PRIMARY KEY,
    terms       TEXT NOT NULL,
    status      TEXT NOT NULL,
    stock       BIGINT,
    issued      BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    public_code TEXT,
    CHECK (issued >= 0 AND (stock IS NULL OR issued <= stock))
);
CREATE UNIQUE INDEX coupon_templates_by_code ON coupon_templates (public_code);

-- A member's coupons, keyed by member first like every member-owned table. The row is the
-- coupon's latest state; `coupon_entries` keeps every change (issued, used, restored), one
-- per version, so a coupon's history can only grow.
CREATE TABLE coupons (
    member_id   TEXT NOT NULL,
    coupon_id   TEXT NOT NULL,
    template_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    valid_from  BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    order_id    TEXT,
    used_at     BIGINT,
    reserved_until BIGINT,
    version     BIGINT NOT NULL,
    PRIMARY KEY (member_id, coupon_id)
);
CREATE INDEX coupons_by_template ON coupons (member_id, template_id);
CREATE INDEX coupons_by_order ON coupons (member_id, order_id);
CREATE INDEX coupons_of_template ON coupons (template_id);

CREATE TABLE coupon_entries (
    member_id TEXT NOT NULL,
    coupon_id TEXT NOT NULL,
    version   BIGINT NOT NULL,
    event     TEXT NOT NULL,
    order_id  TEXT,
    at        BIGINT NOT NULL,
    PRIMARY KEY (member_id, coupon_id, version)
);

-- The coupons an order used, as the order named them (JSON array of coupon ids).
ALTER TABLE orders ADD COLUMN coupons TEXT NOT NULL DEFAULT '[]';

-- One-time codes (批量券码): generated in batches for a template, each redeemed by one member
-- once. Keyed by the code (they are looked up by what a member types); the redeeming write holds
-- the row (PostgreSQL FOR UPDATE; SQLite's one writer) and sets it only where it is unset.
CREATE TABLE coupon_codes (
    code        TEXT PRIMARY KEY,
    template_id TEXT NOT NULL,
    batch_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    member_id   TEXT,
    coupon_id   TEXT,
    redeemed_at BIGINT
);
CREATE INDEX coupon_codes_by_batch ON coupon_codes (template_id, batch_id, code);
