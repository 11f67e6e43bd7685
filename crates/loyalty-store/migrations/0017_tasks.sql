-- Tasks (任务): their definitions, each member's progress as one row (an order that moves
-- many tasks writes one row), and one row per completed period, whose key makes a second
-- completion of the same period impossible. An order's marks say what it added to which
-- task's period, so that its refunds take back exactly that.
CREATE TABLE tasks (
    task_id    TEXT PRIMARY KEY,
    terms      TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE task_states (
    member_id  TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE task_completions (
    member_id    TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    period       TEXT NOT NULL,
    completed_at BIGINT NOT NULL,
    points       BIGINT NOT NULL,
    growth       BIGINT NOT NULL,
    coupon_id    TEXT,
    note         TEXT,
    PRIMARY KEY (member_id, task_id, period)
);
CREATE INDEX task_completions_by_task ON task_completions (task_id, completed_at);

ALTER TABLE orders ADD COLUMN tasks TEXT;
