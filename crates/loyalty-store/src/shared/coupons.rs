//! Coupons on this backend: templates, members' coupons and their entries (`Coupons`), the
//! write transaction's loads of them and what a batch writes.

use super::dialect::*;
use super::rows::DbRow;
use super::write::insert_rows;
use crate::convert::*;
use crate::coupons::*;
use crate::*;
use loyalty_core::coupons::{Channel, Coupon, CouponEntry, CouponStatus, Template, TemplateInput, TemplateStatus};
use loyalty_core::ids::*;
use sqlx::{QueryBuilder, Row};

/// One-time codes inserted by one statement (one short hold of SQLite's write lock).
const CODES_PER_STATEMENT: usize = 10_000;

const TEMPLATE_COLS: &str = "template_id, terms, status, stock, issued, created_at, updated_at, public_code";
const CODE_COLS: &str = "code, template_id, batch_id, created_at, member_id, coupon_id, redeemed_at";
const COUPON_COLS: &str =
    "member_id, coupon_id, template_id, status, source, issued_at, valid_from, valid_until, order_id, used_at, reserved_until, version";
const ENTRY_COLS: &str = "member_id, coupon_id, version, event, order_id, at";

fn template_row(r: &DbRow) -> Result<Template> {
    let t = "coupon_templates";
    let id: String = r.try_get("template_id")?;
    let mut terms: TemplateInput =
        serde_json::from_str(&r.try_get::<String, _>("terms")?).map_err(|e| corrupt(t, e.to_string()))?;
    terms.stock = r.try_get("stock")?;
    let status: String = r.try_get("status")?;
    Ok(Template {
        id: TemplateId::parse(&id).map_err(|e| corrupt(t, e.0))?,
        terms,
        status: TemplateStatus::parse(&status).ok_or_else(|| corrupt(t, format!("status {status:?}")))?,
        issued: r.try_get("issued")?,
        created_at: ts(t, r.try_get("created_at")?)?,
        updated_at: ts(t, r.try_get("updated_at")?)?,
    })
}

fn coupon_row(r: &DbRow) -> Result<Coupon> {
    let t = "coupons";
    let text = |c: &str| r.try_get::<String, _>(c);
    let status = text("status")?;
    let source = text("source")?;
    Ok(Coupon {
        member_id: MemberId::parse(&text("member_id")?).map_err(|e| corrupt(t, e.0))?,
        coupon_id: CouponId::parse(&text("coupon_id")?).map_err(|e| corrupt(t, e.0))?,
        template_id: TemplateId::parse(&text("template_id")?).map_err(|e| corrupt(t, e.0))?,
        status: CouponStatus::parse(&status)
            .filter(|s| *s != CouponStatus::Expired)
            .ok_or_else(|| corrupt(t, format!("status {status:?}")))?,
        source: match source.as_str() {
            "claim" => Channel::Claim,
            "code" => Channel::Code,
            "issue" => Channel::Issue,
            "points" => Channel::Points,
            "membership" => Channel::Membership,
            "engagement" => Channel::Engagement,
            other => return Err(corrupt(t, format!("source {other:?}"))),
        },
        issued_at: ts(t, r.try_get("issued_at")?)?,
        valid_from: ts(t, r.try_get("valid_from")?)?,
        valid_until: ts(t, r.try_get("valid_until")?)?,
        order_id: r
            .try_get::<Option<String>, _>("order_id")?
            .map(|o| OrderId::parse(&o).map_err(|e| corrupt(t, e.0)))
            .transpose()?,
        used_at: r.try_get::<Option<i64>, _>("used_at")?.map(|u| ts(t, u)).transpose()?,
        reserved_until: r.try_get::<Option<i64>, _>("reserved_until")?.map(|u| ts(t, u)).transpose()?,
        version: r.try_get("version")?,
        dirty: false,
    })
}

