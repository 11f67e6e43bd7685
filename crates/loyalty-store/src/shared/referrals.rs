//! Referrals on this backend: the write transaction's loads (codes, referrals by invitee, a
//! referrer's rewards this month), what a batch writes, and the reads of `Referrals`.

use super::dialect::*;
use super::load::select_in;
use super::rows::*;
use super::write::insert_rows;
use crate::convert::*;
use crate::referrals::*;
use crate::*;
use loyalty_core::engagement::referral::{Given, Referral, Refusal, State};
use loyalty_core::ids::MemberId;
use sqlx::Row;

const COLS: &str = "referrer_id, invitee_id, code, state, reason, created_at, phone_hash, email_hash, \
    first_order_id, ordered_at, due_at, settled_at, settled_month, referrer_points, referrer_growth, \
    referrer_coupon, invitee_points, invitee_growth, invitee_coupon";

type Conn = <Db as sqlx::Database>::Connection;

fn member(t: &'static str, raw: &str) -> Result<MemberId> {
    MemberId::parse(raw).map_err(|e| corrupt(t, e.0))
}

fn referral_row(r: &impl Cells) -> Result<Referral> {
    let t = "referrals";
    let given = |side: &str| -> Result<Given> {
        Ok(Given {
            points: r.i64(&format!("{side}_points"))?,
            growth: r.i64(&format!("{side}_growth"))?,
            coupon: r.opt_text(&format!("{side}_coupon"))?,
        })
    };
    Ok(Referral {
        referrer_id: member(t, &r.text("referrer_id")?)?,
        invitee_id: member(t, &r.text("invitee_id")?)?,
        code: r.text("code")?,
        state: parse_enum(t, &r.text("state")?, State::parse)?,
        reason: r.opt_text("reason")?.map(|s| parse_enum(t, &s, Refusal::parse)).transpose()?,
        created_at: ts(t, r.i64("created_at")?)?,
        phone_hash: r.opt_text("phone_hash")?,
        email_hash: r.opt_text("email_hash")?,
        first_order_id: r.opt_text("first_order_id")?,
        ordered_at: opt_ts(t, r.opt_i64("ordered_at")?)?,
        due_at: opt_ts(t, r.opt_i64("due_at")?)?,
        settled_at: opt_ts(t, r.opt_i64("settled_at")?)?,
        settled_month: r.opt_i64("settled_month")?,
        referrer_given: given("referrer")?,
        invitee_given: given("invitee")?,
    })
}

/// Who holds each of `codes`.
pub(super) async fn load_codes(conn: &mut Conn, codes: &[String]) -> Result<HashMap<String, MemberId>> {
    const C: &str = "code, member_id";
    let head = format!("SELECT {C} FROM referral_codes WHERE code");
    let mut out = HashMap::new();
    for r in select_in(&mut *conn, C, "referral_codes", &head, codes, "", &[]).await?.rows() {
        out.insert(r.text("code")?, member("referral_codes", &r.text("member_id")?)?);
    }
    Ok(out)
}

/// The code of each of `members` that has one.
pub(super) async fn load_member_codes(conn: &mut Conn, ids: &[String]) -> Result<HashMap<MemberId, String>> {
    const C: &str = "member_id, code";
    let head = format!("SELECT {C} FROM referral_codes WHERE member_id");
    let mut out = HashMap::new();
    for r in select_in(&mut *conn, C, "referral_codes", &head, ids, "", &[]).await?.rows() {
        out.insert(member("referral_codes", &r.text("member_id")?)?, r.text("code")?);
    }
    Ok(out)
}

/// Every referral row naming one of `ids` as invitee (one indexed read for the batch).
pub(super) async fn load_referrals(conn: &mut Conn, ids: &[String]) -> Result<Vec<Referral>> {
    let head = format!("SELECT {COLS} FROM referrals WHERE invitee_id");
    let rows = select_in(&mut *conn, COLS, "referrals", &head, ids, " ORDER BY invitee_id, referrer_id", &[]).await?;
    rows.rows().map(|r| referral_row(&r)).collect()
}

