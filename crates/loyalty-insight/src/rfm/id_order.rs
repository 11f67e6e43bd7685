//! Sorting member ids byte-wise, fast.
//!
//! Comparing a million heap strings costs about a second: twenty comparisons per id, each
//! chasing two pointers. Instead the ids are sorted most-significant-chunk first: seven bytes of
//! each id at a time are packed into an integer with the chunk's length, the integers are sorted,
//! and only groups that tie move on to the next seven bytes. Each level reads every id once.

use crate::InsightError;

/// Groups this small are finished with a plain comparison sort: cheaper than another level.
const SMALL_GROUP: usize = 24;

/// Member indices ordered by id (byte-wise, a prefix before its extensions), or the first
/// duplicate id found.
pub(super) fn sort_ids(ids: &[&[u8]]) -> Result<Vec<u32>, InsightError> {
    debug_assert!(ids.len() <= u32::MAX as usize);
    let mut keyed: Vec<(u64, u32)> = (0..ids.len() as u32).map(|i| (0, i)).collect();
    // Explicit stack of (start, end, byte offset) instead of recursion: ids can be long.
    let mut pending = vec![(0, keyed.len(), 0)];
    while let Some((start, end, offset)) = pending.pop() {
        let group = &mut keyed[start..end];
        if group.len() <= SMALL_GROUP {
            group.sort_unstable_by(|a, b| tail(ids[a.1 as usize], offset).cmp(tail(ids[b.1 as usize], offset)));
            if let Some(pair) = group.windows(2).find(|w| ids[w[0].1 as usize] == ids[w[1].1 as usize]) {
                return Err(duplicate(ids[pair[0].1 as usize]));
            }
            continue;
        }
        for entry in group.iter_mut() {
            entry.0 = chunk(ids[entry.1 as usize], offset);
        }
        group.sort_unstable_by_key(|entry| entry.0);
        let mut run_start = 0;
        for run_end in 1..=group.len() {
            if run_end < group.len() && group[run_end].0 == group[run_start].0 {
                continue;
            }
            if run_end - run_start > 1 {
                // A tie on a chunk shorter than seven bytes means both ids ended: equal ids.
                if group[run_start].0 & 0xFF < 7 {
                    return Err(duplicate(ids[group[run_start].1 as usize]));
                }
                pending.push((start + run_start, start + run_end, offset + 7));
            }
            run_start = run_end;
        }
    }
    Ok(keyed.into_iter().map(|(_, index)| index).collect())
}

/// Bytes `offset..offset+7` of `id` in the top seven bytes, their count in the lowest byte, so
/// integer order is byte-wise order with a shorter chunk before a longer one it prefixes.
fn chunk(id: &[u8], offset: usize) -> u64 {
    let rest = tail(id, offset);
    let len = rest.len().min(7);
    let mut bytes = [0_u8; 8];
    bytes[..len].copy_from_slice(&rest[..len]);
    u64::from_be_bytes(bytes) | len as u64
}

fn tail(id: &[u8], offset: usize) -> &[u8] {
    id.get(offset..).unwrap_or(&[])
}

fn duplicate(id: &[u8]) -> InsightError {
    InsightError::DuplicateMemberId(String::from_utf8_lossy(id).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ids: &[&str]) {
        let bytes: Vec<&[u8]> = ids.iter().map(|s| s.as_bytes()).collect();
        let got: Vec<&str> = sort_ids(&bytes).unwrap().into_iter().map(|i| ids[i as usize]).collect();
        let mut want = ids.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn orders_like_byte_wise_string_comparison() {
        let mut ids: Vec<String> = Vec::new();
        for i in 0..300 {
            ids.push(format!("member-{:05}", (i * 7919) % 1000));
            ids.push(format!("member-{}", i * 13));
            ids.push(format!("m\u{e9}mbre-{i}"));
            ids.push("x".repeat(i % 20));
            ids.push(format!("A{}\u{0}{}", "é".repeat(i % 9), i));
        }
        ids.sort();
        ids.dedup();
        // Reverse to make the input order adversarial, then check.
        ids.reverse();
        check(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        check(&["b", "a", "", "ab", "a\u{0}", "B", "aaaaaaa", "aaaaaaaa", "aaaaaaa\u{0}"]);
    }

    #[test]
    fn reports_duplicates_in_small_and_large_groups() {
        let small: Vec<&[u8]> = vec![b"x", b"y", b"x"];
        assert_eq!(sort_ids(&small).unwrap_err(), InsightError::DuplicateMemberId("x".into()));
        let many: Vec<String> = (0..100).map(|i| format!("id-{}", i % 99)).collect();
        let bytes: Vec<&[u8]> = many.iter().map(|s| s.as_bytes()).collect();
        assert_eq!(sort_ids(&bytes).unwrap_err(), InsightError::DuplicateMemberId("id-0".into()));
        let long: Vec<String> = (0..100).map(|i| format!("{}{}", "p".repeat(40), i % 50)).collect();
        let bytes: Vec<&[u8]> = long.iter().map(|s| s.as_bytes()).collect();
        assert!(sort_ids(&bytes).is_err());
    }
}