fn code_row(r: &DbRow) -> Result<loyalty_core::coupons::code::OneTimeCode> {
    let t = "coupon_codes";
    let member: Option<String> = r.try_get("member_id")?;
    let coupon: Option<String> = r.try_get("coupon_id")?;
    let at: Option<i64> = r.try_get("redeemed_at")?;
    let redeemed = match (member, coupon, at) {
        (Some(m), Some(c), Some(at)) => Some((
            MemberId::parse(&m).map_err(|e| corrupt(t, e.0))?,
            CouponId::parse(&c).map_err(|e| corrupt(t, e.0))?,
            ts(t, at)?,
        )),
        (None, None, None) => None,
        _ => return Err(corrupt(t, "a code redeemed in part")),
    };
    Ok(loyalty_core::coupons::code::OneTimeCode {
        code: r.try_get("code")?,
        template_id: TemplateId::parse(&r.try_get::<String, _>("template_id")?).map_err(|e| corrupt(t, e.0))?,
        batch_id: r.try_get("batch_id")?,
        created_at: ts(t, r.try_get("created_at")?)?,
        redeemed,
    })
}

fn entry_row(r: &DbRow) -> Result<CouponEntry> {
    let t = "coupon_entries";
    Ok(CouponEntry {
        member_id: MemberId::parse(&r.try_get::<String, _>("member_id")?).map_err(|e| corrupt(t, e.0))?,
        coupon_id: CouponId::parse(&r.try_get::<String, _>("coupon_id")?).map_err(|e| corrupt(t, e.0))?,
        version: r.try_get("version")?,
        event: r.try_get("event")?,
        order_id: r.try_get("order_id")?,
        at: ts(t, r.try_get("at")?)?,
    })
}

fn terms_json(t: &Template) -> String {
    serde_json::to_string(&t.terms).expect("terms serialise")
}

#[async_trait::async_trait]
impl Coupons for StoreImpl {
    async fn coupon_report(&self, template: &TemplateId, now: jiff::Timestamp) -> Result<CouponReport> {
        super::coupon_checks::report(self, template, now).await
    }

    async fn insert_template(&self, t: &Template) -> Result<bool> {
        let done = sqlx::query(&format!(
            // No conflict target: a taken id and a taken public code both leave the row out.
            "INSERT INTO coupon_templates ({TEMPLATE_COLS}) VALUES ($1, $2, $3, $4, 0, $5, $6, $7) ON CONFLICT DO NOTHING"
        ))
        .bind(t.id.as_str().to_owned())
        .bind(terms_json(t))
        .bind(t.status.as_str())
        .bind(t.terms.stock)
        .bind(micros(t.created_at))
        .bind(micros(t.updated_at))
        .bind(t.terms.code.clone())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn template_by_code(&self, code: &str) -> Result<Option<Template>> {
        let row = sqlx::query(&format!("SELECT {TEMPLATE_COLS} FROM coupon_templates WHERE public_code = $1"))
            .bind(code.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(template_row).transpose()
    }

    async fn insert_codes(
        &self,
        template: &TemplateId,
        batch: &str,
        codes: &[String],
        now: jiff::Timestamp,
    ) -> Result<u64> {
        let mut conn = self.pool.acquire().await?;
        let mut inserted = 0;
        // Chunks in their own statements (and so transactions): a batch of a million codes
        // never holds the write lock for long, and a retry of the request skips what is in.
        // Each chunk's codes go as one JSON array, so a statement binds four values, not four
        // per code. (`WHERE true`: SQLite needs it to tell the upsert from the SELECT.)
        let sql = format!(
            "INSERT INTO coupon_codes (code, template_id, batch_id, created_at) SELECT value, $1, $2, $3 FROM {} \
             WHERE true ON CONFLICT (code) DO NOTHING",
            json_values("$4")
        );
        for chunk in codes.chunks(CODES_PER_STATEMENT) {
            inserted += sqlx::query(&sql)
                .bind(template.as_str().to_owned())
                .bind(batch.to_owned())
                .bind(micros(now))
                .bind(serde_json::to_string(chunk).expect("a list of strings serialises"))
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        Ok(inserted)
    }

    async fn codes(
        &self,
        template: &TemplateId,
        batch: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<loyalty_core::coupons::code::OneTimeCode>> {
        let rows = sqlx::query(&format!(
            "SELECT {CODE_COLS} FROM coupon_codes WHERE template_id = $1 AND batch_id = $2 AND code > $3 ORDER BY code LIMIT $4"
        ))
        .bind(template.as_str().to_owned())
        .bind(batch.to_owned())
        .bind(after.to_owned())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(code_row).collect()
    }

    async fn template(&self, id: &TemplateId) -> Result<Option<Template>> {
        let row = sqlx::query(&format!("SELECT {TEMPLATE_COLS} FROM coupon_templates WHERE template_id = $1"))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(template_row).transpose()
    }

    async fn templates_by_id(&self, ids: &[TemplateId]) -> Result<Vec<Template>> {
        let mut out = Vec::with_capacity(ids.len());
        // The ids go as one JSON array, so the statement's text is the same for any count; the
        // IN-list limit (5,000) makes it one statement for any list a member's coupons name.
        for chunk in ids.chunks(IN_CHUNK) {
            let list: Vec<&str> = chunk.iter().map(TemplateId::as_str).collect();
            let rows = sqlx::query(&format!(
                "SELECT {TEMPLATE_COLS} FROM coupon_templates WHERE template_id {IDS} ORDER BY template_id"
            ))
            .bind(serde_json::to_string(&list).expect("a list of strings serialises"))
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                out.push(template_row(r)?);
            }
        }
        Ok(out)
    }

    async fn templates(&self, after: Option<&str>, limit: i64) -> Result<Vec<Template>> {
        let rows = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLS} FROM coupon_templates WHERE template_id > $1 ORDER BY template_id LIMIT $2"
        ))
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(template_row).collect()
    }

