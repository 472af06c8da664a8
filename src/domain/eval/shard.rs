//! `--shard K/N`: a stable split of a task's examples by a hash of their ids, so every CI
//! matrix job takes the same examples on every run whatever order the file lists them in.

use sha2::{Digest, Sha256};

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A `--shard` value that is not `K/N` with 1 ≤ K ≤ N.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{0}` is not K/N (for example 2/4)")]
    Shape(String),
    #[error("`{0}`: K is not a whole number")]
    Index(String),
    #[error("`{0}`: N is not a whole number")]
    Count(String),
    #[error("`{0}`: K must be between 1 and N, and N at least 1")]
    Range(String),
}

impl Shard {
    /// Reads `K/N` with 1 ≤ K ≤ N.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| ShardError::Shape(text.to_owned()))?;
        let index: u32 = index
            .trim()
            .parse()
            .map_err(|_| ShardError::Index(text.to_owned()))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| ShardError::Count(text.to_owned()))?;
        if count == 0 || index == 0 || index > count {
            return Err(ShardError::Range(text.to_owned()));
        }
        Ok(Shard { index, count })
    }

    /// Whether the example with this id belongs to this shard.
    pub fn contains(self, id: &str) -> bool {
        let digest = Sha256::digest(id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_in_exactly_one_shard() {
        for count in 1..=5 {
            for n in 0..200 {
                let id = format!("example-{n}");
                let owners = (1..=count)
                    .filter(|index| {
                        Shard {
                            index: *index,
                            count,
                        }
                        .contains(&id)
                    })
                    .count();
                assert_eq!(owners, 1, "{id} with {count} shards");
            }
        }
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
