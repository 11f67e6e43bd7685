-- Birthday gifts and member-day packs (生日礼、会员日礼包): one row per member, kind and period
-- (the birthday year `2026`, the member day's month `2026-12`), inserted in the transaction
-- that issues its coupons, so a job stopped midway and run again gives nobody two. A row
-- that gave nothing (`not_given`, with the reasons) stands too: it is not tried again.
CREATE TABLE gifts (
    member_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    period    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    status    TEXT NOT NULL,
    coupons   TEXT NOT NULL,
    not_given TEXT NOT NULL,
    PRIMARY KEY (member_id, kind, period)
);

-- When a birthday already set was last changed: at most one change a year.
ALTER TABLE members ADD COLUMN birthday_changed_at BIGINT;

-- The birthday job's read: members whose birthday (month and day) falls in a range.
CREATE INDEX members_birthday_md ON members ((substr(birthday, 6, 5))) WHERE birthday IS NOT NULL;
