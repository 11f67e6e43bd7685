//! The SQL both backends share. The schema and statements are identical on SQLite and
//! PostgreSQL; this macro instantiates them for each sqlx driver, so that the two
//! implementations cannot drift. Backend-specific parts (connection set-up, row locks) stay
//! in `sqlite.rs` and `postgres.rs`.

/// Implements `Store` for `$store` (holding `pool: sqlx::Pool<$db>`) and `Tx` for `$tx`
/// (holding `tx: sqlx::Transaction<'static, $db>`). `$lock` is appended to row loads made
/// for update (`" FOR UPDATE"` on PostgreSQL; SQLite's single writer needs none). `$pack`
/// opens the aggregate that packs a statement's rows into one JSON text (see `Packed`),
/// closed by `))` after the column list. `$ids` completes `WHERE col` with a test against the
/// elements of the JSON array of ids bound to `$1`.
macro_rules! sql_store {
    ($store:ident, $tx:ident, $db:ty, $lock:expr, $pack:expr, $ids:expr) => {
        use crate::convert::*;
        use crate::*;
        use loyalty_core::ids::*;
        use loyalty_core::ledger::*;
        use loyalty_core::member::Profile;
        use loyalty_core::order::{Order, Refund, RefundLine, ValidOrder};
        use loyalty_core::verify::MemberHistory;
        use sqlx::{QueryBuilder, Row};
        use std::collections::HashMap;

        type DbRow = <$db as sqlx::Database>::Row;
        crate::sql_tiers::tier_sql!($db);

        const MEMBER_COLS: &str = "member_id, name, phone, email, birthday, channel, registered_at, status, pending, active, held, debt, next_seq, next_lot_no, created_at, updated_at, tier, tier_since, tier_term_end, tier_grace_until, tier_warned, tier_assigned_reason, tier_assigned_until, tier_review_at, growth_total, next_growth_seq, next_tier_seq";
        const LOT_COLS: &str = "member_id, lot_no, source_kind, source_id, granted, remaining, expired, activates_at, expires_at, status, created_at";
        const HOLD_COLS: &str = "member_id, hold_id, order_id, points, order_amount_minor, status, created_at, expires_at, settled_at, allocations";
        const ENTRY_COLS: &str = "member_id, seq, kind, points, source_kind, source_id, lot_no, at, pending_after, active_after, held_after, debt_after, note, recorded_at";
        const ORDER_COLS: &str = "member_id, order_id, paid_at, currency, eligible_minor, shipping_minor, total_minor, earned_points, clawed_back_points, refunded_minor, lot_no, note, lines, created_at, growth, growth_clawed_back, multiplier_milli, benefits, shipping_waived_minor";
        const REFUND_COLS: &str = "member_id, order_id, refund_id, amount_minor, lines, by_lines, clawback_points, forgiven_points, refunded_at, created_at";

        fn member_row(r: &impl Cells) -> Result<MemberRecord> {
            let t = "members";
            let member_id = MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt(t, e.0))?;
            let birthday = r.opt_text("birthday")?;
            let profile = Profile {
                name: r.opt_text("name")?,
                phone: r.opt_text("phone")?,
                email: r.opt_text("email")?,
                birthday: birthday.map(|b| b.parse().map_err(|_| corrupt(t, "birthday"))).transpose()?,
                channel: r.opt_text("channel")?,
                registered_at: ts(t, r.i64("registered_at")?)?,
                created_at: ts(t, r.i64("created_at")?)?,
                updated_at: ts(t, r.i64("updated_at")?)?,
            };
            let mut account = loyalty_core::Account::new(member_id);
            account.status = parse_enum(t, &r.text("status")?, MemberStatus::parse)?;
            account.buckets = buckets(r.i64("pending")?, r.i64("active")?, r.i64("held")?, r.i64("debt")?);
            account.next_seq = r.i64("next_seq")?;
            account.next_lot_no = r.i64("next_lot_no")?;
            account.tier = loyalty_core::tiers::TierState {
                code: r.opt_text("tier")?.unwrap_or_default(),
                since: opt_ts(t, r.opt_i64("tier_since")?)?,
                term_end: opt_ts(t, r.opt_i64("tier_term_end")?)?,
                grace_until: opt_ts(t, r.opt_i64("tier_grace_until")?)?,
                warned: r.i64("tier_warned")? != 0,
                assigned_reason: r.opt_text("tier_assigned_reason")?,
                assigned_until: opt_ts(t, r.opt_i64("tier_assigned_until")?)?,
            };
            account.tier_review_at = opt_ts(t, r.opt_i64("tier_review_at")?)?;
            account.growth_total = r.i64("growth_total")?;
            account.next_growth_seq = r.i64("next_growth_seq")?;
            account.next_tier_seq = r.i64("next_tier_seq")?;
            Ok(MemberRecord { profile, account })
        }

        fn lot_row(r: &impl Cells) -> Result<(String, Lot)> {
            let t = "lots";
            Ok((
                r.text("member_id")?,
                Lot {
                    lot_no: r.i64("lot_no")?,
                    source_kind: parse_enum(t, &r.text("source_kind")?, SourceKind::parse)?,
                    source_id: r.text("source_id")?,
                    granted: r.i64("granted")?,
                    remaining: r.i64("remaining")?,
                    expired: r.i64("expired")?,
                    activates_at: ts(t, r.i64("activates_at")?)?,
                    expires_at: opt_ts(t, r.opt_i64("expires_at")?)?,
                    status: parse_enum(t, &r.text("status")?, LotStatus::parse)?,
                    created_at: ts(t, r.i64("created_at")?)?,
                    dirty: false,
                },
            ))
        }

        fn hold_row(r: &impl Cells) -> Result<(String, Hold)> {
            let t = "holds";
            let member_id = r.text("member_id")?;
            Ok((
                member_id,
                Hold {
                    hold_id: HoldId::parse(&r.text("hold_id")?).map_err(|e| corrupt(t, e.0))?,
                    order_id: r.text("order_id")?,
                    points: r.i64("points")?,
                    order_amount_minor: r.i64("order_amount_minor")?,
                    status: parse_enum(t, &r.text("status")?, HoldStatus::parse)?,
                    created_at: ts(t, r.i64("created_at")?)?,
                    expires_at: ts(t, r.i64("expires_at")?)?,
                    settled_at: opt_ts(t, r.opt_i64("settled_at")?)?,
                    allocations: json(t, &r.text("allocations")?)?,
                    dirty: false,
                },
            ))
        }

        fn entry_row(r: &impl Cells) -> Result<Entry> {
            let t = "entries";
            Ok(Entry {
                seq: r.i64("seq")?,
                kind: parse_enum(t, &r.text("kind")?, EntryKind::parse)?,
                points: r.i64("points")?,
                source_kind: parse_enum(t, &r.text("source_kind")?, SourceKind::parse)?,
                source_id: r.text("source_id")?,
                lot_no: r.opt_i64("lot_no")?,
                at: ts(t, r.i64("at")?)?,
                after: buckets(r.i64("pending_after")?, r.i64("active_after")?, r.i64("held_after")?, r.i64("debt_after")?),
                note: r.opt_text("note")?,
            })
        }

        fn order_row(r: &impl Cells) -> Result<Order> {
            let t = "orders";
            let member = r.text("member_id")?;
            let id = r.text("order_id")?;
            Ok(Order {
                order: ValidOrder {
                    id: OrderId::parse(&id).map_err(|e| corrupt(t, e.0))?,
                    member_id: MemberId::parse(&member).map_err(|e| corrupt(t, e.0))?,
                    paid_at: ts(t, r.i64("paid_at")?)?,
                    currency: r.text("currency")?,
                    lines: json(t, &r.text("lines")?)?,
                    shipping_minor: r.i64("shipping_minor")?,
                    shipping_waived_minor: r.i64("shipping_waived_minor")?,
                },
                growth: r.i64("growth")?,
                growth_clawed_back: r.i64("growth_clawed_back")?,
                multiplier_milli: r.i64("multiplier_milli")?,
                benefits: json(t, &r.text("benefits")?)?,
                earned_points: r.i64("earned_points")?,
                clawed_back_points: r.i64("clawed_back_points")?,
                refunded_minor: r.i64("refunded_minor")?,
                lot_no: r.opt_i64("lot_no")?,
                created_at: ts(t, r.i64("created_at")?)?,
                note: r.opt_text("note")?,
            })
        }

        fn refund_row(r: &impl Cells) -> Result<Refund> {
            let t = "refunds";
            let order_id = r.text("order_id")?;
            let refund_id = r.text("refund_id")?;
            let lines: Vec<RefundLine> = json(t, &r.text("lines")?)?;
            Ok(Refund {
                refund_id: RefundId::parse(&refund_id).map_err(|e| corrupt(t, e.0))?,
                order_id: OrderId::parse(&order_id).map_err(|e| corrupt(t, e.0))?,
                amount_minor: r.i64("amount_minor")?,
                lines,
                clawback_points: r.i64("clawback_points")?,
                forgiven_points: r.i64("forgiven_points")?,
                refunded_at: ts(t, r.i64("refunded_at")?)?,
                created_at: ts(t, r.i64("created_at")?)?,
                by_lines: r.i64("by_lines")? != 0,
            })
        }

        /// A row the driver returned on its own (statements that return few rows).
        struct One<'a>(&'a DbRow);

        impl Cells for One<'_> {
            fn i64(&self, col: &str) -> Result<i64> {
                Ok(self.0.try_get(col)?)
            }
            fn opt_i64(&self, col: &str) -> Result<Option<i64>> {
                Ok(self.0.try_get(col)?)
            }
            fn text(&self, col: &str) -> Result<String> {
                Ok(self.0.try_get(col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>> {
                Ok(self.0.try_get(col)?)
            }
        }

        /// `SELECT cols … WHERE col` in `ids`[ tail]`, each statement answering its rows packed
        /// into one JSON text (see [`Packed`]). `head` selects exactly the columns named in
        /// `cols`, in that order; `tail` may filter with `$2`, `$3`, … (bound from `args`),
        /// order, group or lock. The ids travel as one JSON array bound to `$1`, so the
        /// statement's text is the same whatever the ids and the driver prepares it once: an
        /// IN list of binds was a new statement for every batch size, prepared again and again.
        /// Chunks bound how much one statement answers.
        async fn select_in(conn: &mut <$db as sqlx::Database>::Connection, cols: &'static str, table: &'static str, head: &str, ids: &[String], tail: &str, args: &[i64]) -> Result<Packed> {
            let names = Packed::names(cols);
            let mut out = Packed::parse(names.clone(), table, None)?;
            let sql = format!("SELECT CAST({}{cols})) AS TEXT) AS packed FROM ({head} {}{tail}) AS p", $pack, $ids);
            // Each chunk's answer is parsed while the database answers the next one.
            let mut answered: Option<Option<String>> = None;
            for chunk in ids.chunks(IN_CHUNK) {
                let list = serde_json::to_string(chunk).expect("a list of strings serialises");
                let mut q = sqlx::query(&sql).bind(list);
                for a in args {
                    q = q.bind(*a);
                }
                let previous = answered.take();
                let (row, parsed) = tokio::join!(q.fetch_one(&mut *conn), async {
                    previous.map(|packed| Packed::parse(names.clone(), table, packed.as_deref())).transpose()
                });
                if let Some(parsed) = parsed? {
                    out.extend(parsed);
                }
                answered = Some(row?.try_get("packed")?);
            }
            if let Some(packed) = answered {
                out.extend(Packed::parse(names.clone(), table, packed.as_deref())?);
            }
            Ok(out)
        }

        /// Member rows, keyed by id.
        async fn member_rows(conn: &mut <$db as sqlx::Database>::Connection, ids: &[String], lock: &str) -> Result<HashMap<String, MemberRecord>> {
            let mut out: HashMap<String, MemberRecord> = HashMap::new();
            let head = format!("SELECT {MEMBER_COLS} FROM members WHERE member_id");
            for r in select_in(&mut *conn, MEMBER_COLS, "members", &head, ids, lock, &[]).await?.rows() {
                let m = member_row(&r)?;
                out.insert(m.account.member_id.as_str().to_owned(), m);
            }
            Ok(out)
        }

        /// Lots selected by `tail` into the loaded members.
        async fn lots_into(conn: &mut <$db as sqlx::Database>::Connection, out: &mut HashMap<String, MemberRecord>, ids: &[String], tail: &str, args: &[i64]) -> Result<()> {
            let head = format!("SELECT {LOT_COLS} FROM lots WHERE member_id");
            for r in select_in(&mut *conn, LOT_COLS, "lots", &head, ids, tail, args).await?.rows() {
                let (mid, lot) = lot_row(&r)?;
                if let Some(m) = out.get_mut(mid.as_str()) {
                    m.account.lots.push(lot);
                }
            }
            Ok(())
        }

        /// Open holds into the loaded members, then the lots they took from (which also puts
        /// every loaded member's lots in `lot_no` order: see `load_held_lots`).
        async fn holds_into(conn: &mut <$db as sqlx::Database>::Connection, out: &mut HashMap<String, MemberRecord>, ids: &[String]) -> Result<()> {
            let head = format!("SELECT {HOLD_COLS} FROM holds WHERE member_id");
            for r in select_in(&mut *conn, HOLD_COLS, "holds", &head, ids, " AND status = 'open'", &[]).await?.rows() {
                let (mid, hold) = hold_row(&r)?;
                if let Some(m) = out.get_mut(mid.as_str()) {
                    m.account.holds.push(hold);
                }
            }
            for id in ids {
                if let Some(m) = out.get_mut(id.as_str()) {
                    load_held_lots(&mut *conn, m).await?;
                }
            }
            Ok(())
        }

        /// Every open lot: pending, or active with points left.
        const OPEN_LOTS: &str = " AND (status = 'pending' OR (status = 'active' AND remaining > 0))";

        /// Loads members for a write: `full` with every open lot, `partial` with pending lots
        /// and active lots due by `due_by` only (each read through its partial index).
        async fn load_members_for_write(conn: &mut <$db as sqlx::Database>::Connection, full: &[String], partial: &[String], lock: &str, due_by: i64) -> Result<HashMap<String, MemberRecord>> {
            let mut ids: Vec<String> = full.iter().chain(partial).cloned().collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), full.len() + partial.len(), "a member is loaded in full or in part, not both");
            let mut out = member_rows(&mut *conn, &ids, lock).await?;
            lots_into(&mut *conn, &mut out, full, OPEN_LOTS, &[]).await?;
            lots_into(&mut *conn, &mut out, partial, " AND status = 'pending'", &[]).await?;
            lots_into(&mut *conn, &mut out, partial, " AND status = 'active' AND remaining > 0 AND expires_at <= $2", &[due_by]).await?;
            holds_into(&mut *conn, &mut out, &ids).await?;
            for id in partial {
                if let Some(m) = out.get_mut(id.as_str()) {
                    m.account.set_partially_loaded();
                }
            }
            Ok(out)
        }

        /// Loads members in full with growth entries after `growth_since` (reads).
        async fn load_members_on(conn: &mut <$db as sqlx::Database>::Connection, ids: &[String], lock: &str, growth_since: i64) -> Result<HashMap<MemberId, MemberRecord>> {
            let mut out = member_rows(&mut *conn, ids, lock).await?;
            lots_into(&mut *conn, &mut out, ids, OPEN_LOTS, &[]).await?;
            holds_into(&mut *conn, &mut out, ids).await?;
            load_growth(&mut *conn, &mut out, ids, growth_since).await?;
            Ok(out.into_values().map(|m| (m.account.member_id.clone(), m)).collect())
        }

        /// Lots that open holds took points from but that hold no points now.
        async fn load_held_lots(conn: &mut <$db as sqlx::Database>::Connection, m: &mut MemberRecord) -> Result<()> {
            let acc = &mut m.account;
            let mut missing: Vec<i64> = acc.holds.iter().flat_map(|h| h.allocations.iter().map(|a| a.lot_no)).filter(|no| !acc.lots.iter().any(|l| l.lot_no == *no)).collect();
            missing.sort_unstable();
            missing.dedup();
            for no in missing {
                let row = sqlx::query(&format!("SELECT {LOT_COLS} FROM lots WHERE member_id = $1 AND lot_no = $2"))
                    .bind(acc.member_id.as_str().to_owned())
                    .bind(no)
                    .fetch_one(&mut *conn)
                    .await?;
                acc.lots.push(lot_row(&One(&row))?.1);
            }
            acc.lots.sort_by_key(|l| l.lot_no);
            Ok(())
        }

        /// Multi-row `INSERT INTO table (cols) VALUES (…), (…)[ tail]` in chunks that stay
        /// under the bind limit. `bind` pushes one value per column, in order.
        ///
        /// Tried and measured slower on SQLite (HTTP batches of ~35 orders): the rows bound as
        /// one JSON text and unpacked with `json_each` (2.4 ms a batch against 1.5 ms), and
        /// chunks of powers of two so that each statement text is prepared once (2.0 ms: more
        /// statements cost more than preparing one). On PostgreSQL, rows as one JSON text
        /// unpacked by `json_populate_recordset` made no difference (HTTP, 100,000 orders:
        /// 4,547 orders/s against 4,851 in the same session).
        async fn insert_rows<T, F>(conn: &mut <$db as sqlx::Database>::Connection, table: &'static str, cols: &'static str, tail: &str, rows: &[T], mut bind: F) -> Result<()>
        where
            F: FnMut(&mut sqlx::query_builder::Separated<'_, '_, $db, &'static str>, &T),
        {
            let per = (MAX_BINDS / Packed::names(cols).len()).max(1);
            let head = format!("INSERT INTO {table} ({cols}) VALUES ");
            let mut build = |chunk: &[T]| {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(&head);
                for (i, row) in chunk.iter().enumerate() {
                    if i > 0 {
                        qb.push(", ");
                    }
                    qb.push("(");
                    {
                        let mut sep = qb.separated(", ");
                        bind(&mut sep, row);
                    }
                    qb.push(")");
                }
                qb.push(tail);
                qb
            };
            // The next chunk's statement is built while the database runs this one (the
            // driver runs it on a thread of its own), so building the values and running the
            // statement take two cores instead of one after the other.
            let mut chunks = rows.chunks(per);
            let mut next = chunks.next().map(&mut build);
            while let Some(mut qb) = next.take() {
                let (ran, built) =
                    tokio::join!(qb.build().execute(&mut *conn), async { chunks.next().map(&mut build) });
                ran?;
                next = built;
            }
            Ok(())
        }

        async fn write_changes(conn: &mut <$db as sqlx::Database>::Connection, c: &Changes, recorded_at: i64) -> Result<()> {
            insert_rows(conn, "members", MEMBER_COLS,
                " ON CONFLICT (member_id) DO UPDATE SET name = excluded.name, phone = excluded.phone, email = excluded.email, birthday = excluded.birthday, channel = excluded.channel, registered_at = excluded.registered_at, status = excluded.status, pending = excluded.pending, active = excluded.active, held = excluded.held, debt = excluded.debt, next_seq = excluded.next_seq, next_lot_no = excluded.next_lot_no, updated_at = excluded.updated_at, tier = excluded.tier, tier_since = excluded.tier_since, tier_term_end = excluded.tier_term_end, tier_grace_until = excluded.tier_grace_until, tier_warned = excluded.tier_warned, tier_assigned_reason = excluded.tier_assigned_reason, tier_assigned_until = excluded.tier_assigned_until, tier_review_at = excluded.tier_review_at, growth_total = excluded.growth_total, next_growth_seq = excluded.next_growth_seq, next_tier_seq = excluded.next_tier_seq",
                &c.members, |s, m| {
                    let (p, a) = (&m.profile, &m.account);
                    s.push_bind(a.member_id.as_str().to_owned());
                    s.push_bind(p.name.clone());
                    s.push_bind(p.phone.clone());
                    s.push_bind(p.email.clone());
                    s.push_bind(p.birthday.map(|b| b.to_string()));
                    s.push_bind(p.channel.clone());
                    s.push_bind(micros(p.registered_at));
                    s.push_bind(a.status.as_str());
                    s.push_bind(a.buckets.pending);
                    s.push_bind(a.buckets.active);
                    s.push_bind(a.buckets.held);
                    s.push_bind(a.buckets.debt);
                    s.push_bind(a.next_seq);
                    s.push_bind(a.next_lot_no);
                    s.push_bind(micros(p.created_at));
                    s.push_bind(micros(p.updated_at));
                    let t = &a.tier;
                    s.push_bind((!t.code.is_empty()).then(|| t.code.clone()));
                    s.push_bind(t.since.map(micros));
                    s.push_bind(t.term_end.map(micros));
                    s.push_bind(t.grace_until.map(micros));
                    s.push_bind(i64::from(t.warned));
                    s.push_bind(t.assigned_reason.clone());
                    s.push_bind(t.assigned_until.map(micros));
                    s.push_bind(a.tier_review_at.map(micros));
                    s.push_bind(a.growth_total);
                    s.push_bind(a.next_growth_seq);
                    s.push_bind(a.next_tier_seq);
                }).await?;
            insert_rows(conn, "lots", LOT_COLS,
                " ON CONFLICT (member_id, lot_no) DO UPDATE SET remaining = excluded.remaining, expired = excluded.expired, status = excluded.status",
                &c.lots, |s, (m, l)| {
                    s.push_bind(m.as_str().to_owned());
                    s.push_bind(l.lot_no);
                    s.push_bind(l.source_kind.as_str());
                    s.push_bind(l.source_id.clone());
                    s.push_bind(l.granted);
                    s.push_bind(l.remaining);
                    s.push_bind(l.expired);
                    s.push_bind(micros(l.activates_at));
                    s.push_bind(l.expires_at.map(micros));
                    s.push_bind(l.status.as_str());
                    s.push_bind(micros(l.created_at));
                }).await?;
            insert_rows(conn, "holds", HOLD_COLS,
                " ON CONFLICT (member_id, hold_id) DO UPDATE SET status = excluded.status, settled_at = excluded.settled_at",
                &c.holds, |s, (m, h)| {
                    s.push_bind(m.as_str().to_owned());
                    s.push_bind(h.hold_id.as_str().to_owned());
                    s.push_bind(h.order_id.clone());
                    s.push_bind(h.points);
                    s.push_bind(h.order_amount_minor);
                    s.push_bind(h.status.as_str());
                    s.push_bind(micros(h.created_at));
                    s.push_bind(micros(h.expires_at));
                    s.push_bind(h.settled_at.map(micros));
                    s.push_bind(serde_json::to_string(&h.allocations).expect("allocations serialise"));
                }).await?;
            insert_rows(conn, "entries", ENTRY_COLS, "", &c.entries, |s, (m, e)| {
                s.push_bind(m.as_str().to_owned());
                s.push_bind(e.seq);
                s.push_bind(e.kind.as_str());
                s.push_bind(e.points);
                s.push_bind(e.source_kind.as_str());
                s.push_bind(e.source_id.clone());
                s.push_bind(e.lot_no);
                s.push_bind(micros(e.at));
                s.push_bind(e.after.pending);
                s.push_bind(e.after.active);
                s.push_bind(e.after.held);
                s.push_bind(e.after.debt);
                s.push_bind(e.note.clone());
                s.push_bind(recorded_at);
            }).await?;
            insert_rows(conn, "order_keys", "order_id, member_id", "", &c.new_order_keys, |s, (o, m)| {
                s.push_bind(o.as_str().to_owned());
                s.push_bind(m.as_str().to_owned());
            }).await?;
            insert_rows(conn, "orders", ORDER_COLS,
                " ON CONFLICT (member_id, order_id) DO UPDATE SET clawed_back_points = excluded.clawed_back_points, refunded_minor = excluded.refunded_minor, growth_clawed_back = excluded.growth_clawed_back",
                &c.orders, |s, o| {
                    let v = &o.order;
                    s.push_bind(v.member_id.as_str().to_owned());
                    s.push_bind(v.id.as_str().to_owned());
                    s.push_bind(micros(v.paid_at));
                    s.push_bind(v.currency.clone());
                    s.push_bind(v.eligible_minor());
                    s.push_bind(v.shipping_minor);
                    s.push_bind(v.total_minor());
                    s.push_bind(o.earned_points);
                    s.push_bind(o.clawed_back_points);
                    s.push_bind(o.refunded_minor);
                    s.push_bind(o.lot_no);
                    s.push_bind(o.note.clone());
                    s.push_bind(serde_json::to_string(&v.lines).expect("lines serialise"));
                    s.push_bind(micros(o.created_at));
                    s.push_bind(o.growth);
                    s.push_bind(o.growth_clawed_back);
                    s.push_bind(o.multiplier_milli);
                    s.push_bind(serde_json::to_string(&o.benefits).expect("benefits serialise"));
                    s.push_bind(v.shipping_waived_minor);
                }).await?;
            insert_rows(conn, "refunds", REFUND_COLS, "", &c.refunds, |s, (m, r)| {
                s.push_bind(m.as_str().to_owned());
                s.push_bind(r.order_id.as_str().to_owned());
                s.push_bind(r.refund_id.as_str().to_owned());
                s.push_bind(r.amount_minor);
                s.push_bind(serde_json::to_string(&r.lines).expect("lines serialise"));
                s.push_bind(i64::from(r.by_lines));
                s.push_bind(r.clawback_points);
                s.push_bind(r.forgiven_points);
                s.push_bind(micros(r.refunded_at));
                s.push_bind(micros(r.created_at));
            }).await?;
            // Every new order and refund also goes to its member's activity log (what member
            // insight reads), in this transaction: the log can never miss or repeat one.
            let appends = crate::analytics::activity_appends(c);
            insert_rows(conn, "member_activity", "member_id, span, log",
                // A new row is the whole text; a row already there keeps its head (`|id=` and
                // the span, `activity::HEAD_EXTRA` characters besides the id) and gets the
                // records after the new text's head.
                &format!(" ON CONFLICT (member_id, span) DO UPDATE SET log = member_activity.log || substr(excluded.log, length(excluded.member_id) + {})", crate::analytics::HEAD_EXTRA + 1),
                &appends, |s, a| {
                    s.push_bind(a.member_id.clone());
                    s.push_bind(a.span);
                    s.push_bind(a.log.clone());
                }).await?;
            insert_rows(conn, "adjustments", "member_id, adjustment_id, points, reason, actor, created_at", "", &c.adjustments, |s, a| {
                s.push_bind(a.member_id.as_str().to_owned());
                s.push_bind(a.adjustment_id.as_str().to_owned());
                s.push_bind(a.points);
                s.push_bind(a.reason.clone());
                s.push_bind(a.actor.clone());
                s.push_bind(micros(a.created_at));
            }).await?;
            // The first response kept for a key stays (a retry racing the first attempt).
            insert_rows(conn, "idempotency", "principal, idem_key, request_hash, status, body, created_at", " ON CONFLICT (principal, idem_key) DO NOTHING", &c.idempotency, |s, r| {
                s.push_bind(r.principal.clone());
                s.push_bind(r.key.clone());
                s.push_bind(r.request_hash.clone());
                s.push_bind(i64::from(r.status));
                s.push_bind(r.body.clone());
                s.push_bind(micros(r.created_at));
            }).await?;
            write_tier_changes(conn, c, recorded_at).await
        }

        #[async_trait::async_trait]
        impl Tx for $tx {
            async fn load_members(&mut self, full: &[MemberId], partial: &[MemberId], due_by: jiff::Timestamp) -> Result<HashMap<MemberId, MemberRecord>> {
                let strings = |v: &[MemberId]| v.iter().map(|i| i.as_str().to_owned()).collect::<Vec<String>>();
                let out = load_members_for_write(&mut *self.tx, &strings(full), &strings(partial), $lock, micros(due_by)).await?;
                Ok(out.into_values().map(|m| (m.account.member_id.clone(), m)).collect())
            }

            async fn load_growth(&mut self, wanted: &[GrowthLoad]) -> Result<LoadedGrowth> {
                load_growth_for_write(&mut *self.tx, wanted).await
            }

            async fn load_actions(&mut self, member: &MemberId, kind: ActionKind, since: jiff::Timestamp) -> Result<Vec<Action>> {
                select_actions(&mut *self.tx, member, kind, micros(since), None).await
            }

            async fn find_action(&mut self, member: &MemberId, kind: ActionKind, id: &str) -> Result<Option<Action>> {
                Ok(select_actions(&mut *self.tx, member, kind, 0, Some(id)).await?.pop())
            }

            async fn load_orders(&mut self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>> {
                let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
                // Orders are keyed by member first; the order id alone is routed through
                // order_keys, so both lookups use a primary key (never a scan of orders).
                let cols = ORDER_COLS.split(", ").map(|c| format!("o.{c}")).collect::<Vec<_>>().join(", ");
                let head = format!("SELECT {cols} FROM order_keys k JOIN orders o ON o.member_id = k.member_id AND o.order_id = k.order_id WHERE k.order_id");
                let mut out = HashMap::new();
                for r in select_in(&mut *self.tx, ORDER_COLS, "orders", &head, &ids, "", &[]).await?.rows() {
                    let o = order_row(&r)?;
                    out.insert(o.order.id.clone(), o);
                }
                Ok(out)
            }

            async fn load_refunds(&mut self, orders: &[(MemberId, OrderId)]) -> Result<Vec<Refund>> {
                let mut out = Vec::new();
                for (m, o) in orders {
                    let rows = sqlx::query(&format!("SELECT {REFUND_COLS} FROM refunds WHERE member_id = $1 AND order_id = $2 ORDER BY created_at, refund_id"))
                        .bind(m.as_str().to_owned())
                        .bind(o.as_str().to_owned())
                        .fetch_all(&mut *self.tx)
                        .await?;
                    for r in rows {
                        out.push(refund_row(&One(&r))?);
                    }
                }
                Ok(out)
            }

            async fn load_holds(&mut self, member: &MemberId, hold_ids: &[HoldId], order_ids: &[String]) -> Result<Vec<Hold>> {
                let mut out = Vec::new();
                let ids: Vec<String> = hold_ids.iter().map(|h| h.as_str().to_owned()).collect();
                for (col, vals) in [("hold_id", &ids), ("order_id", &order_ids.to_vec())] {
                    for chunk in vals.chunks(IN_CHUNK) {
                        let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!("SELECT {HOLD_COLS} FROM holds WHERE member_id = "));
                        qb.push_bind(member.as_str().to_owned());
                        qb.push(format!(" AND {col} IN ("));
                        let mut sep = qb.separated(", ");
                        for v in chunk {
                            sep.push_bind(v.clone());
                        }
                        qb.push(")");
                        for r in qb.build().fetch_all(&mut *self.tx).await? {
                            out.push(hold_row(&One(&r))?.1);
                        }
                    }
                }
                Ok(out)
            }

            async fn load_adjustments(&mut self, keys: &[(MemberId, AdjustmentId)]) -> Result<Vec<Adjustment>> {
                let mut out = Vec::new();
                for (m, a) in keys {
                    let row = sqlx::query("SELECT points, reason, actor, created_at FROM adjustments WHERE member_id = $1 AND adjustment_id = $2")
                        .bind(m.as_str().to_owned())
                        .bind(a.as_str().to_owned())
                        .fetch_optional(&mut *self.tx)
                        .await?;
                    if let Some(r) = row {
                        out.push(Adjustment {
                            member_id: m.clone(),
                            adjustment_id: a.clone(),
                            points: r.try_get("points")?,
                            reason: r.try_get("reason")?,
                            actor: r.try_get("actor")?,
                            created_at: ts("adjustments", r.try_get("created_at")?)?,
                        });
                    }
                }
                Ok(out)
            }

            async fn write(&mut self, changes: &Changes, recorded_at: jiff::Timestamp) -> Result<()> {
                write_changes(&mut *self.tx, changes, micros(recorded_at)).await
            }

            async fn commit(self: Box<Self>) -> Result<()> {
                self.tx.commit().await?;
                Ok(())
            }

            async fn commit_mark(&mut self) -> Result<Option<(i64, i64)>> {
                self.mark().await
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            async fn begin(&self) -> Result<Box<dyn Tx>> {
                Ok(Box::new(self.begin_tx().await?))
            }

            async fn member(&self, id: &MemberId, growth_since: jiff::Timestamp) -> Result<Option<MemberRecord>> {
                let mut conn = self.pool.acquire().await?;
                let mut found = load_members_on(&mut conn, &[id.as_str().to_owned()], "", micros(growth_since)).await?;
                Ok(found.remove(id))
            }

            async fn tier_events(&self, id: &MemberId, before: Option<i64>, limit: i64) -> Result<Vec<TierEvent>> {
                let rows = sqlx::query(&format!("SELECT {TIER_EVENT_COLS} FROM tier_events WHERE member_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"))
                    .bind(id.as_str().to_owned())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(tier_event_row).collect()
            }

            async fn actions(&self, id: &MemberId, kind: ActionKind, since: jiff::Timestamp) -> Result<Vec<Action>> {
                let mut conn = self.pool.acquire().await?;
                select_actions(&mut conn, id, kind, micros(since), None).await
            }

            async fn ledger(&self, q: &LedgerQuery) -> Result<Vec<Entry>> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!("SELECT {ENTRY_COLS} FROM entries WHERE member_id = "));
                qb.push_bind(q.member_id.clone());
                if let Some(b) = q.before_seq {
                    qb.push(" AND seq < ").push_bind(b);
                }
                if !q.kinds.is_empty() {
                    qb.push(" AND kind IN (");
                    let mut sep = qb.separated(", ");
                    for k in &q.kinds {
                        sep.push_bind(k.as_str());
                    }
                    qb.push(")");
                }
                if let Some(f) = q.from {
                    qb.push(" AND at >= ").push_bind(micros(f));
                }
                if let Some(t) = q.to {
                    qb.push(" AND at < ").push_bind(micros(t));
                }
                qb.push(" ORDER BY seq DESC LIMIT ").push_bind(q.limit);
                qb.build().fetch_all(&self.pool).await?.iter().map(|r| entry_row(&One(r))).collect()
            }

            async fn lots(&self, id: &MemberId, before: Option<i64>, limit: i64) -> Result<Vec<Lot>> {
                let rows = sqlx::query(&format!("SELECT {LOT_COLS} FROM lots WHERE member_id = $1 AND lot_no < $2 ORDER BY lot_no DESC LIMIT $3"))
                    .bind(id.as_str().to_owned())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| lot_row(&One(r)).map(|(_, l)| l)).collect()
            }

            async fn order(&self, id: &OrderId) -> Result<Option<(Order, Vec<Refund>)>> {
                let mut tx = self.begin_tx().await?;
                let mut found = tx.load_orders(std::slice::from_ref(id)).await?;
                let Some(order) = found.remove(id) else { return Ok(None) };
                let refunds = tx.load_refunds(&[(order.order.member_id.clone(), id.clone())]).await?;
                Ok(Some((order, refunds)))
            }

            async fn due_members(&self, now: jiff::Timestamp, limit: i64) -> Result<Vec<MemberId>> {
                let n = micros(now);
                // Each source is read through its own partial index, up to `limit` each;
                // the caller advances what it gets, which takes it out of the due sets. The
                // ids come back packed in one text (see `Packed`).
                let sql = format!(
                    "SELECT CAST({}member_id)) AS TEXT) AS packed FROM (\
                     SELECT member_id FROM (SELECT member_id FROM lots WHERE status = 'pending' AND activates_at <= $1 LIMIT $2) a \
                     UNION SELECT member_id FROM (SELECT member_id FROM lots WHERE status = 'active' AND remaining > 0 AND expires_at <= $1 LIMIT $2) b \
                     UNION SELECT member_id FROM (SELECT member_id FROM holds WHERE status = 'open' AND expires_at <= $1 LIMIT $2) c \
                     UNION SELECT member_id FROM (SELECT member_id FROM members WHERE tier_review_at <= $1 LIMIT $2) d) AS due",
                    $pack
                );
                let packed: Option<String> = sqlx::query(&sql).bind(n).bind(limit).fetch_one(&self.pool).await?.try_get("packed")?;
                let mut ids = Packed::parse(Packed::names("member_id"), "members", packed.as_deref())?
                    .rows()
                    .map(|r| MemberId::parse(&r.text("member_id")?).map_err(|e| corrupt("members", e.0)))
                    .collect::<Result<Vec<_>>>()?;
                ids.sort();
                Ok(ids)
            }

            async fn member_ids(&self, after: Option<&str>, limit: i64) -> Result<Vec<String>> {
                let rows = sqlx::query("SELECT member_id FROM members WHERE member_id > $1 ORDER BY member_id LIMIT $2")
                    .bind(after.unwrap_or("").to_owned())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("member_id")?)).collect()
            }

            async fn histories(&self, ids: &[String]) -> Result<Vec<MemberHistory>> {
                let mut by_id: HashMap<String, MemberHistory> = HashMap::new();
                let mut conn = self.pool.acquire().await?;
                let conn = &mut *conn;
                let head = format!("SELECT {MEMBER_COLS} FROM members WHERE member_id");
                for r in select_in(&mut *conn, MEMBER_COLS, "members", &head, ids, "", &[]).await?.rows() {
                    let m = member_row(&r)?;
                    let id = m.account.member_id.as_str().to_owned();
                    let history = MemberHistory { member_id: id.clone(), stored: m.account.buckets, entries: vec![], lots: vec![], open_holds: vec![], growth: vec![], growth_total: m.account.growth_total };
                    by_id.insert(id, history);
                }
                let head = format!("SELECT {ENTRY_COLS} FROM entries WHERE member_id");
                for r in select_in(&mut *conn, ENTRY_COLS, "entries", &head, ids, " ORDER BY member_id, seq", &[]).await?.rows() {
                    let mid = r.text("member_id")?;
                    let e = entry_row(&r)?;
                    by_id.get_mut(&mid).ok_or_else(|| corrupt("entries", format!("entry of unknown member {mid}")))?.entries.push(e);
                }
                let head = format!("SELECT {LOT_COLS} FROM lots WHERE member_id");
                for r in select_in(&mut *conn, LOT_COLS, "lots", &head, ids, "", &[]).await?.rows() {
                    let (mid, lot) = lot_row(&r)?;
                    by_id.get_mut(&mid).ok_or_else(|| corrupt("lots", format!("lot of unknown member {mid}")))?.lots.push(lot);
                }
                let head = format!("SELECT {HOLD_COLS} FROM holds WHERE member_id");
                for r in select_in(&mut *conn, HOLD_COLS, "holds", &head, ids, " AND status = 'open'", &[]).await?.rows() {
                    let (mid, hold) = hold_row(&r)?;
                    by_id.get_mut(&mid).ok_or_else(|| corrupt("holds", format!("hold of unknown member {mid}")))?.open_holds.push(hold);
                }
                let head = format!("SELECT {GROWTH_COLS} FROM growth_entries WHERE member_id");
                for r in select_in(&mut *conn, GROWTH_COLS, "growth_entries", &head, ids, " ORDER BY member_id, seq", &[]).await?.rows() {
                    let (mid, g) = growth_row(&r)?;
                    by_id.get_mut(&mid).ok_or_else(|| corrupt("growth_entries", format!("growth of unknown member {mid}")))?.growth.push(g);
                }
                let mut out: Vec<MemberHistory> = by_id.into_values().collect();
                for h in &mut out {
                    h.entries.sort_by_key(|e| e.seq);
                    h.lots.sort_by_key(|l| l.lot_no);
                    h.growth.sort_by_key(|g| g.seq);
                }
                out.sort_by(|a, b| a.member_id.cmp(&b.member_id));
                Ok(out)
            }

            async fn totals(&self) -> Result<StoreTotals> {
                let count = |t: &'static str| format!("SELECT COUNT(*) AS n FROM {t}");
                let mut out = StoreTotals::default();
                out.members = sqlx::query(&count("members")).fetch_one(&self.pool).await?.try_get("n")?;
                out.orders = sqlx::query(&count("orders")).fetch_one(&self.pool).await?.try_get("n")?;
                out.entries = sqlx::query(&count("entries")).fetch_one(&self.pool).await?.try_get("n")?;
                Ok(out)
            }

            async fn api_key(&self, key_hash: &str) -> Result<Option<(String, String)>> {
                let row = sqlx::query("SELECT name, scope FROM api_keys WHERE key_hash = $1").bind(key_hash.to_owned()).fetch_optional(&self.pool).await?;
                row.map(|r| Ok((r.try_get("name")?, r.try_get("scope")?))).transpose()
            }

            async fn insert_api_key(&self, key_hash: &str, name: &str, scope: &str, now: jiff::Timestamp) -> Result<()> {
                sqlx::query("INSERT INTO api_keys (key_hash, name, scope, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(key_hash.to_owned())
                    .bind(name.to_owned())
                    .bind(scope.to_owned())
                    .bind(micros(now))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn idem_get(&self, principal: &str, key: &str) -> Result<Option<IdemRecord>> {
                let row = sqlx::query("SELECT request_hash, status, body, created_at FROM idempotency WHERE principal = $1 AND idem_key = $2")
                    .bind(principal.to_owned())
                    .bind(key.to_owned())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(IdemRecord {
                        principal: principal.to_owned(),
                        key: key.to_owned(),
                        request_hash: r.try_get("request_hash")?,
                        status: u16::try_from(r.try_get::<i64, _>("status")?).map_err(|_| corrupt("idempotency", "status"))?,
                        body: r.try_get("body")?,
                        created_at: ts("idempotency", r.try_get("created_at")?)?,
                    })
                })
                .transpose()
            }

            async fn idem_purge(&self, before: jiff::Timestamp) -> Result<u64> {
                let r = sqlx::query("DELETE FROM idempotency WHERE created_at < $1").bind(micros(before)).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }

            async fn execute_raw(&self, sql: &str) -> Result<u64> {
                Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
            }

            async fn checkpoint(&self) -> Result<()> {
                self.truncate_wal().await
            }
        }
    };
}

pub(crate) use sql_store;