    async fn update_template(&self, t: &Template) -> Result<bool> {
        // The stock is tested against `issued` as it is when this runs, not as it was read.
        let done = sqlx::query(
            "UPDATE coupon_templates SET terms = $2, status = $3, stock = $4, updated_at = $5 \
             WHERE template_id = $1 AND ($4 IS NULL OR issued <= $4)",
        )
        .bind(t.id.as_str().to_owned())
        .bind(terms_json(t))
        .bind(t.status.as_str())
        .bind(t.terms.stock)
        .bind(micros(t.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn member_coupons(
        &self,
        member: &MemberId,
        status: Option<CouponStatus>,
        now: jiff::Timestamp,
        limit: i64,
    ) -> Result<Vec<Coupon>> {
        // Expired is read from the time: an available coupon whose validity ended.
        let (filter, at) = match status {
            None => ("", None),
            // A reservation that timed out is available again (or expired), as `status_at` reads it.
            Some(CouponStatus::Available) => (
                " AND (status = 'available' OR (status = 'reserved' AND reserved_until <= $3)) AND valid_until > $3",
                Some(micros(now)),
            ),
            Some(CouponStatus::Expired) => (
                " AND (status = 'available' OR (status = 'reserved' AND reserved_until <= $3)) AND valid_until <= $3",
                Some(micros(now)),
            ),
            Some(CouponStatus::Reserved) => (" AND status = 'reserved' AND reserved_until > $3", Some(micros(now))),
            Some(CouponStatus::Used) => (" AND status = 'used'", None),
        };
        let sql = format!(
            "SELECT {COUPON_COLS} FROM coupons WHERE member_id = $1{filter} ORDER BY valid_until, coupon_id LIMIT $2"
        );
        let mut q = sqlx::query(&sql).bind(member.as_str().to_owned()).bind(limit.clamp(1, MAX_MEMBER_COUPONS));
        if let Some(at) = at {
            q = q.bind(at);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(coupon_row).collect()
    }

    async fn coupons_by_id(&self, member: &MemberId, ids: &[CouponId]) -> Result<Vec<Coupon>> {
        let mut conn = self.pool.acquire().await?;
        let wanted = [(member.clone(), CouponLoad { coupons: ids.to_vec(), ..CouponLoad::default() })];
        Ok(load_coupons_for_write(&mut conn, &wanted).await?.remove(member).unwrap_or_default())
    }

    async fn coupon_entries(&self, member: &MemberId, coupon: &CouponId) -> Result<Vec<CouponEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLS} FROM coupon_entries WHERE member_id = $1 AND coupon_id = $2 ORDER BY version"
        ))
        .bind(member.as_str().to_owned())
        .bind(coupon.as_str().to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_row).collect()
    }

