//! Tie-break keys: the weight below one point that makes the optimum unique (a hash of each
//! (household, unit) pair, or a published lottery), and the hashes they are made of.

use super::TIE_BITS;

/// Deterministic 64-bit mix (splitmix64 finaliser).
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of a string, mixed.
pub fn hash_str(s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

/// Column key of a row's private "stay unmatched" option.
pub const UNMATCHED_KEY: u64 = 0x5eed_0f0f_f1ce;

/// A row's tie-break key and the rule it is read under: a hash of the household id (policy
/// v1), or the household's published lottery number (policies with a `lottery_seed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowKey {
    pub key: u64,
    pub lottery: bool,
}

impl RowKey {
    /// The key of household `id` under a policy with (or without) a lottery seed.
    pub fn of(seed: Option<&str>, id: &str) -> Self {
        match seed {
            Some(seed) => RowKey {
                key: lottery_key(seed, id),
                lottery: true,
            },
            None => RowKey {
                key: hash_str(id),
                lottery: false,
            },
        }
    }
}

/// The household's lottery key: the first 8 bytes (big-endian) of SHA-256 of
/// `seed + "\n" + id`; its lottery number is the top 16 bits.
pub fn lottery_key(seed: &str, id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update(b"\n");
    h.update(id.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Tie-break weight of a (row, column key) pair. Pair rule: a hash of both keys. Lottery rule:
/// the household's lottery number (16 bits) above a 24-bit hash of the pair, and nothing for
/// staying unmatched, so that among allocations of equal points the one housing the higher
/// lottery numbers wins, and the pair's bits decide only what the numbers leave open.
#[inline]
pub fn tie(row: RowKey, col_key: u64) -> u64 {
    let pair = mix(row.key.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ col_key);
    if !row.lottery {
        return pair >> (64 - TIE_BITS);
    }
    if col_key == UNMATCHED_KEY {
        return 0;
    }
    ((row.key >> (64 - LOTTERY_BITS)) << (TIE_BITS - LOTTERY_BITS))
        | (pair >> (64 - (TIE_BITS - LOTTERY_BITS)))
}

/// Bits of the lottery number in a lottery tie-break.
pub const LOTTERY_BITS: u32 = 16;
