//! The coupon tables' invariants for `verify` and the per-template report, on this backend.

use super::dialect::*;
use super::rows::DbRow;
use crate::convert::*;
use crate::coupons::*;
use crate::*;
use loyalty_core::coupons::template::Limits;
use loyalty_core::ids::*;
use loyalty_core::verify::{limit_overruns, Overrun};
use loyalty_core::Program;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// What became of one template's coupons (`Coupons::coupon_report`).
pub(super) async fn report(store: &StoreImpl, template: &TemplateId, now: jiff::Timestamp) -> Result<CouponReport> {
    let id = template.as_str().to_owned();
    let counts = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS issued, \
           CAST(COALESCE(SUM(CASE WHEN source = 'claim' THEN 1 ELSE 0 END), 0) AS BIGINT) AS claimed, \
           CAST(COALESCE(SUM(CASE WHEN status = 'used' THEN 1 ELSE 0 END), 0) AS BIGINT) AS used, \
           CAST(COALESCE(SUM(CASE WHEN (status = 'available' OR (status = 'reserved' AND reserved_until <= $2)) AND valid_until > $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS available, \
           CAST(COALESCE(SUM(CASE WHEN (status = 'available' OR (status = 'reserved' AND reserved_until <= $2)) AND valid_until <= $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS expired, \
           CAST(COALESCE(SUM(CASE WHEN status = 'reserved' AND reserved_until > $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS reserved \
         FROM coupons WHERE template_id = $1",
    )
    .bind(&id)
    .bind(micros(now))
    .fetch_one(&store.pool)
    .await?;
    let entries = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN e.event = 'used' THEN 1 ELSE 0 END), 0) AS BIGINT) AS uses, \
           CAST(COALESCE(SUM(CASE WHEN e.event = 'restored' THEN 1 ELSE 0 END), 0) AS BIGINT) AS restored \
         FROM coupons c JOIN coupon_entries e ON e.member_id = c.member_id AND e.coupon_id = c.coupon_id \
         WHERE c.template_id = $1",
    )
    .bind(&id)
    .fetch_one(&store.pool)
    .await?;
    let orders = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS orders, CAST(COALESCE(SUM(u.value_minor), 0) AS BIGINT) AS discount, \
           CAST(COALESCE(SUM(o.eligible_minor), 0) AS BIGINT) AS goods, CAST(COALESCE(SUM(u.extra_points), 0) AS BIGINT) AS extra \
         FROM benefit_uses u JOIN orders o ON o.member_id = u.member_id AND o.order_id = u.source_id \
         WHERE u.benefit = $1 AND u.source_kind = 'order'",
    )
    .bind(format!("{}{id}", loyalty_core::usage::COUPON_PREFIX))
    .fetch_one(&store.pool)
    .await?;
    // Sums are cast back to BIGINT: PostgreSQL widens SUM(bigint) to numeric.
    let n = |r: &DbRow, c: &str| -> Result<i64> { Ok(r.try_get::<i64, _>(c)?) };
    Ok(CouponReport {
        issued: n(&counts, "issued")?,
        claimed: n(&counts, "claimed")?,
        used: n(&counts, "used")?,
        available: n(&counts, "available")?,
        expired: n(&counts, "expired")?,
        reserved: n(&counts, "reserved")?,
        uses: n(&entries, "uses")?,
        restored: n(&entries, "restored")?,
        orders: n(&orders, "orders")?,
        discount_minor: n(&orders, "discount")?,
        goods_minor: n(&orders, "goods")?,
        extra_points: n(&orders, "extra")?,
    })
}

/// The coupon invariants over the whole store (`Coupons::check_coupons`).
pub(super) async fn check(store: &StoreImpl, program: &Program) -> Result<CouponChecks> {
    let mut out = Vec::new();
    let checks: [(&str, &str); 6] = [
        (
            "SELECT k.code || ': redeemed for ' || k.member_id || '/' || k.coupon_id || ', which is not a coupon of template ' || k.template_id \
             FROM coupon_codes k LEFT JOIN coupons c ON c.member_id = k.member_id AND c.coupon_id = k.coupon_id \
             WHERE k.member_id IS NOT NULL AND (c.coupon_id IS NULL OR c.template_id <> k.template_id)",
            "code",
        ),
        (
            "SELECT t.template_id || ': issued ' || CAST(t.issued AS TEXT) || ' but ' || CAST(COUNT(c.coupon_id) AS TEXT) || ' coupons exist' \
             FROM coupon_templates t LEFT JOIN coupons c ON c.template_id = t.template_id \
             GROUP BY t.template_id, t.issued HAVING COUNT(c.coupon_id) <> t.issued",
            "template",
        ),
        (
            "SELECT template_id || ': issued ' || CAST(issued AS TEXT) || ', more than its stock ' || CAST(stock AS TEXT) \
             FROM coupon_templates WHERE stock IS NOT NULL AND issued > stock",
            "template",
        ),
        (
            "SELECT c.member_id || '/' || c.coupon_id || ': of template ' || c.template_id || ', which does not exist' \
             FROM coupons c LEFT JOIN coupon_templates t ON t.template_id = c.template_id WHERE t.template_id IS NULL",
            "coupon",
        ),
        (
            "SELECT c.member_id || '/' || c.coupon_id || ': ' || c.status || ' with order ' || COALESCE(c.order_id, 'none') || ', which does not name it' \
             FROM coupons c LEFT JOIN orders o ON o.member_id = c.member_id AND o.order_id = c.order_id \
             WHERE (c.status = 'reserved' AND c.order_id IS NULL) OR (c.status = 'available' AND c.order_id IS NOT NULL) \
                OR (c.status = 'reserved') <> (c.reserved_until IS NOT NULL) \
                OR (c.status = 'used' AND (o.order_id IS NULL OR o.coupons NOT LIKE '%\"' || c.coupon_id || '\"%') \
                    AND NOT EXISTS (SELECT 1 FROM checkins k WHERE k.member_id = c.member_id AND k.card = c.coupon_id)) \
                OR c.status NOT IN ('available', 'reserved', 'used')",
            "coupon",
        ),
        (
            "SELECT c.member_id || '/' || c.coupon_id || ': version ' || CAST(c.version AS TEXT) || ' but ' || CAST(COUNT(e.version) AS TEXT) || ' entries numbered up to ' || CAST(COALESCE(MAX(e.version), -1) AS TEXT) \
             FROM coupons c LEFT JOIN coupon_entries e ON e.member_id = c.member_id AND e.coupon_id = c.coupon_id \
             GROUP BY c.member_id, c.coupon_id, c.version \
             HAVING COUNT(e.version) <> c.version OR COALESCE(MAX(e.version), -1) <> c.version - 1",
            "coupon",
        ),
    ];
    for (sql, what) in checks {
        for r in sqlx::query(sql).fetch_all(&store.pool).await? {
            out.push(format!("{what} {}", r.try_get::<String, _>(0)?));
        }
    }
    // Per-member limits live in the terms: the templates that set one, then every coupon.
    let mut limited = HashMap::new();
    let mut after = String::new();
    loop {
        let page = store.templates(Some(&after), 500).await?;
        for t in &page {
            if t.terms.limits != Limits::default() {
                limited.insert(t.id.to_string(), t.terms.limits.clone());
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = last.id.to_string(),
            _ => break,
        }
    }
    let sql = "SELECT member_id, coupon_id AS k, template_id AS item, issued_at AS at, CAST(1 AS BIGINT) AS units FROM coupons \
               WHERE (member_id, coupon_id) > ($1, $2) ORDER BY member_id, coupon_id LIMIT $3";
    limit_pass(store, program, ("coupons", sql), &limited, |member, template, o| {
        let n = o.obtained;
        out.push(match o.from {
            None => format!("coupon {member}/*: {n} of template {template}, over its lifetime limit {}", o.limit),
            Some(from) => format!(
                "coupon {member}/*: {n} of template {template} issued in the {} from {}, over its per-{} limit {}",
                o.period,
                loyalty_core::calendar::rfc3339(from, &program.tz),
                o.period,
                o.limit
            ),
        })
    })
    .await?;
    Ok(out)
}

/// Rows a page of [`limit_pass`] reads.
const LIMIT_PAGE: i64 = 5_000;

/// Checks every member's grants of each limited item against its limits
/// (`verify::limit_overruns`), calling `report(member, item, overrun)` for each one past.
/// `sql` reads the member-keyed `table` in key order as `member_id, k, item, at, units`, keyset
/// after `($1, $2)` (member and key), at most `$3` rows: one statement a page, and one member's
/// grants of the limited items in memory at a time, so no table is ever read whole.
pub(super) async fn limit_pass(
    store: &StoreImpl,
    program: &Program,
    (table, sql): (&'static str, &str),
    limited: &HashMap<String, Limits>,
    mut report: impl FnMut(&str, &str, &Overrun),
) -> Result<()> {
    if limited.is_empty() {
        return Ok(());
    }
    let mut member = String::new();
    let mut grants: BTreeMap<String, Vec<(jiff::Timestamp, i64)>> = BTreeMap::new();
    let mut flush = |member: &str, grants: &mut BTreeMap<String, Vec<(jiff::Timestamp, i64)>>| {
        for (item, g) in std::mem::take(grants) {
            for o in limit_overruns(&limited[&item], program, &g) {
                report(member, &item, &o);
            }
        }
    };
    let (mut after_member, mut after_key) = (String::new(), String::new());
    loop {
        let rows = sqlx::query(sql)
            .bind(after_member.clone())
            .bind(after_key.clone())
            .bind(LIMIT_PAGE)
            .fetch_all(&store.pool)
            .await?;
        for r in &rows {
            let m: String = r.try_get("member_id")?;
            if m != member {
                flush(&member, &mut grants);
                member = m;
            }
            let item: String = r.try_get("item")?;
            if limited.contains_key(&item) {
                let at = ts(table, r.try_get("at")?)?;
                grants.entry(item).or_default().push((at, r.try_get("units")?));
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == LIMIT_PAGE => {
                after_member = last.try_get("member_id")?;
                after_key = last.try_get("k")?;
            }
            _ => break,
        }
    }
    flush(&member, &mut grants);
    Ok(())
}