    async fn check_coupons(&self, program: &loyalty_core::Program) -> Result<CouponChecks> {
        super::coupon_checks::check(self, program).await
    }
}

/// The templates a batch names, held for update (PostgreSQL) until it commits.
pub(super) async fn load_templates_for_write(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[TemplateId],
) -> Result<std::collections::HashMap<TemplateId, Template>> {
    let mut out = std::collections::HashMap::new();
    let mut ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {TEMPLATE_COLS} FROM coupon_templates WHERE template_id IN ("));
        let mut sep = qb.separated(", ");
        for v in chunk {
            sep.push_bind(v.clone());
        }
        qb.push(format!(") ORDER BY template_id{FOR_UPDATE}"));
        for r in qb.build().fetch_all(&mut *conn).await? {
            let t = template_row(&r)?;
            out.insert(t.id.clone(), t);
        }
    }
    Ok(out)
}

/// One-time codes a batch redeems, held for update (PostgreSQL) until it commits.
pub(super) async fn load_codes_for_write(
    conn: &mut <Db as sqlx::Database>::Connection,
    codes: &[String],
) -> Result<std::collections::HashMap<String, loyalty_core::coupons::code::OneTimeCode>> {
    let mut out = std::collections::HashMap::new();
    let mut codes = codes.to_vec();
    codes.sort();
    codes.dedup();
    for chunk in codes.chunks(IN_CHUNK) {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {CODE_COLS} FROM coupon_codes WHERE code IN ("));
        let mut sep = qb.separated(", ");
        for v in chunk {
            sep.push_bind(v.clone());
        }
        qb.push(format!(") ORDER BY code{FOR_UPDATE}"));
        for r in qb.build().fetch_all(&mut *conn).await? {
            let c = code_row(&r)?;
            out.insert(c.code.clone(), c);
        }
    }
    Ok(out)
}

/// The coupons a batch needs, per member: of the templates it issues, named by its orders, or
/// used by the orders it refunds. The members' rows are already held, and with them their
/// coupons. One statement per column and chunk of members and values, whatever the batch's
/// size (a campaign issues one template to thousands of members a batch); rows that match a
/// member and a value another member wanted are dropped.
pub(super) async fn load_coupons_for_write(
    conn: &mut <Db as sqlx::Database>::Connection,
    wanted: &[(MemberId, CouponLoad)],
) -> Result<HashMap<MemberId, Vec<Coupon>>> {
    let mut out: HashMap<MemberId, Vec<Coupon>> = wanted.iter().map(|(m, _)| (m.clone(), Vec::new())).collect();
    type Pick = fn(&CouponLoad) -> Vec<String>;
    type Of = fn(&Coupon) -> Option<&str>;
    let columns: [(&str, Pick, Of); 3] = [
        (
            "template_id",
            |w| w.templates.iter().map(|x| x.as_str().to_owned()).collect(),
            |c| Some(c.template_id.as_str()),
        ),
        ("coupon_id", |w| w.coupons.iter().map(|x| x.as_str().to_owned()).collect(), |c| Some(c.coupon_id.as_str())),
        (
            "order_id",
            |w| w.orders.iter().map(|x| x.as_str().to_owned()).collect(),
            |c| c.order_id.as_ref().map(|o| o.as_str()),
        ),
    ];
    for (col, pick, of) in columns {
        let mut pairs: std::collections::HashSet<(&str, String)> = std::collections::HashSet::new();
        let mut members: Vec<&str> = Vec::new();
        for (m, w) in wanted {
            let vals = pick(w);
            if !vals.is_empty() {
                members.push(m.as_str());
            }
            pairs.extend(vals.into_iter().map(|v| (m.as_str(), v)));
        }
        let mut values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
        values.sort_unstable();
        values.dedup();
        for ms in members.chunks(IN_CHUNK) {
            for vs in values.chunks(IN_CHUNK) {
                let mut qb: QueryBuilder<Db> =
                    QueryBuilder::new(format!("SELECT {COUPON_COLS} FROM coupons WHERE member_id IN ("));
                let mut sep = qb.separated(", ");
                for m in ms {
                    sep.push_bind((*m).to_owned());
                }
                qb.push(format!(") AND {col} IN ("));
                let mut sep = qb.separated(", ");
                for v in vs {
                    sep.push_bind((*v).to_owned());
                }
                qb.push(")");
                for r in qb.build().fetch_all(&mut *conn).await? {
                    let c = coupon_row(&r)?;
                    let Some(v) = of(&c) else { continue };
                    if !pairs.contains(&(c.member_id.as_str(), v.to_owned())) {
                        continue;
                    }
                    let Some(held) = out.get_mut(&c.member_id) else { continue };
                    if !held.iter().any(|x| x.coupon_id == c.coupon_id) {
                        held.push(c);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Writes a batch's coupons (their latest state), their entries and the templates' issued
/// counts. An entry's key is its coupon and version, so no change can be written twice.
pub(super) async fn write_coupons(conn: &mut <Db as sqlx::Database>::Connection, c: &Changes) -> Result<()> {
    insert_rows(
        conn,
        "coupons",
        COUPON_COLS,
        " ON CONFLICT (member_id, coupon_id) DO UPDATE SET status = excluded.status, order_id = excluded.order_id, used_at = excluded.used_at, reserved_until = excluded.reserved_until, version = excluded.version",
        &c.coupons,
        |s, x| {
            s.push_bind(x.member_id.as_str().to_owned());
            s.push_bind(x.coupon_id.as_str().to_owned());
            s.push_bind(x.template_id.as_str().to_owned());
            s.push_bind(x.status.as_str());
            s.push_bind(x.source.as_str());
            s.push_bind(micros(x.issued_at));
            s.push_bind(micros(x.valid_from));
            s.push_bind(micros(x.valid_until));
            s.push_bind(x.order_id.as_ref().map(|o| o.as_str().to_owned()));
            s.push_bind(x.used_at.map(micros));
            s.push_bind(x.reserved_until.map(micros));
            s.push_bind(x.version);
        },
    )
    .await?;
    insert_rows(conn, "coupon_entries", ENTRY_COLS, "", &c.coupon_entries, |s, e| {
        s.push_bind(e.member_id.as_str().to_owned());
        s.push_bind(e.coupon_id.as_str().to_owned());
        s.push_bind(e.version);
        s.push_bind(e.event.clone());
        s.push_bind(e.order_id.clone());
        s.push_bind(micros(e.at));
    })
    .await?;
    for code in &c.codes_redeemed {
        let Some((member, coupon, at)) = &code.redeemed else { continue };
        sqlx::query(
            "UPDATE coupon_codes SET member_id = $2, coupon_id = $3, redeemed_at = $4 WHERE code = $1 AND member_id IS NULL",
        )
        .bind(code.code.clone())
        .bind(member.as_str().to_owned())
        .bind(coupon.as_str().to_owned())
        .bind(micros(*at))
        .execute(&mut *conn)
        .await?;
    }
    for (template, n) in &c.coupons_issued {
        sqlx::query("UPDATE coupon_templates SET issued = issued + $2 WHERE template_id = $1")
            .bind(template.as_str().to_owned())
            .bind(*n)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
