//! The points mall's catalogue, members' redemptions, lotteries and draws (`Rewards`).
//! Redeeming, moving a redemption and drawing are changes of a batch, written through
//! [`crate::Tx::write`] with the ledger entries that pay for them; the catalogue and the
//! lotteries are created and patched here, outside the writer, with statements that keep
//! stock at or above what was redeemed and budgets at or above what was spent.

use async_trait::async_trait;
use loyalty_core::ids::{DrawId, LotteryId, MemberId, RedemptionId, RewardId};
use loyalty_core::rewards::{Draw, Lottery, Redemption, RedemptionStatus, Reward};
use std::collections::HashMap;

/// Most redemptions or draws one member's list reads.
pub const MAX_MEMBER_ROWS: i64 = 1_000;

/// What a batch loads for its mall and lottery commands ([`crate::Tx::load_rewards`]).
#[derive(Debug, Clone, Default)]
pub struct RewardLoad {
    /// Catalogue items and lotteries, held for update until the transaction ends.
    pub rewards: Vec<RewardId>,
    pub lotteries: Vec<LotteryId>,
    /// Each member's redemptions of these rewards, and these redemptions by id.
    pub redemptions: Vec<(MemberId, Vec<RewardId>, Vec<RedemptionId>)>,
    /// Each member's draws of a lottery at or after an instant, and these draws by id.
    pub draws: Vec<(MemberId, LotteryId, jiff::Timestamp, Vec<DrawId>)>,
    /// Lots by number (those a cancelled redemption gives points back to).
    pub lots: Vec<(MemberId, Vec<i64>)>,
}

/// What [`crate::Tx::load_rewards`] found.
#[derive(Debug, Clone, Default)]
pub struct RewardState {
    pub rewards: HashMap<RewardId, Reward>,
    pub lotteries: HashMap<LotteryId, Lottery>,
    pub redemptions: HashMap<MemberId, Vec<Redemption>>,
    pub draws: HashMap<MemberId, Vec<Draw>>,
    pub lots: HashMap<MemberId, Vec<loyalty_core::ledger::Lot>>,
}

/// What a batch's draws did to one lottery's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotteryCounts {
    pub lottery: LotteryId,
    pub draws: i64,
    pub spent_minor: i64,
    /// (prize id, how many more were given).
    pub given: Vec<(String, i64)>,
}

/// The mall's figures for one reward.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewardReport {
    pub redemptions: i64,
    /// Units redeemed and not cancelled, and cancelled.
    pub units: i64,
    pub cancelled_units: i64,
    /// Points spent on it, net of cancellations, and cash collected with them.
    pub points: i64,
    pub cash_minor: i64,
    /// Units left in stock (`None`: unlimited).
    pub stock_left: Option<i64>,
    /// Redemptions by status.
    pub by_status: Vec<(RedemptionStatus, i64)>,
}

/// A lottery's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LotteryReport {
    pub draws: i64,
    pub free_draws: i64,
    pub members: i64,
    pub points: i64,
    pub spent_minor: i64,
    pub fell_back: i64,
    /// (prize id, given, what they cost).
    pub prizes: Vec<(String, i64, i64)>,
}

#[async_trait]
pub trait Rewards: Send + Sync {
    /// Stores a new catalogue item; false (nothing stored) when one has its id.
    async fn insert_reward(&self, r: &Reward) -> crate::Result<bool>;
    async fn reward(&self, id: &RewardId) -> crate::Result<Option<Reward>>;
    /// Catalogue items by id, after `after`, at most `limit`.
    async fn rewards(&self, after: Option<&str>, limit: i64) -> crate::Result<Vec<Reward>>;
    /// Writes the item's name, status and stock; false when the stock is below what is
    /// redeemed by now (then nothing changed).
    async fn update_reward(&self, r: &Reward) -> crate::Result<bool>;
    /// The member's redemptions, newest first, at most `limit`.
    async fn member_redemptions(&self, member: &MemberId, limit: i64) -> crate::Result<Vec<Redemption>>;
    async fn redemption(&self, member: &MemberId, id: &RedemptionId) -> crate::Result<Option<Redemption>>;
    /// Stores a new lottery with its prizes; false (nothing stored) when one has its id.
    async fn insert_lottery(&self, l: &Lottery) -> crate::Result<bool>;
    async fn lottery(&self, id: &LotteryId) -> crate::Result<Option<Lottery>>;
    async fn lotteries(&self, after: Option<&str>, limit: i64) -> crate::Result<Vec<Lottery>>;
    /// Writes the lottery's name, status and budget; false when the budget is below what
    /// is spent by now.
    async fn update_lottery(&self, l: &Lottery) -> crate::Result<bool>;
    /// The member's draws (of `lottery` when given), newest first, at most `limit`.
    async fn member_draws(
        &self,
        member: &MemberId,
        lottery: Option<&LotteryId>,
        limit: i64,
    ) -> crate::Result<Vec<Draw>>;
    async fn draw(&self, member: &MemberId, id: &DrawId) -> crate::Result<Option<Draw>>;
    async fn reward_report(&self, id: &RewardId) -> crate::Result<RewardReport>;
    async fn lottery_report(&self, id: &LotteryId) -> crate::Result<LotteryReport>;
    /// The mall's and the lottery's invariants over the whole store, each a sentence naming
    /// the row: every reward's `redeemed` is the units of its redemptions not cancelled and
    /// within its stock; every lottery's counts are its draws'; every paid redemption and
    /// draw has its `spend` entry (and a cancelled one its `restore`) with the same points;
    /// no member's units of a reward bought in the mall and not cancelled exceed its lifetime
    /// limit, or its limit for a local day, ISO week or month (`program`'s zone) within one.
    async fn check_rewards(&self, program: &loyalty_core::Program) -> crate::Result<Vec<String>>;
}
