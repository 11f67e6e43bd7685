-- Member insight (issue 4): what `loyalty insight` computed per member, the runs that computed
-- it, segment totals and the fitted models. Same conventions as 0001: integers are BIGINT,
-- instants microseconds since the Unix epoch; probabilities and expectations are DOUBLE PRECISION.
--
-- Results live in two slots. A run writes, in batches, the slot the last complete run does not
-- use, and becomes visible only when it is marked complete, so readers never see half a run.

CREATE TABLE insight_runs (
    run_id      BIGINT PRIMARY KEY,
    slot        BIGINT NOT NULL,
    -- running | complete | failed
    status      TEXT NOT NULL,
    -- The analysis instant and the RFM window ending at it.
    at          BIGINT NOT NULL,
    window_days BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    -- A running run touches this as it goes; one silent for long is taken to have died.
    heartbeat_at BIGINT NOT NULL,
    finished_at BIGINT,
    members     BIGINT NOT NULL,
    buyers      BIGINT NOT NULL,
    -- The insight configuration the run used (JSON).
    config      TEXT NOT NULL,
    -- Segment means, the P(alive) histogram, timings, or why the run failed (JSON).
    summary     TEXT NOT NULL
);
-- At most one run at a time: a second concurrent start fails on this index.
CREATE UNIQUE INDEX insight_runs_one_running ON insight_runs (status) WHERE status = 'running';

CREATE TABLE member_insight (
    member_id                  TEXT NOT NULL,
    slot                       BIGINT NOT NULL,
    run_id                     BIGINT NOT NULL,
    recency_days               BIGINT,
    frequency                  BIGINT NOT NULL,
    monetary_minor             BIGINT NOT NULL,
    first_order_age_days       BIGINT,
    orders_total               BIGINT NOT NULL,
    repeat_purchases           BIGINT NOT NULL,
    r_score                    BIGINT,
    f_score                    BIGINT,
    m_score                    BIGINT,
    value_segment              TEXT NOT NULL,
    score_segment              TEXT NOT NULL,
    stage                      TEXT NOT NULL,
    p_alive                    DOUBLE PRECISION,
    expected_purchases         DOUBLE PRECISION,
    expected_order_value_minor DOUBLE PRECISION,
    clv_minor                  DOUBLE PRECISION,
    PRIMARY KEY (member_id, slot)
);
-- Segment member lists page by member id within one slot and segment.
CREATE INDEX member_insight_value ON member_insight (slot, value_segment, member_id);
CREATE INDEX member_insight_score ON member_insight (slot, score_segment, member_id);
CREATE INDEX member_insight_stage ON member_insight (slot, stage, member_id);

-- Per run, per scheme (value, score, lifecycle), per segment: members and totals.
CREATE TABLE insight_segments (
    run_id             BIGINT NOT NULL,
    scheme             TEXT NOT NULL,
    segment            TEXT NOT NULL,
    members            BIGINT NOT NULL,
    orders             BIGINT NOT NULL,
    monetary_minor     BIGINT NOT NULL,
    expected_purchases DOUBLE PRECISION NOT NULL,
    clv_minor          DOUBLE PRECISION NOT NULL,
    p_alive_sum        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, scheme, segment)
);

-- Fitted models per run: bgnbd, gamma_gamma. `params` is NULL when the fit failed (`detail` says why).
CREATE TABLE insight_models (
    run_id         BIGINT NOT NULL,
    model          TEXT NOT NULL,
    params         TEXT,
    log_likelihood DOUBLE PRECISION,
    iterations     BIGINT NOT NULL,
    converged      BIGINT NOT NULL,
    members        BIGINT NOT NULL,
    detail         TEXT NOT NULL,
    PRIMARY KEY (run_id, model)
);

-- Member insight reads every member's orders grouped by member: this narrow covering index lets
-- both databases aggregate (member id, paid_at, amounts) without touching the wide order rows
-- (lines, benefits). It costs one more index entry per order written and an update per refund.
CREATE INDEX orders_activity ON orders (member_id, paid_at, total_minor, refunded_minor);
