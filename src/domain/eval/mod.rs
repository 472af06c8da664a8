//! Evaluating prompts: the pure half. Rendering requests, hashing them for the cache, scoring
//! answers, adding up results in an order-independent way, and the statistics of a paired
//! comparison. The network, the clock and the files are the command's business.

pub mod answer;
pub mod evidence;
pub mod judge;
pub mod outcome;
pub mod record;
pub mod render;
pub mod request;
pub mod scorers;
pub mod shard;
pub mod stats;
