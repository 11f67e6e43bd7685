-- Growth tiers: the member's place on the ladder, growth, tier history, activities.
ALTER TABLE members ADD COLUMN tier TEXT;
ALTER TABLE members ADD COLUMN tier_since BIGINT;
ALTER TABLE members ADD COLUMN tier_term_end BIGINT;
ALTER TABLE members ADD COLUMN tier_grace_until BIGINT;
ALTER TABLE members ADD COLUMN tier_warned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN tier_assigned_reason TEXT;
ALTER TABLE members ADD COLUMN tier_assigned_until BIGINT;
-- The next instant the member's tier needs a review (warning, term end, grace end).
ALTER TABLE members ADD COLUMN tier_review_at BIGINT;
ALTER TABLE members ADD COLUMN growth_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN next_growth_seq BIGINT NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN next_tier_seq BIGINT NOT NULL DEFAULT 1;
CREATE INDEX members_tier_review ON members (tier_review_at) WHERE tier_review_at IS NOT NULL;

ALTER TABLE orders ADD COLUMN growth BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN growth_clawed_back BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN multiplier_milli BIGINT NOT NULL DEFAULT 1000;
ALTER TABLE orders ADD COLUMN benefits TEXT NOT NULL DEFAULT '[]';
ALTER TABLE orders ADD COLUMN shipping_waived_minor BIGINT NOT NULL DEFAULT 0;

-- Growth has its own append-only ledger beside the points ledger.
CREATE TABLE growth_entries (
    member_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    source_id   TEXT NOT NULL,
    at          BIGINT NOT NULL,
    total_after BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, seq)
);
CREATE INDEX growth_entries_at ON growth_entries (member_id, at);

-- Tier history (joined, upgraded, retained, downgraded, assigned) and tier.at_risk events.
CREATE TABLE tier_events (
    member_id        TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    from_tier        TEXT,
    to_tier          TEXT NOT NULL,
    at               BIGINT NOT NULL,
    growth_in_window BIGINT NOT NULL,
    growth_needed    BIGINT,
    deadline         BIGINT,
    detail           TEXT NOT NULL,
    recorded_at      BIGINT NOT NULL,
    PRIMARY KEY (member_id, seq)
);

-- Member activities (reviews, shares, …) and benefit claims (free samples).
CREATE TABLE member_actions (
    member_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    action_id   TEXT NOT NULL,
    action_type TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    reference   TEXT,
    growth      BIGINT NOT NULL,
    points      BIGINT NOT NULL,
    note        TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (member_id, kind, action_id)
);
CREATE INDEX member_actions_by_time ON member_actions (member_id, kind, occurred_at);
