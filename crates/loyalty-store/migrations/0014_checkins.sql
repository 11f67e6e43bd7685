-- Daily check-ins (签到): one row per member and local calendar day, the key that makes a
-- second check-in the same day impossible whatever the concurrency. Days are numbered from
-- 1970-01-01 (the programme's calendar day, not UTC's), so the day before is `day - 1` in
-- either database. A make-up's row is its missed day; `made_on` is the day it was made.
CREATE TABLE checkins (
    member_id   TEXT NOT NULL,
    day         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    made_on     BIGINT NOT NULL,
    streak      BIGINT NOT NULL,
    points      BIGINT NOT NULL,
    growth      BIGINT NOT NULL,
    milestones  TEXT NOT NULL,
    cost_points BIGINT NOT NULL,
    card        TEXT,
    PRIMARY KEY (member_id, day)
);
