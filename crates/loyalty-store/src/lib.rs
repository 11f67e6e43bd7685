//! Storage of the Loyalty engine: one small trait per capability ([`Writes`] and [`Tx`],
//! [`LedgerReads`], [`ApiKeys`], [`Idempotency`], [`Maintenance`], [`Analytics`],
//! [`BenefitUsage`], [`MemberVersions`], [`PersonalData`], [`Coupons`], [`Rewards`], [`Memberships`], [`MembershipFacts`], [`Checkins`], [`Gifts`], [`Tasks`], [`Referrals`], [`Sessions`], [`MemberSearch`], [`Events`]) and [`Store`], their sum. SQLite
//! (`sqlite.rs`) and PostgreSQL (`postgres.rs`) implement them with the same SQL: the modules
//! of `shared/` are compiled once for each backend, against that backend's `dialect` (its
//! driver type and the few fragments of SQL that differ). The server picks a backend from the
//! URL.

pub mod analytics;
pub mod checkins;
mod convert;
pub mod coupons;
pub mod events;
pub mod gifts;
pub mod health;
pub mod membership_facts;
pub mod memberships;
mod postgres;
pub mod referrals;
pub mod rewards;
pub mod sessions;
mod sqlite;
pub mod tasks;
pub mod usage;
pub mod versions;

use async_trait::async_trait;
use jiff::Timestamp;
use loyalty_core::account::{Account, AccountChange};
use loyalty_core::ids::{AdjustmentId, HoldId, MemberId, OrderId};
use loyalty_core::ledger::{Entry, EntryKind, Hold, Lot};
use loyalty_core::member::Profile;
use loyalty_core::order::{Order, Refund};
use loyalty_core::verify::MemberHistory;
use std::collections::HashMap;

pub use analytics::Analytics;
pub use checkins::Checkins;
pub use coupons::{CouponChecks, Coupons};
pub use events::{EventPage, Events, StoredEvent};
pub use gifts::{GiftDue, Gifts};
pub use health::{Writability, WriteProbe};
pub use membership_facts::MembershipFacts;
pub use memberships::Memberships;
pub use postgres::PgStore;
pub use referrals::{ReferralReport, Referrals};
pub use rewards::Rewards;
pub use sessions::{ConsoleSession, Contact, MemberSearch, Sessions};
pub use sqlite::SqliteStore;
pub use tasks::Tasks;
pub use usage::{BenefitUsage, UsageQuery, UsageReport, UsageRow};
pub use versions::{MemberVersion, MemberVersions};

/// A storage failure. Kept apart from the domain's errors: a rule never sees one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From member insight's own read-only SQLite connections.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("unsupported database url {0:?}: use sqlite://FILE or postgres://…")]
    Url(String),
    /// Syncing the write-ahead log failed: what was committed since the last sync may or may
    /// not be on disk.
    #[error("syncing the database's log to disk failed: {0}")]
    Sync(std::io::Error),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A member as stored: the profile and the points account.
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub profile: Profile,
    pub account: Account,
    /// The paid plan's benefits window, kept in step with the member's terms by the writer.
    pub plan: Option<loyalty_core::membership::Cover>,
}

/// Which growth entries of a member a write loads (see `loyalty_core::tiers::GrowthNeed`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrowthLoad {
    pub member: MemberId,
    /// Entries at or before this instant are not loaded.
    pub after: Timestamp,
    /// Entries in `(a, b]` are summed instead of loaded.
    pub summed: Option<(Timestamp, Timestamp)>,
}

/// Growth entries loaded one by one, and sums per member.
pub type LoadedGrowth = (Vec<(MemberId, loyalty_core::tiers::GrowthEntry)>, Vec<(MemberId, i64)>);

/// A manual adjustment as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub member_id: MemberId,
    pub adjustment_id: AdjustmentId,
    pub points: loyalty_core::Points,
    pub reason: String,
    pub actor: String,
    pub created_at: Timestamp,
}

