// Package opusq measures what the player's Opus encoder costs and how it
// sounds, so its settings are chosen by measurement: per-frame encode cost
// and decoded quality for each complexity, the streams-per-core floor that
// cost implies, and the send-side syscall cost the player's sender pays.
//
// Most of it is in the tests and benchmarks (BENCHMARKS.md, section "opus",
// has the figures and the commands). The non-test code is what the player
// and its benchmarks need at run time: [SetComplexity], since
// layeh.com/gopus has no setter for it, [EncodeCost] and [Floor].
package opusq