/// How many invitees each of `ids` had rewarded in local month `month`.
pub(super) async fn load_referrer_month(conn: &mut Conn, ids: &[String], month: i64) -> Result<HashMap<MemberId, i64>> {
    const C: &str = "referrer_id, n";
    let head = "SELECT referrer_id, COUNT(*) AS n FROM referrals WHERE referrer_id";
    let tail = " AND state = 'rewarded' AND settled_month = $2 GROUP BY referrer_id";
    let mut out = HashMap::new();
    for r in select_in(&mut *conn, C, "referrals", head, ids, tail, &[month]).await?.rows() {
        out.insert(member("referrals", &r.text("referrer_id")?)?, r.i64("n")?);
    }
    Ok(out)
}

/// New codes are inserted (a code or member already holding one is an error, never an
/// overwrite); referrals are written in their latest state.
pub(super) async fn write_referrals(conn: &mut Conn, c: &Changes, recorded_at: i64) -> Result<()> {
    insert_rows(conn, "referral_codes", "member_id, code, created_at", "", &c.referral_codes, |s, (m, code)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(code.clone());
        s.push_bind(recorded_at);
    })
    .await?;
    let set: Vec<String> = COLS.split(", ").skip(2).map(|c| format!("{c} = excluded.{c}")).collect();
    let tail = format!(" ON CONFLICT (referrer_id, invitee_id) DO UPDATE SET {}", set.join(", "));
    insert_rows(conn, "referrals", COLS, &tail, &c.referrals, |s, r| {
        s.push_bind(r.referrer_id.as_str().to_owned());
        s.push_bind(r.invitee_id.as_str().to_owned());
        s.push_bind(r.code.clone());
        s.push_bind(r.state.as_str());
        s.push_bind(r.reason.map(Refusal::as_str));
        s.push_bind(micros(r.created_at));
        s.push_bind(r.phone_hash.clone());
        s.push_bind(r.email_hash.clone());
        s.push_bind(r.first_order_id.clone());
        s.push_bind(r.ordered_at.map(micros));
        s.push_bind(r.due_at.map(micros));
        s.push_bind(r.settled_at.map(micros));
        s.push_bind(r.settled_month);
        for g in [&r.referrer_given, &r.invitee_given] {
            s.push_bind(g.points);
            s.push_bind(g.growth);
            s.push_bind(g.coupon.clone());
        }
    })
    .await
}

#[async_trait::async_trait]
impl Referrals for StoreImpl {
    async fn referral_code(&self, m: &MemberId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT code FROM referral_codes WHERE member_id = $1")
            .bind(m.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("code")).transpose()?)
    }

    async fn member_referrals(&self, m: &MemberId) -> Result<(Vec<Referral>, Vec<Referral>)> {
        let mine = sqlx::query(&format!(
            "SELECT {COLS} FROM referrals WHERE referrer_id = $1 ORDER BY created_at DESC, invitee_id LIMIT $2"
        ))
        .bind(m.as_str().to_owned())
        .bind(MAX_REFERRALS_READ)
        .fetch_all(&self.pool)
        .await?;
        let theirs =
            sqlx::query(&format!("SELECT {COLS} FROM referrals WHERE invitee_id = $1 ORDER BY created_at LIMIT $2"))
                .bind(m.as_str().to_owned())
                .bind(MAX_REFERRALS_READ)
                .fetch_all(&self.pool)
                .await?;
        let rows = |v: Vec<_>| v.iter().map(|r| referral_row(&One(r))).collect::<Result<Vec<_>>>();
        Ok((rows(mine)?, rows(theirs)?))
    }

    async fn due_referrals(&self, now: jiff::Timestamp, limit: i64) -> Result<Vec<MemberId>> {
        let rows = sqlx::query(
            "SELECT invitee_id FROM referrals WHERE state = 'qualifying' AND due_at <= $1 ORDER BY due_at, invitee_id LIMIT $2",
        )
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| member("referrals", &r.try_get::<String, _>("invitee_id")?)).collect()
    }

    async fn referral_report(&self, from: jiff::Timestamp, to: jiff::Timestamp) -> Result<ReferralReport> {
        super::referral_report::report(&self.pool, micros(from), micros(to)).await
    }

    async fn referral_problems(&self, monthly_cap: i64, limit: i64) -> Result<Vec<String>> {
        super::referral_report::problems(&self.pool, monthly_cap, limit).await
    }
}