/// Everything one batch changed, written in one transaction.
#[derive(Debug, Default)]
pub struct Changes {
    pub members: Vec<MemberRecord>,
    pub lots: Vec<(MemberId, Lot)>,
    pub holds: Vec<(MemberId, Hold)>,
    pub entries: Vec<(MemberId, Entry)>,
    /// New orders and orders whose totals changed.
    pub orders: Vec<Order>,
    pub new_order_keys: Vec<(OrderId, MemberId)>,
    pub refunds: Vec<(MemberId, Refund)>,
    pub adjustments: Vec<Adjustment>,
    pub growth: Vec<(MemberId, loyalty_core::tiers::GrowthEntry)>,
    pub tier_events: Vec<(MemberId, loyalty_core::tiers::TierEvent)>,
    pub actions: Vec<(MemberId, loyalty_core::tiers::Action)>,
    /// Responses kept for Idempotency-Key retries (a key already kept stays as it was).
    pub idempotency: Vec<IdemRecord>,
    /// Audit records (a record already kept under its id stays as it was).
    pub audit: Vec<AuditRecord>,
    /// Coupons issued or changed (their latest state) and their new entries.
    pub coupons: Vec<loyalty_core::coupons::Coupon>,
    pub coupon_entries: Vec<loyalty_core::coupons::CouponEntry>,
    /// One-time codes this batch redeemed.
    pub codes_redeemed: Vec<loyalty_core::coupons::code::OneTimeCode>,
    /// How many coupons of each template this batch issued.
    pub coupons_issued: Vec<(loyalty_core::ids::TemplateId, i64)>,
    /// Redemptions made or moved (their latest state), and how many units of each reward
    /// they took (a cancellation gives units back: negative).
    pub redemptions: Vec<loyalty_core::rewards::Redemption>,
    pub rewards_redeemed: Vec<(loyalty_core::ids::RewardId, i64)>,
    /// Draws made, and what they moved of each lottery's counts.
    pub draws: Vec<loyalty_core::rewards::Draw>,
    pub lottery_counts: Vec<rewards::LotteryCounts>,
    /// Memberships that changed: the row, its dirty terms and its new history entries, with
    /// when the scheduler next needs it.
    pub memberships: Vec<(loyalty_core::membership::Membership, Option<Timestamp>)>,
    /// Check-in days recorded (inserted: a day already stored is an error), and stored days
    /// whose streak a make-up moved.
    pub checkins: Vec<(MemberId, loyalty_core::engagement::Day)>,
    pub checkin_streaks: Vec<(MemberId, jiff::civil::Date, i64)>,
    /// Members' task progress rows (replaced whole) and periods completed.
    pub task_states: Vec<(MemberId, loyalty_core::engagement::TaskState)>,
    pub task_completions: Vec<tasks::Completion>,
    /// Gift rows recorded (inserted: a member's kind and period already stored is an error).
    pub gifts: Vec<loyalty_core::engagement::gifts::Gift>,
    /// Referral codes given (inserted: a second code for a member, or a code held already, is
    /// an error), and referrals in their latest state, one row each.
    pub referral_codes: Vec<(MemberId, String)>,
    pub referrals: Vec<loyalty_core::engagement::referral::Referral>,
    /// The batch's events, in the order they are logged (written last: see `events`), and the
    /// last day each member it told of expiring points was told.
    pub events: Vec<loyalty_core::events::Event>,
    pub expiry_notices: Vec<(MemberId, jiff::civil::Date)>,
}

impl Changes {
    /// Takes what changed out of `record`: the member row, dirty lots and holds, new entries.
    pub fn take_from(&mut self, record: &mut MemberRecord) {
        let id = record.account.member_id().clone();
        record.account.take_changes(|c| match c {
            AccountChange::Lot(l) => self.lots.push((id.clone(), l)),
            AccountChange::Hold(h) => self.holds.push((id.clone(), h)),
            AccountChange::Entry(e) => self.entries.push((id.clone(), e)),
            AccountChange::Growth(g) => self.growth.push((id.clone(), g)),
            AccountChange::TierEvent(e) => self.tier_events.push((id.clone(), e)),
        });
        self.members.push(record.clone());
    }
}

/// Which of a member's coupons a write loads ([`Tx::load_coupons`]).
#[derive(Debug, Clone, Default)]
pub struct CouponLoad {
    pub templates: Vec<loyalty_core::ids::TemplateId>,
    pub coupons: Vec<loyalty_core::ids::CouponId>,
    pub orders: Vec<OrderId>,
}

