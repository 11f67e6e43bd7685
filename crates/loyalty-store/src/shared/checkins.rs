//! Check-ins on this backend: the write transaction's load of a member's recent days, what a
//! batch writes, and the reads of `Checkins`.

use super::dialect::*;
use super::load::select_in;
use super::rows::*;
use super::write::insert_rows;
use crate::checkins::*;
use crate::convert::*;
use crate::*;
use jiff::civil::Date;
use loyalty_core::engagement::{Day, DayKind};
use loyalty_core::ids::MemberId;
use sqlx::Row;

const COLS: &str = "member_id, day, kind, at, made_on, streak, points, growth, milestones, cost_points, card";

type Conn = <Db as sqlx::Database>::Connection;

fn day_of(t: &'static str, n: i64) -> Result<Date> {
    from_day_number(n).ok_or_else(|| corrupt(t, format!("day {n} is out of range")))
}

fn day_row(r: &impl Cells) -> Result<(String, Day)> {
    let t = "checkins";
    let day = Day {
        day: day_of(t, r.i64("day")?)?,
        kind: DayKind::parse(&r.text("kind")?).ok_or_else(|| corrupt(t, "kind"))?,
        at: ts(t, r.i64("at")?)?,
        made_on: day_of(t, r.i64("made_on")?)?,
        streak: r.i64("streak")?,
        points: r.i64("points")?,
        growth: r.i64("growth")?,
        milestones: json(t, &r.text("milestones")?)?,
        cost_points: r.i64("cost_points")?,
        card: r.opt_text("card")?,
    };
    Ok((r.text("member_id")?, day))
}

/// The days of `ids` from `from` on.
pub(super) async fn load_checkins(conn: &mut Conn, ids: &[String], from: Date) -> Result<HashMap<MemberId, Vec<Day>>> {
    let mut out: HashMap<MemberId, Vec<Day>> = HashMap::new();
    let head = format!("SELECT {COLS} FROM checkins WHERE member_id");
    let tail = " AND day >= $2 ORDER BY member_id, day";
    for r in select_in(&mut *conn, COLS, "checkins", &head, ids, tail, &[day_number(from)]).await?.rows() {
        let (member, day) = day_row(&r)?;
        let m = MemberId::parse(&member).map_err(|e| corrupt("checkins", e.0))?;
        out.entry(m).or_default().push(day);
    }
    Ok(out)
}

/// New days are inserted (a second row for a member's day is an error, never an overwrite);
/// days a make-up moved get their new streak.
pub(super) async fn write_checkins(conn: &mut Conn, c: &Changes) -> Result<()> {
    insert_rows(conn, "checkins", COLS, "", &c.checkins, |s, (m, d)| {
        s.push_bind(m.as_str().to_owned());
        s.push_bind(day_number(d.day));
        s.push_bind(d.kind.as_str());
        s.push_bind(micros(d.at));
        s.push_bind(day_number(d.made_on));
        s.push_bind(d.streak);
        s.push_bind(d.points);
        s.push_bind(d.growth);
        s.push_bind(serde_json::to_string(&d.milestones).expect("numbers serialise"));
        s.push_bind(d.cost_points);
        s.push_bind(d.card.clone());
    })
    .await?;
    for (m, day, streak) in &c.checkin_streaks {
        let done = sqlx::query("UPDATE checkins SET streak = $1 WHERE member_id = $2 AND day = $3")
            .bind(*streak)
            .bind(m.as_str().to_owned())
            .bind(day_number(*day))
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() != 1 {
            return Err(corrupt("checkins", format!("member {m} has no check-in on {day} to move")));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Checkins for StoreImpl {
    async fn checkin_days(&self, member: &MemberId, from: Date, to: Date) -> Result<Vec<Day>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM checkins WHERE member_id = $1 AND day >= $2 AND day < $3 ORDER BY day LIMIT $4"
        ))
        .bind(member.as_str().to_owned())
        .bind(day_number(from))
        .bind(day_number(to))
        .bind(MAX_DAYS_READ)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| day_row(&One(r)).map(|(_, d)| d)).collect()
    }

    async fn checkin_problems(&self, limit: i64) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let streaks = sqlx::query(
            "SELECT c.member_id, c.day, c.streak, p.streak AS before FROM checkins c \
             LEFT JOIN checkins p ON p.member_id = c.member_id AND p.day = c.day - 1 \
             WHERE c.streak <> COALESCE(p.streak, 0) + 1 ORDER BY c.member_id, c.day LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        for r in &streaks {
            let day = day_of("checkins", r.try_get("day")?)?;
            let before: Option<i64> = r.try_get("before")?;
            out.push(format!(
                "check-in {day} of member {}: streak {}, but the day before has {}",
                r.try_get::<String, _>("member_id")?,
                r.try_get::<i64, _>("streak")?,
                before.map_or_else(|| "no check-in".to_owned(), |b| format!("streak {b}")),
            ));
        }
        // What the days say they earned against what the ledger credited for them.
        let ledger = sqlx::query(&super::ledger::earned_against_ledger("checkins", "checkin"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        for r in &ledger {
            out.push(format!(
                "member {}: check-ins record {} points earned, the ledger {}",
                r.try_get::<String, _>("member_id")?,
                r.try_get::<i64, _>("recorded")?,
                r.try_get::<i64, _>("ledger")?,
            ));
        }
        out.truncate(limit.max(0) as usize);
        Ok(out)
    }
}
