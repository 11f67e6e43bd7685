//! Member versions (the counters the member cache orders entries by), read in bulk so that
//! the cache can confirm many entries are still current with one query instead of reloading
//! each member.

use async_trait::async_trait;
use loyalty_core::ids::MemberId;
use std::collections::HashMap;

/// `(next_seq, next_growth_seq, next_tier_seq, updated_at µs)`: every change to a member's
/// points, growth, tier or profile moves one of them.
pub type MemberVersion = (i64, i64, i64, i64);

#[async_trait]
pub trait MemberVersions: Send + Sync {
    /// The current version of each of `ids` that exists.
    async fn member_versions(&self, ids: &[MemberId]) -> crate::Result<HashMap<MemberId, MemberVersion>>;
}