/// A page of a member's ledger, newest first.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    pub member_id: String,
    /// Only entries with `seq` below this one (the cursor).
    pub before_seq: Option<i64>,
    pub kinds: Vec<EntryKind>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: i64,
}

/// Who read or erased a member's personal data, when and why (`audit_log`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub member_id: MemberId,
    /// Unique per member: `erase` for the one erasure, `export:…` for each export.
    pub audit_id: String,
    /// `export` or `erase`.
    pub action: String,
    /// The key's name (`bootstrap-admin` for `LOYALTY_ADMIN_KEY`, `cli:…` from the command line).
    pub actor: String,
    pub reason: Option<String>,
    /// JSON: what was exported or removed.
    pub detail: String,
    pub at: Timestamp,
}

/// Everything the store holds about one member, read in one snapshot, for an export.
#[derive(Debug, Clone)]
pub struct MemberData {
    /// The profile and the account as loaded for reads (open lots and holds).
    pub record: MemberRecord,
    /// Every lot, oldest first.
    pub lots: Vec<Lot>,
    /// Every ledger entry, in sequence order.
    pub entries: Vec<Entry>,
    /// Every hold, oldest first.
    pub holds: Vec<Hold>,
    /// Every order, by paid time, with every refund of the member.
    pub orders: Vec<Order>,
    pub refunds: Vec<Refund>,
    pub adjustments: Vec<Adjustment>,
    pub growth: Vec<loyalty_core::tiers::GrowthEntry>,
    pub tier_events: Vec<loyalty_core::tiers::TierEvent>,
    /// Activities and free-sample claims.
    pub actions: Vec<loyalty_core::tiers::Action>,
    /// Earlier exports and the erasure.
    pub audit: Vec<AuditRecord>,
}

impl MemberData {
    /// The most rows of any one table an export reads ([`PersonalData::member_data`]).
    pub const MAX_ROWS: usize = 100_000;

    /// Whether some table of the member had more rows than [`Self::MAX_ROWS`] (then only
    /// that many were read, and the export is refused rather than given incomplete).
    pub fn exceeds_bound(&self) -> bool {
        let lens = [
            self.lots.len(),
            self.entries.len(),
            self.holds.len(),
            self.orders.len(),
            self.refunds.len(),
            self.adjustments.len(),
            self.growth.len(),
            self.tier_events.len(),
            self.actions.len(),
            self.audit.len(),
        ];
        lens.into_iter().any(|n| n > Self::MAX_ROWS)
    }
}

/// A member's personal data: the export's read and the audit log (erasures are written
/// through [`Tx::write`], like every change of a member).
#[async_trait]
pub trait PersonalData: Send + Sync {
    /// Everything held about the member, in one snapshot; `None` if there is no such member.
    /// Each table gives at most `MemberData::MAX_ROWS + 1` rows (see `exceeds_bound`).
    async fn member_data(&self, id: &MemberId) -> Result<Option<MemberData>>;
    /// The member's audit records, oldest first.
    async fn audit_log(&self, id: &MemberId) -> Result<Vec<AuditRecord>>;
}

/// A stored response to replay for a retried request with the same Idempotency-Key.
#[derive(Debug, Clone)]
pub struct IdemRecord {
    pub principal: String,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
    pub created_at: Timestamp,
}

/// Totals over the whole store, for `verify` and metrics.
#[derive(Debug, Clone, Default)]
pub struct StoreTotals {
    pub members: i64,
    pub orders: i64,
    pub entries: i64,
}

/// Opens the write transaction every change goes through ([`Tx`]).
#[async_trait]
pub trait Writes: Send + Sync {
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// Makes every commit made so far with [`Tx::commit_deferred`] durable: on SQLite, one
    /// `fdatasync` of the write-ahead log for all of them (group commit across batches); on
    /// PostgreSQL and a store in memory, nothing (their commits are durable, or never are).
    async fn sync_log(&self) -> Result<()>;
}

