// Package player turns a stream of mono PCM chunks (Gemini Live's 24 kHz
// replies) into paced Discord audio: it resamples to 48 kHz, encodes 20 ms
// stereo Opus frames as each chunk arrives, and sends them on a drift-free
// 20 ms clock to a Sink (a voice connection), with speaking on before the
// first packet, the five-frame silence tail after each turn or interruption,
// and a small refill buffer after an underrun.
//
// The sender reports what a listener experiences through Config's hooks:
// OnFirstPacket (first Write of a turn → its first packet) and OnUnderrun.
package player
