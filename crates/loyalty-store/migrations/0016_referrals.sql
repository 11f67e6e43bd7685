-- Referral (邀请有礼). `referral_codes`: each member's code, given once and kept (the unique
-- index makes a lookup by code one indexed read and a second holder impossible).
-- `referrals`: one row per referrer and invitee, refused attempts included, so every
-- refusal keeps its reason; at most one live (not refused) referral per invitee, which the
-- partial unique index holds whatever the concurrency. Contacts are kept only as SHA-256
-- hashes. `settled_month` is the local month as YYYYMM, what the monthly cap counts.
CREATE TABLE referral_codes (
    member_id  TEXT PRIMARY KEY,
    code       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX referral_codes_code ON referral_codes (code);

CREATE TABLE referrals (
    referrer_id     TEXT NOT NULL,
    invitee_id      TEXT NOT NULL,
    code            TEXT NOT NULL,
    state           TEXT NOT NULL,
    reason          TEXT,
    created_at      BIGINT NOT NULL,
    phone_hash      TEXT,
    email_hash      TEXT,
    first_order_id  TEXT,
    ordered_at      BIGINT,
    due_at          BIGINT,
    settled_at      BIGINT,
    settled_month   BIGINT,
    referrer_points BIGINT NOT NULL,
    referrer_growth BIGINT NOT NULL,
    referrer_coupon TEXT,
    invitee_points  BIGINT NOT NULL,
    invitee_growth  BIGINT NOT NULL,
    invitee_coupon  TEXT,
    PRIMARY KEY (referrer_id, invitee_id)
);
CREATE UNIQUE INDEX referrals_one_live_per_invitee ON referrals (invitee_id) WHERE state <> 'refused';
CREATE INDEX referrals_invitee ON referrals (invitee_id);
CREATE INDEX referrals_due ON referrals (due_at) WHERE state = 'qualifying';
CREATE INDEX referrals_created ON referrals (created_at);
CREATE INDEX referrals_settled ON referrals (settled_at) WHERE settled_at IS NOT NULL;