/// Reads of members, their ledgers and orders, for handlers, the cache, jobs and `verify`.
#[async_trait]
pub trait LedgerReads: Send + Sync {
    /// The member in full; growth entries from `growth_since` on.
    async fn member(&self, id: &MemberId, growth_since: Timestamp) -> Result<Option<MemberRecord>>;
    async fn tier_events(
        &self,
        id: &MemberId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<loyalty_core::tiers::TierEvent>>;
    async fn actions(
        &self,
        id: &MemberId,
        kind: loyalty_core::tiers::ActionKind,
        since: Timestamp,
    ) -> Result<Vec<loyalty_core::tiers::Action>>;
    async fn ledger(&self, q: &LedgerQuery) -> Result<Vec<Entry>>;
    async fn lots(&self, id: &MemberId, before: Option<i64>, limit: i64) -> Result<Vec<Lot>>;
    async fn order(&self, id: &OrderId) -> Result<Option<(Order, Vec<Refund>)>>;
    /// Members with something due by `now` (activation, expiry, hold time-out, tier review).
    async fn due_members(&self, now: Timestamp, limit: i64) -> Result<Vec<MemberId>>;
    async fn member_ids(&self, after: Option<&str>, limit: i64) -> Result<Vec<String>>;
    /// Everything `verify` replays for each member.
    async fn histories(&self, ids: &[String]) -> Result<Vec<MemberHistory>>;
    async fn totals(&self) -> Result<StoreTotals>;
}

/// An API key as listed: never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub name: String,
    pub scope: String,
    pub created_at: Timestamp,
    /// Written at most once a minute per key and process, so up to a minute behind.
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked; a revoked key no longer authenticates.
    pub revoked_at: Option<Timestamp>,
}

/// API keys, kept as hashes.
#[async_trait]
pub trait ApiKeys: Send + Sync {
    /// The name and scope of the live (not revoked) key with this hash.
    async fn api_key(&self, key_hash: &str) -> Result<Option<(String, String)>>;
    /// Stores a new key; false (and nothing stored) when a live key already has this name.
    async fn insert_api_key(&self, key_hash: &str, name: &str, scope: &str, now: Timestamp) -> Result<bool>;
    /// Up to `limit` keys, live and revoked, by name and age.
    async fn api_keys(&self, limit: i64) -> Result<Vec<ApiKeyInfo>>;
    /// Revokes every live key of this name at `now`: how many were live, and every key of the
    /// name as it now is (none: no key ever had it).
    async fn revoke_api_key(&self, name: &str, now: Timestamp) -> Result<(u64, Vec<ApiKeyInfo>)>;
    /// Records that the key was used at `at` (never moves `last_used_at` back).
    async fn touch_api_key(&self, key_hash: &str, at: Timestamp) -> Result<()>;
}

/// Kept `Idempotency-Key` responses (written through [`Tx::write`], read and purged here).
#[async_trait]
pub trait Idempotency: Send + Sync {
    async fn idem_get(&self, principal: &str, key: &str) -> Result<Option<IdemRecord>>;
    async fn idem_purge(&self, before: Timestamp) -> Result<u64>;
}

/// What the store is and its upkeep.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Copies the write-ahead log into the database file (SQLite; nothing on PostgreSQL).
    async fn checkpoint(&self) -> Result<()>;
    /// How many background checkpoint rounds have run (SQLite, about one a second; always 0 on
    /// PostgreSQL), so that tests can wait for one instead of for time.
    fn background_checkpoints(&self) -> u64;
}

/// Raw statements, for tests that need to break or inspect the store directly. Without the
/// feature `test-support` (enabled only by the test suites) the trait has no method, so a
/// product build cannot run one.
#[async_trait]
pub trait RawSql: Send + Sync {
    #[cfg(feature = "test-support")]
    async fn execute_raw(&self, sql: &str) -> Result<u64>;
}

