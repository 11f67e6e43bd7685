//! Reading `[expiry]`: the policy, then only the keys that policy uses, each refused by its own
//! key (a derived tagged enum would report every problem at `expiry` alone).

use super::{ExpiryPolicy, Period};
use crate::config_file::{in_range, keyed, named_enum, names, Named};
use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// Longest rolling expiry, in days (a hundred years).
pub const MAX_ROLLING_DAYS: i64 = 36_500;
/// Most periods an end-of-period expiry may count.
pub const MAX_PERIODS: i64 = 1200;

named_enum! {
    pub enum Policy {
        Never = "never",
        Rolling = "rolling",
        EndOfPeriod = "end_of_period",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpiry {
    policy: Option<Policy>,
    #[serde(default, deserialize_with = "days")]
    days: Option<u32>,
    period: Option<Period>,
    #[serde(default, deserialize_with = "periods")]
    periods: Option<u32>,
}

fn days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    in_range::<D, u32, 1, MAX_ROLLING_DAYS>(d).map(Some)
}
fn periods<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    in_range::<D, u32, 0, MAX_PERIODS>(d).map(Some)
}

impl<'de> Deserialize<'de> for ExpiryPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawExpiry::deserialize(d)?;
        let Some(policy) = raw.policy else {
            let reason = format!("required key is missing; expected one of {}", names::<Policy>());
            return Err(D::Error::custom(keyed("policy", reason)));
        };
        let name = policy.name();
        let required =
            |key: &str, also: &str| D::Error::custom(keyed(key, format!("required with policy = \"{name}\"{also}")));
        // A key another policy uses is refused by name, with the keys this policy takes.
        let unused = |key: &str, wanted: &str| {
            D::Error::custom(keyed(key, format!("not used with policy = \"{name}\"; expected {wanted}")))
        };
        match policy {
            Policy::Never => match (raw.days, raw.period, raw.periods) {
                (Some(_), _, _) => Err(unused("days", "policy only")),
                (_, Some(_), _) => Err(unused("period", "policy only")),
                (_, _, Some(_)) => Err(unused("periods", "policy only")),
                (None, None, None) => Ok(ExpiryPolicy::Never),
            },
            Policy::Rolling => match (raw.days, raw.period, raw.periods) {
                (_, Some(_), _) => Err(unused("period", "policy and days")),
                (_, _, Some(_)) => Err(unused("periods", "policy and days")),
                (None, _, _) => {
                    Err(required("days", &format!("; expected an integer between 1 and {MAX_ROLLING_DAYS}")))
                }
                (Some(days), None, None) => Ok(ExpiryPolicy::Rolling { days }),
            },
            Policy::EndOfPeriod => match (raw.days, raw.period, raw.periods) {
                (Some(_), _, _) => Err(unused("days", "policy, period and periods")),
                (_, None, _) => Err(required("period", &format!("; expected one of {}", names::<Period>()))),
                (_, _, None) => Err(required("periods", &format!("; expected an integer between 0 and {MAX_PERIODS}"))),
                (None, Some(period), Some(periods)) => Ok(ExpiryPolicy::EndOfPeriod { period, periods }),
            },
        }
    }
}
