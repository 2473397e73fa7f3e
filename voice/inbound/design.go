package inbound

import "time"

// Jitter buffer.
//
// The audio goes to a speech recogniser (Gemini Live), not to a loudspeaker,
// so there is no playout clock and no reason to smooth arrival times: Live
// takes audio at whatever pace it comes. The buffer therefore only restores
// order. A packet whose predecessors are all in is released at once, so
// in-order audio gains no latency at all (the median case, and the case
// barge-in and the end-of-turn latency depend on). Only a gap costs time:
// the later packets wait for the missing one for defaultDepth, then it is
// concealed.
//
//   - defaultDepth 40 ms (two frames): reordering on Discord's path (client →
//     SFU → us, one UDP hop each way) is rare and, when it happens, a packet
//     is overtaken by the next one or two, a few ms apart. 40 ms catches
//     those; a packet later than that is as good as lost for a
//     conversation anyway. Waiting costs latency only when a packet really
//     is missing.
//   - adaptive: a packet that arrives after its frame was concealed raises
//     the wait by depthStep (20 ms) up to defaultMaxDepth (120 ms, where a
//     reply would start to feel late); depthDecay (10 s) without that and it
//     comes back down a step. A path that reorders a lot earns a deeper
//     buffer; a clean one keeps the shallow one.
//   - maxHeld 6: if six later packets (120 ms of audio) have arrived, the
//     missing one is given up on at once, whatever the clock says, so a burst
//     after a stall does not wait for the timer.
//   - window 32 (jitter.go): the furthest ahead a packet may be stored; a
//     jump further means a restart (or an outage longer than 640 ms, which
//     concealment could not paper over).
//
// Loss: a missing frame whose successor is in and is SILK or hybrid (the
// modes Discord's voice uses, and the only ones with in-band FEC) is decoded
// from that successor's FEC data (libopus falls back to concealment when
// the packet carries none); otherwise Opus PLC produces a frame as long as
// the last decoded one. Concealed frames keep the turn's timeline intact.
const (
	defaultDepth    = 40 * time.Millisecond
	defaultMaxDepth = 120 * time.Millisecond
	depthStep       = 20 * time.Millisecond
	depthDecay      = 10 * time.Second
	maxHeld         = 6
)

// Turns.
//
//   - defaultPauseGap 400 ms: Discord clients stop sending when their own
//     voice gate closes (after its hangover and five silence frames), so
//     "no voice packet for a while" is the only end-of-speech signal, and
//     Live ends a turn only on audio or audioStreamEnd. Pauses inside a
//     sentence are mostly under 300 ms and are mostly bridged by the
//     client's hangover already; 400 ms more ends a turn a little after a
//     person stops, about when they expect a reply to start, and every ms
//     added here is added to the bot's reply latency.
//   - defaultMaxTurn 60 s: a stuck open microphone (music, a TV) must not hold
//     the model forever; a minute is longer than anyone speaks to a voice
//     assistant in one breath.
//   - rate: a client sends 1× real time; a burst after a network stall can
//     bring up to a second at once. defaultRateFactor 1.5 and
//     defaultRateBurst 1 s accept both and bound a flood to 1.5× the work of
//     a real speaker.
//   - defaultMaxSpeakers 64 and defaultIdleTimeout 2 min bound memory per
//     connection. A speaker measures about 55 KB (TestMemoryPerSpeaker:
//     libopus decoder, resampler history, scratch, 32 payload buffers grown
//     to the packets seen), at most about 110 KB with every buffer at the
//     1500-byte payload limit: 64 speakers stay under 7 MB.
const (
	defaultPauseGap    = 400 * time.Millisecond
	defaultMaxTurn     = 60 * time.Second
	defaultRateFactor  = 1.5
	defaultRateBurst   = time.Second
	defaultMaxSpeakers = 64
	defaultIdleTimeout = 2 * time.Minute
)

// Voiced-onset detector (onset.go), on the 16 kHz output in 10 ms hops.
//
// It must fire within 100 ms of voiced speech (barge-in) and not on
// keyboard clicks, breathing or comfort noise. Discord clients gate and
// noise-suppress before sending, so what arrives is mostly speech, with
// the occasional click or breath that opened the gate, and silence frames.
//
//   - level: a hop's energy must be onsetSNRDB (12 dB) above the tracked
//     noise floor and above minLevelDB (-50 dBFS; speech in Discord sits
//     around -35 to -15 dBFS RMS). 12 dB is well clear of a noise floor's
//     own hop-to-hop wobble (±3 dB) and well below a vowel's excess over
//     any floor a call is usable with.
//   - floor: follows the quietest hop down at once and rises floorRiseDB per
//     hop (6 dB/s) otherwise, so steady noise (comfort noise, fans) becomes
//     the floor within seconds while a 2 s utterance raises it by less than
//     its own dynamics. It starts at floorStartDB (-70 dBFS) because a
//     stream usually starts with speech, not with noise to learn from.
//   - periodicity: voiced speech is periodic at its pitch (60–400 Hz);
//     noise, breath and clicks are not. A hop must have a normalised
//     autocorrelation peak of periodicityMin (0.55) over those lags (on the
//     last 30 ms at 8 kHz). Noise of this window length peaks around 0.3
//     by chance; sustained vowels reach 0.8–0.95.
//   - onsetHops 3 of the last 4 hops voiced: a click (under 20 ms) cannot
//     make three, a vowel makes them in 30 ms, leaving most of the 100 ms
//     budget for the 20 ms packet, the network and the sender.
//   - hangover: once onset is reported, the talkspurt lasts until hangHops
//     (25 hops, 250 ms) fall below the floor + hangSNRDB (6 dB): gaps
//     between words do not re-trigger, a new sentence after a real pause
//     does. Only the first onset of a talkspurt is reported.
const (
	onsetSNRDB     = 12.0
	hangSNRDB      = 6.0
	minLevelDB     = -50.0
	floorStartDB   = -70.0
	floorRiseDB    = 0.06
	floorMaxDB     = -20.0
	periodicityMin = 0.55
	onsetHops      = 3
	hangHops       = 25
)