/// Every capability of a store: what the engine, the HTTP API and the jobs are handed. Code
/// that needs one capability should ask for that trait.
pub trait Store:
    Writes
    + LedgerReads
    + ApiKeys
    + Idempotency
    + Maintenance
    + WriteProbe
    + Analytics
    + BenefitUsage
    + MemberVersions
    + PersonalData
    + Coupons
    + Rewards
    + Memberships
    + MembershipFacts
    + Checkins
    + Tasks
    + Gifts
    + Referrals
    + Sessions
    + MemberSearch
    + Events
    + RawSql
    + 'static
{
}
impl<T> Store for T where
    T: Writes
        + LedgerReads
        + ApiKeys
        + Idempotency
        + Maintenance
        + WriteProbe
        + Analytics
        + BenefitUsage
        + MemberVersions
        + PersonalData
        + Coupons
        + Rewards
        + Memberships
        + MembershipFacts
        + Checkins
        + Tasks
        + Gifts
        + Referrals
        + Sessions
        + MemberSearch
        + Events
        + RawSql
        + 'static
{
}

/// The capability traits, for `use loyalty_store::prelude::*` where a whole `Store` is used.
pub mod prelude {
    pub use crate::{
        Analytics, ApiKeys, BenefitUsage, Checkins, Coupons, Events, Gifts, Idempotency, LedgerReads, Maintenance,
        MemberSearch, MemberVersions, MembershipFacts, Memberships, PersonalData, RawSql, Referrals, Rewards, Sessions,
        Store, Tasks, WriteProbe, Writes,
    };
}

