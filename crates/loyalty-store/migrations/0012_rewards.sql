-- The points mall and the points lottery. Counts that limits rest on (`redeemed`, a prize's
-- `given`, a lottery's `spent_minor`) move only with the write transaction that holds the row
-- (PostgreSQL: FOR UPDATE; SQLite: the one writer), and the CHECKs keep stock and budget
-- whatever writes them.
CREATE TABLE rewards (
    reward_id  TEXT PRIMARY KEY,
    terms      TEXT NOT NULL,
    status     TEXT NOT NULL,
    stock      BIGINT,
    redeemed   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (redeemed >= 0 AND (stock IS NULL OR redeemed <= stock))
);

-- A member's redemptions, keyed by member first. `allocations` (JSON) are the lots the points
-- came from, given back to on cancellation; `item` (JSON) is what was redeemed.
CREATE TABLE redemptions (
    member_id     TEXT NOT NULL,
    redemption_id TEXT NOT NULL,
    reward_id     TEXT NOT NULL,
    quantity      BIGINT NOT NULL,
    points        BIGINT NOT NULL,
    cash_minor    BIGINT NOT NULL,
    item          TEXT NOT NULL,
    status        TEXT NOT NULL,
    address       TEXT,
    tracking      TEXT,
    allocations   TEXT NOT NULL,
    coupons       TEXT NOT NULL,
    draw_id       TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (member_id, redemption_id),
    CHECK (quantity > 0 AND points >= 0 AND cash_minor >= 0)
);
CREATE INDEX redemptions_by_reward ON redemptions (member_id, reward_id);
CREATE INDEX redemptions_of_reward ON redemptions (reward_id);

CREATE TABLE lotteries (
    lottery_id   TEXT PRIMARY KEY,
    terms        TEXT NOT NULL,
    status       TEXT NOT NULL,
    secret       TEXT NOT NULL,
    budget_minor BIGINT,
    spent_minor  BIGINT NOT NULL DEFAULT 0,
    draws        BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CHECK (spent_minor >= 0 AND (budget_minor IS NULL OR spent_minor <= budget_minor))
);

CREATE TABLE lottery_prizes (
    lottery_id TEXT NOT NULL,
    prize_id   TEXT NOT NULL,
    position   BIGINT NOT NULL,
    stock      BIGINT,
    given      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (lottery_id, prize_id),
    CHECK (given >= 0 AND (stock IS NULL OR given <= stock))
);

-- Every draw, with what re-derives it (the roll) and what it gave.
CREATE TABLE draws (
    member_id     TEXT NOT NULL,
    draw_id       TEXT NOT NULL,
    lottery_id    TEXT NOT NULL,
    roll          TEXT NOT NULL,
    picked        TEXT NOT NULL,
    prize         TEXT NOT NULL,
    fell_back     TEXT,
    points_spent  BIGINT NOT NULL,
    free          BIGINT NOT NULL,
    cost_minor    BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    coupon_id     TEXT,
    redemption_id TEXT,
    PRIMARY KEY (member_id, draw_id)
);
CREATE INDEX draws_by_lottery ON draws (member_id, lottery_id, at);
CREATE INDEX draws_of_lottery ON draws (lottery_id, prize);
