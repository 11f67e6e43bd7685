-- The member activity log (see loyalty-store/src/analytics/activity.rs): each row is `|<member
-- id>=` and then the member's paid orders and refunds as short text records, appended in the
-- transaction that records them, so that member insight reads one row per member and span
-- instead of every order. `span` is paid_at divided by 365 days of microseconds (truncating): a
-- member's records are split by it so that no row grows with a member's whole history. Filled
-- here from what is already recorded.
CREATE TABLE member_activity (
    member_id TEXT NOT NULL,
    span      BIGINT NOT NULL,
    log       TEXT NOT NULL,
    PRIMARY KEY (member_id, span)
);

INSERT INTO member_activity (member_id, span, log)
SELECT member_id, span, '|' || member_id || '=' || string_agg(rec, '') FROM (
    SELECT member_id, paid_at / 31536000000000 AS span,
           'o' || CAST(paid_at AS TEXT) || ',' || CAST(total_minor AS TEXT) || ';' AS rec
    FROM orders
    UNION ALL
    SELECT r.member_id AS member_id, o.paid_at / 31536000000000 AS span,
           'r' || CAST(o.paid_at AS TEXT) || ',' || CAST(r.refunded_at AS TEXT) || ',' || CAST(r.amount_minor AS TEXT) || ';' AS rec
    FROM refunds r JOIN orders o ON o.member_id = r.member_id AND o.order_id = r.order_id
) AS records
GROUP BY member_id, span;

-- Insight no longer aggregates orders, which is what this covering index was for (0003). Every
-- order written paid for one more index entry, and every refund for an update of it; the KPI
-- statements that scanned it by paid_at scan the orders table instead.
DROP INDEX orders_activity;
