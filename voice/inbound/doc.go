// Package inbound turns the audio packets a Discord voice connection
// receives into per-speaker turns of 16 kHz mono PCM, the input Gemini Live
// takes, plus the two signals a spoken conversation needs: a voiced onset
// (for local barge-in) and the end of a turn (for audioStreamEnd).
//
// It starts where the connection's work ends: packets arrive transport- and
// DAVE-decrypted, with their SSRC already mapped to a user (op 5). For each
// SSRC a [Receiver] keeps one pipeline:
//
//	rate limit → reorder buffer → Opus decode (PLC, in-band FEC) → downmix
//	→ 48→16 kHz (package resample) → 20 ms chunks → voiced-onset detector
//
// and reports [Event] values: Start, Audio (20 ms chunks, in order),
// Onset, End (with a [Reason]). Everything is driven by the caller's calls
// and the times in them: [Receiver.Packet] per packet, [Receiver.Tick]
// every 10 ms (or at [Receiver.Deadline]) for loss and pause decisions,
// [Receiver.Leave] on op 13, [Receiver.Close] when the connection goes.
// There are no goroutines and no timers inside, so tests replay exact
// timelines, and a slow consumer can only slow its own caller.
//
// Bad input stays with its speaker: garbage payloads are refused before
// libopus sees them (the TOC is parsed first), floods are rate limited,
// a speaker that never pauses is cut at Config.MaxTurn, and memory is fixed
// per speaker (one decoder, one resampler, 32 payload buffers of at most
// 1500 bytes) with a bound on speakers. [Stats] counts each case.
//
// design.go explains the reorder buffer's depth, the pause gap and the
// onset detector's thresholds. BENCHMARKS.md ("Receive path") has the cost
// per speaker against libopus decoding alone.
package inbound
