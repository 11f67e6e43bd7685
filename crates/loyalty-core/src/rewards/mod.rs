//! What members spend points on besides orders: the points mall's catalogue (`catalogue`), a
//! member's redemptions (`redemption`) and the points lottery (`lottery`). Pure, like the rest
//! of the core: every rule takes `now` and the state it needs; points move through
//! `Account::spend` and `Account::restore`, in the caller's transaction.

pub mod catalogue;
pub mod lottery;
pub mod redemption;

pub use catalogue::{Reward, RewardInput, RewardItem, RewardPatch};
pub use lottery::{Draw, Lottery, LotteryInput, LotteryPatch, PrizeInput, PrizeItem};
pub use redemption::{redeem, Address, Move, Moved, Redemption, RedemptionRequest, RedemptionStatus};

#[cfg(test)]
mod tests;
