//! `crate::versions` on this backend.

use super::dialect::*;

#[async_trait::async_trait]
impl crate::versions::MemberVersions for StoreImpl {
    async fn member_versions(
        &self,
        ids: &[loyalty_core::ids::MemberId],
    ) -> crate::Result<std::collections::HashMap<loyalty_core::ids::MemberId, crate::versions::MemberVersion>> {
        use sqlx::{QueryBuilder, Row};
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(crate::convert::IN_CHUNK) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT member_id, next_seq, next_growth_seq, next_tier_seq, updated_at FROM members WHERE member_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.as_str().to_owned());
            }
            qb.push(")");
            for r in qb.build().fetch_all(&self.pool).await? {
                let raw: String = r.try_get("member_id")?;
                let id =
                    loyalty_core::ids::MemberId::parse(&raw).map_err(|e| crate::convert::corrupt("members", e.0))?;
                let v = (
                    r.try_get("next_seq")?,
                    r.try_get("next_growth_seq")?,
                    r.try_get("next_tier_seq")?,
                    r.try_get("updated_at")?,
                );
                out.insert(id, v);
            }
        }
        Ok(out)
    }
}
