#!/usr/bin/env python3
"""Builds tests/fixtures/duckdb_rfm.tsv: members and DuckDB's RFM scores and segments for them.

Never run by CI: tests/duckdb_parity.rs reads the fixture and checks that the crate gives every
member the same R, F, M, value segment and score segment as the SQL below, which is the SQL
printed in docs/INSIGHT.md (keep the two identical).

    pip install duckdb && python3 crates/loyalty-insight/tests/duckdb_check.py
"""
import os
import random

import duckdb

RFM_SQL = """
WITH buyers AS (
    SELECT * FROM member_summary WHERE frequency > 0
)
SELECT
    member_id,
    NTILE(5) OVER (ORDER BY recency_days DESC, member_id ASC) AS r,
    NTILE(5) OVER (ORDER BY frequency ASC, member_id ASC) AS f,
    NTILE(5) OVER (ORDER BY monetary_minor ASC, member_id ASC) AS m
FROM buyers
"""

VALUE_SEGMENT_SQL = """
WITH totals AS (
    SELECT COUNT(*)::HUGEINT AS n,
           SUM(recency_days)::HUGEINT AS sum_r,
           SUM(frequency)::HUGEINT AS sum_f,
           SUM(monetary_minor)::HUGEINT AS sum_m
    FROM member_summary WHERE frequency > 0
)
SELECT s.member_id,
    CASE WHEN s.frequency = 0 THEN 'no_purchase' ELSE
        (CASE WHEN s.monetary_minor::HUGEINT * t.n >= t.sum_m THEN 'important_' ELSE 'general_' END) ||
        (CASE WHEN s.recency_days::HUGEINT * t.n <= t.sum_r
              THEN (CASE WHEN s.frequency::HUGEINT * t.n >= t.sum_f THEN 'value' ELSE 'develop' END)
              ELSE (CASE WHEN s.frequency::HUGEINT * t.n >= t.sum_f THEN 'keep' ELSE 'retain' END)
         END)
    END AS value_segment
FROM member_summary s CROSS JOIN totals t
"""

SCORE_SEGMENT_SQL = """
SELECT member_id,
    CASE
        WHEN r = 5 AND fm >= 4 THEN 'champions'
        WHEN r = 5 AND fm = 1 THEN 'new_customers'
        WHEN r = 5 THEN 'potential_loyalist'
        WHEN r = 4 AND fm >= 4 THEN 'loyal'
        WHEN r = 4 AND fm = 1 THEN 'promising'
        WHEN r = 4 THEN 'potential_loyalist'
        WHEN r = 3 AND fm >= 4 THEN 'loyal'
        WHEN r = 3 AND fm = 3 THEN 'need_attention'
        WHEN r = 3 THEN 'about_to_sleep'
        WHEN fm = 5 THEN 'cant_lose'
        WHEN fm >= 3 THEN 'at_risk'
        WHEN r = 2 THEN 'hibernating'
        ELSE 'lost'
    END AS score_segment
FROM (SELECT member_id, r, (f + m + 1) // 2 AS fm FROM rfm)
"""


def members(count, rng, huge_share):
    alphabet = "abcAB09_-\u00e9\u4f1a"
    seen, rows = set(), []
    while len(rows) < count:
        prefix = rng.choice(["", "m", "member-", "M-", "\u4f1a\u5458"])
        member_id = prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        if member_id in seen:
            continue
        seen.add(member_id)
        if rng.random() < 0.25:
            rows.append((member_id, None, 0, rng.choice([0, -500]), rng.choice([None, 400])))
            continue
        recency = rng.choice([0, 1, 7, 30, 30, 90, rng.randint(0, 400)])
        frequency = rng.choice([1, 1, 2, 3, rng.randint(1, 50)])
        monetary = rng.choice([0, -1200, 9900, 9900, rng.randint(-5000, 2_000_000)])
        if rng.random() < huge_share:
            # A few near-i64 values: their sum overflows 64 bits, so the exact mean test must not.
            monetary = 4_000_000_000_000_000_000
        rows.append((member_id, recency, frequency, monetary, recency + rng.randint(0, 300)))
    return rows


def write_fixture(name, rows):
    con = duckdb.connect()
    con.execute("CREATE TABLE member_summary (member_id VARCHAR, recency_days INTEGER, frequency INTEGER, "
                "monetary_minor BIGINT, first_order_age_days INTEGER)")
    con.executemany("INSERT INTO member_summary VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE rfm AS " + RFM_SQL)
    rfm = {row[0]: row[1:] for row in con.execute("SELECT * FROM rfm").fetchall()}
    value = dict(con.execute(VALUE_SEGMENT_SQL).fetchall())
    score = dict(con.execute(SCORE_SEGMENT_SQL).fetchall())
    path = os.path.join(os.path.dirname(__file__), "fixtures", name)
    blank = lambda v: "" if v is None else str(v)
    with open(path, "w", encoding="utf-8") as out:
        out.write("member_id\trecency_days\tfrequency\tmonetary_minor\tfirst_order_age_days\tr\tf\tm\t"
                  "value_segment\tscore_segment\n")
        for member_id, recency, frequency, monetary, first in rows:
            r, f, m = rfm.get(member_id, (None, None, None))
            fields = [member_id, blank(recency), str(frequency), str(monetary), blank(first),
                      blank(r), blank(f), blank(m), value[member_id], score.get(member_id, "no_purchase")]
            out.write("\t".join(fields) + "\n")
    print(f"wrote {len(rows)} members to {path} (duckdb {duckdb.__version__})")


def main():
    rng = random.Random(20240611)
    write_fixture("duckdb_rfm.tsv", members(2000, rng, huge_share=0.0))
    write_fixture("duckdb_rfm_huge.tsv", members(300, rng, huge_share=0.4))


if __name__ == "__main__":
    main()
