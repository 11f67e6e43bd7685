-- Benefit usage: one row per benefit an order (or a free-sample claim) used, with the tier it
-- belonged to and what it was worth, so that usage and cost per benefit and tier are one
-- indexed GROUP BY over a time range. Written with the order in the same transaction; orders
-- recorded before this migration keep their benefits in orders.benefits only.
CREATE TABLE benefit_uses (
    member_id    TEXT NOT NULL,
    source_kind  TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    benefit      TEXT NOT NULL,
    tier         TEXT NOT NULL,
    used_at      BIGINT NOT NULL,
    value_minor  BIGINT NOT NULL,
    extra_points BIGINT NOT NULL,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (member_id, source_kind, source_id, benefit)
);
CREATE INDEX benefit_uses_by_time ON benefit_uses (used_at, tier);
