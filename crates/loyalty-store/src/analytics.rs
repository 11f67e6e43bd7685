//! Read-only analytics over the store (member insight, KPIs), implemented for both backends
//! from one body of SQL like the rest of the store.

use async_trait::async_trait;

/// Aggregate reads for member insight and KPIs.
#[async_trait]
pub trait Analytics: Send + Sync {}

macro_rules! analytics_sql {
    ($store:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl crate::analytics::Analytics for $store {}
    };
}

pub(crate) use analytics_sql;
