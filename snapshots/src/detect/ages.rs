//! The `@ages/<name>` chunks of a change-detection record: each
//! component's recorded ages, grouped by age, with the uids of a group
//! stored as gaps (`docs/FORMAT.md`).

use dizzy_components::codec;

/// One group of an `@ages/<name>` chunk: changed age, added age, and the
/// uids of the values with those ages, ascending, each stored as its gap
/// from the one before (the first from zero).
type AgeGroup = (u32, Option<u32>, Vec<u64>);

/// Encodes one component's recorded ages as the payloads of `@ages/<name>`
/// chunks of about `target` bytes each: the values grouped by (changed,
/// added) age, each group's uids sorted and stored as gaps. A tick changes
/// values at a few ages at most, and the uids of values changed together
/// lie close, so a value costs a byte or two (eleven keyed by uid).
pub(crate) fn encode_ages(
    values: &[(u64, u32, Option<u32>)],
    target: usize,
    mut emit: impl FnMut(Vec<u8>) -> Result<(), codec::CodecError>,
) -> Result<(), codec::CodecError> {
    // A handful of distinct ages: a linear search finds each value's.
    let mut by_age: Vec<((u32, Option<u32>), Vec<u64>)> = Vec::new();
    for &(uid, changed, added) in values {
        let key = (changed, added);
        match by_age.iter_mut().find(|(k, _)| *k == key) {
            Some((_, uids)) => uids.push(uid),
            None => by_age.push((key, vec![uid])),
        }
    }
    by_age.sort_unstable_by_key(|(k, _)| *k);
    let mut groups: Vec<AgeGroup> = Vec::new();
    let mut bytes = 0usize;
    for ((changed, added), mut uids) in by_age {
        uids.sort_unstable();
        let mut last = None;
        for uid in uids {
            match (groups.last_mut(), last) {
                (Some(g), Some(prev)) => {
                    let gap = uid - prev;
                    bytes += varint_len(gap);
                    g.2.push(gap);
                }
                _ => {
                    groups.push((changed, added, vec![uid]));
                    bytes += 12 + varint_len(uid);
                }
            }
            last = Some(uid);
            if bytes >= target {
                emit(codec::encode(&groups)?)?;
                groups.clear();
                bytes = 0;
                last = None;
            }
        }
    }
    if !groups.is_empty() {
        emit(codec::encode(&groups)?)?;
    }
    Ok(())
}

/// The bytes bincode's varint takes for `v`.
fn varint_len(v: u64) -> usize {
    match v {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Decodes the payload of an `@ages/<name>` chunk (see [`encode_ages`])
/// into `out`: uid, changed age, added age.
///
/// # Errors
/// A payload that does not decode, or whose gaps pass `u64::MAX`.
pub(crate) fn decode_ages(
    payload: &[u8],
    out: &mut Vec<(u64, u32, Option<u32>)>,
) -> Result<(), String> {
    let groups: Vec<AgeGroup> = codec::decode(payload).map_err(|e| e.to_string())?;
    for (changed, added, gaps) in groups {
        let mut uid = 0u64;
        for (i, gap) in gaps.into_iter().enumerate() {
            uid = uid
                .checked_add(gap)
                .ok_or_else(|| format!("uid gap {i} passes the largest uid"))?;
            out.push((uid, changed, added));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: &[(u64, u32, Option<u32>)], target: usize) -> (usize, usize) {
        let mut payloads = Vec::new();
        encode_ages(values, target, |p| {
            payloads.push(p);
            Ok(())
        })
        .unwrap();
        let mut back = Vec::new();
        for p in &payloads {
            decode_ages(p, &mut back).unwrap();
        }
        let mut expected = values.to_vec();
        expected.sort_unstable();
        back.sort_unstable();
        assert_eq!(back, expected, "target {target}");
        (payloads.len(), payloads.iter().map(Vec::len).sum())
    }

    #[test]
    fn ages_round_trip_in_chunks_of_any_size() {
        // Uids in no order, three ages, a gap of every varint width, the
        // largest uid.
        let mut values = Vec::new();
        for i in 0..1000u64 {
            let uid = (i * 7919) % 1000 + 1;
            values.push((uid, (i % 3) as u32, (i % 2 == 0).then_some(2)));
        }
        values.extend([
            (5_000, 1, None),
            (80_000, 1, None),
            (1 << 40, 1, None),
            (u64::MAX, 1, None),
        ]);
        let (one, bytes) = round_trip(&values, 1 << 20);
        assert_eq!(one, 1);
        assert!(
            bytes < 2 * values.len(),
            "{bytes} bytes for {}",
            values.len()
        );
        for target in [1, 2, 17, 100, 1000] {
            let (chunks, _) = round_trip(&values, target);
            assert!(chunks > 1, "target {target}: {chunks} chunk(s)");
        }
        round_trip(&[], 64);
    }

    #[test]
    fn gaps_past_the_largest_uid_are_an_error() {
        let groups: Vec<AgeGroup> = vec![(1, None, vec![u64::MAX, 1])];
        let payload = codec::encode(&groups).unwrap();
        let err = decode_ages(&payload, &mut Vec::new()).unwrap_err();
        assert!(err.contains("gap 1"), "{err}");
        assert!(decode_ages(&payload[..payload.len() - 1], &mut Vec::new()).is_err());
    }
}
