#!/usr/bin/env python3
"""DuckDB's RFM over orders in Parquet: the independent computation `loyalty bench-insight` compares
itself with, member for member, and times in the same run.

    python3 scripts/duckdb_rfm.py --orders orders.parquet --at-micros 1767225600000000 \
        --window-days 365 --out duckdb_rfm.tsv

The orders file has member_id (string), paid_at (int64, microseconds since the epoch), total_minor
and refunded_minor (int64). Member summaries follow docs/INSIGHT.md "Inputs" (whole days back from
the analysis instant; the window is [at - window_days days, at]); the RFM, value-segment and
score-segment SQL is the SQL printed in docs/INSIGHT.md. Prints one JSON line of timings; writes one
TSV row per buyer: member_id, r, f, m, value_segment, score_segment.

DuckDB comes from PyPI: if it cannot be imported, it is installed into the user site first.
"""
import argparse
import json
import subprocess
import sys
import time

DAY_MICROS = 86_400_000_000

SUMMARY_SQL = """
CREATE TABLE member_summary AS
SELECT member_id,
    CASE WHEN COUNT(*) FILTER (WHERE paid_at >= {ws}) > 0
         THEN (({at} - MAX(paid_at) FILTER (WHERE paid_at >= {ws})) // {day})::INTEGER END AS recency_days,
    (COUNT(*) FILTER (WHERE paid_at >= {ws}))::INTEGER AS frequency,
    COALESCE(SUM(total_minor - refunded_minor) FILTER (WHERE paid_at >= {ws}), 0)::BIGINT AS monetary_minor,
    (({at} - MIN(paid_at)) // {day})::INTEGER AS first_order_age_days
FROM read_parquet('{orders}') WHERE paid_at <= {at} GROUP BY member_id
"""

RFM_SQL = """
CREATE TABLE rfm AS
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
CREATE TABLE value_segments AS
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
CREATE TABLE score_segments AS
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

EXPORT_SQL = """
COPY (
    SELECT r.member_id, r.r, r.f, r.m, v.value_segment, s.score_segment
    FROM rfm r JOIN value_segments v USING (member_id) JOIN score_segments s USING (member_id)
    ORDER BY r.member_id
) TO '{out}' (FORMAT csv, DELIMITER '\t', HEADER false)
"""


def import_duckdb():
    try:
        import duckdb  # noqa: F401
    except ImportError:
        print("duckdb is not installed: installing it from PyPI into the user site", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--user", "--quiet", "duckdb"])
        import site
        import importlib

        importlib.reload(site)
        sys.path.append(site.getusersitepackages())
    import duckdb

    return duckdb


def quoted(path):
    return path.replace("'", "''")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", required=True)
    ap.add_argument("--at-micros", type=int, required=True)
    ap.add_argument("--window-days", type=int, default=365)
    ap.add_argument("--out", required=True)
    ap.add_argument("--again", type=int, default=0,
                    help="run the timed queries this many more times and report the median total (warm)")
    args = ap.parse_args()
    duckdb = import_duckdb()
    con = duckdb.connect()
    window_start = args.at_micros - args.window_days * DAY_MICROS
    timings = {}

    def timed(name, sql):
        started = time.perf_counter()
        con.execute(sql)
        timings[name] = time.perf_counter() - started

    def run_all():
        timed("summary_s", SUMMARY_SQL.format(ws=window_start, at=args.at_micros, day=DAY_MICROS,
                                              orders=quoted(args.orders)))
        timed("rfm_s", RFM_SQL)
        timed("segments_s", VALUE_SEGMENT_SQL)
        started = time.perf_counter()
        con.execute(SCORE_SEGMENT_SQL)
        timings["segments_s"] += time.perf_counter() - started
        return timings["summary_s"] + timings["rfm_s"] + timings["segments_s"]

    timings["total_s"] = run_all()
    first = dict(timings)
    again = []
    for _ in range(args.again):
        for table in ("score_segments", "value_segments", "rfm", "member_summary"):
            con.execute(f"DROP TABLE {table}")
        again.append(run_all())
    timings.update(first)
    if again:
        timings["again_s"] = again
        timings["again_median_s"] = sorted(again)[len(again) // 2]
    con.execute(EXPORT_SQL.format(out=quoted(args.out)))
    buyers = con.execute("SELECT COUNT(*) FROM rfm").fetchone()[0]
    members = con.execute("SELECT COUNT(*) FROM member_summary").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({"duckdb": duckdb.__version__, "threads": threads, "members_with_orders": members,
                      "buyers": buyers, **timings}))


if __name__ == "__main__":
    main()