/// One write transaction. Loads take the rows they read for update where the backend can.
#[async_trait]
pub trait Tx: Send {
    /// Member rows with their open holds (and the lots those holds took from), without
    /// growth (see [`Tx::load_growth`]). Members in `full` come with every open lot. Members
    /// in `partial` only earn or advance in this transaction: they come with their pending
    /// lots and the active lots due to expire by `due_by`, and the points of the active lots
    /// left in the store are counted in `Account::unloaded_active`.
    async fn load_members(
        &mut self,
        full: &[MemberId],
        partial: &[MemberId],
        due_by: Timestamp,
    ) -> Result<HashMap<MemberId, MemberRecord>>;
    /// Growth entries of each member after its `after`, in sequence order, except those in
    /// its `summed` range, which come as one sum per member (members with none in it get none).
    async fn load_growth(&mut self, wanted: &[GrowthLoad]) -> Result<LoadedGrowth>;
    async fn load_actions(
        &mut self,
        member: &MemberId,
        kind: loyalty_core::tiers::ActionKind,
        since: Timestamp,
    ) -> Result<Vec<loyalty_core::tiers::Action>>;
    async fn find_action(
        &mut self,
        member: &MemberId,
        kind: loyalty_core::tiers::ActionKind,
        id: &str,
    ) -> Result<Option<loyalty_core::tiers::Action>>;
    async fn load_orders(&mut self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>>;
    /// All refunds of the given orders (member id, order id).
    async fn load_refunds(&mut self, orders: &[(MemberId, OrderId)]) -> Result<Vec<Refund>>;
    /// Holds by id or by order id, for commands that name them.
    async fn load_holds(&mut self, member: &MemberId, hold_ids: &[HoldId], order_ids: &[String]) -> Result<Vec<Hold>>;
    async fn load_adjustments(&mut self, keys: &[(MemberId, AdjustmentId)]) -> Result<Vec<Adjustment>>;
    /// Templates by id, held for update until the transaction ends.
    async fn load_templates(
        &mut self,
        ids: &[loyalty_core::ids::TemplateId],
    ) -> Result<HashMap<loyalty_core::ids::TemplateId, loyalty_core::coupons::Template>>;
    /// One-time codes by code, held for update until the transaction ends.
    async fn load_codes(
        &mut self,
        codes: &[String],
    ) -> Result<HashMap<String, loyalty_core::coupons::code::OneTimeCode>>;
    /// Each member's coupons that are of one of its `templates`, named in its `coupons`, or
    /// used by one of its `orders`; every member asked for has an entry.
    async fn load_coupons(
        &mut self,
        wanted: &[(MemberId, CouponLoad)],
    ) -> Result<HashMap<MemberId, Vec<loyalty_core::coupons::Coupon>>>;
    /// What member insight's latest complete run says of each of `members`, one entry each:
    /// the facts segment- and stage-gated audiences are decided on. Read in the write
    /// transaction, beside the templates and items it decides for; runs are written apart from
    /// the writer, so nothing is held.
    async fn load_insight_facts(
        &mut self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, loyalty_core::coupons::InsightFacts>>;
    /// What the batch's mall and lottery commands need, catalogue items and lotteries held
    /// for update until the transaction ends (see [`rewards::RewardLoad`]).
    async fn load_rewards(&mut self, wanted: &rewards::RewardLoad) -> Result<rewards::RewardState>;
    /// The memberships of `members` (those that have one) with every term, held for update,
    /// and when each is next due.
    async fn load_memberships(
        &mut self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, (loyalty_core::membership::Membership, Option<Timestamp>)>>;
    /// What each member saved through plans since its instant (Σ plan benefit uses).
    async fn load_plan_savings(&mut self, wanted: &[(MemberId, Timestamp)]) -> Result<HashMap<MemberId, i64>>;
    /// The check-in days of `members` from `from` on (the members' rows are held already).
    async fn load_checkins(
        &mut self,
        members: &[MemberId],
        from: jiff::civil::Date,
    ) -> Result<HashMap<MemberId, Vec<loyalty_core::engagement::Day>>>;
    /// Every active task.
    async fn load_tasks(&mut self) -> Result<Vec<loyalty_core::engagement::Task>>;
    /// The task progress of `members` (the members' rows are held already); members without
    /// progress have no entry.
    async fn load_task_states(
        &mut self,
        members: &[MemberId],
    ) -> Result<HashMap<MemberId, loyalty_core::engagement::TaskState>>;
    /// Which of `members` have an order on record (a first-order goal's question).
    async fn members_with_orders(&mut self, members: &[MemberId]) -> Result<std::collections::HashSet<MemberId>>;
    /// The gift keys (kind, period) of `members` recorded at or after `since` (the members'
    /// rows are held already).
    async fn load_gifts(
        &mut self,
        members: &[MemberId],
        since: Timestamp,
    ) -> Result<HashMap<MemberId, Vec<(loyalty_core::engagement::gifts::GiftKind, String)>>>;
    /// Who holds each of `codes` (referral codes).
    async fn load_referral_codes(&mut self, codes: &[String]) -> Result<HashMap<String, MemberId>>;
    /// The referral code of each of `members` that has one.
    async fn load_member_codes(&mut self, members: &[MemberId]) -> Result<HashMap<MemberId, String>>;
    /// Every referral row (refused attempts too) naming one of `invitees` as invitee; the
    /// members' rows are held already.
    async fn load_referrals(
        &mut self,
        invitees: &[MemberId],
    ) -> Result<Vec<loyalty_core::engagement::referral::Referral>>;
    /// How many invitees each of `referrers` had rewarded in local month `month` (YYYYMM).
    async fn load_referrer_month(&mut self, referrers: &[MemberId], month: i64) -> Result<HashMap<MemberId, i64>>;
    /// The last local day each of `members` was told of points about to expire
    /// (`points.expiring`); members never told have no entry.
    async fn load_expiry_notices(&mut self, members: &[MemberId]) -> Result<HashMap<MemberId, jiff::civil::Date>>;
    async fn write(&mut self, changes: &Changes, recorded_at: Timestamp) -> Result<()>;
    /// Commits, durable when this returns (SQLite: the log is synced to disk).
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Commits without waiting for the log to reach the disk: visible to every connection at
    /// once, safe against a crash of the process (the log is in the kernel's cache), but not
    /// yet against a power loss until [`Writes::sync_log`] returns. Whoever calls this must not
    /// acknowledge what it committed before then. PostgreSQL: the same as `commit`.
    async fn commit_deferred(self: Box<Self>) -> Result<()>;
    /// A mark that is the same in two transactions of this store only if no other connection
    /// committed between them: on SQLite, the write connection's own number and its `PRAGMA
    /// data_version`, read while it holds the write lock; `None` where there is no such mark
    /// (PostgreSQL). What a transaction read for the next one is still current when the two
    /// marks are equal.
    async fn commit_mark(&mut self) -> Result<Option<(i64, i64)>>;
}

/// Opens the store a URL names: `sqlite://FILE` (created if missing) or `postgres://…`.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::Url(url.to_owned()))
    }
}
