// Package player turns a stream of mono PCM chunks (Gemini Live's 24 kHz
// replies) into paced Discord audio: it resamples to 48 kHz, encodes 20 ms
// stereo Opus frames and sends them on a drift-free 20 ms clock to a Sink (a
// voice connection), with speaking on before the first packet, the
// five-frame silence tail after each turn or interruption, and a small
// refill buffer after an underrun.
//
// Encoding is just in time. Write only resamples and queues PCM frames; one
// scheduler shared by every Player (sched.go: at most GOMAXPROCS worker
// goroutines, earliest deadline first) encodes each frame a few slots before
// its send time. Live delivers a reply at about twice real time, and
// encoding as it arrives made bursts of twice a stream's steady CPU that
// starved the senders; encoding to the clock keeps each stream at 50 frames
// a second whatever the producer does, so one core carries streams up to
// what libopus itself costs (BENCHMARKS.md, section voice). Two exceptions
// keep latency: the first frame of a turn is encoded at once in Write, and a
// sender whose frame is not ready at its slot (an overloaded core) encodes
// it itself, counted in Stats.InlineEncodes.
//
// The encoder runs at Config.Complexity (DefaultComplexity, 5, with the
// voice signal hint) and exists only while the player speaks: an idle
// player holds no encoder, queue or reply PCM.
//
// The sender reports what a listener experiences through Config's hooks:
// OnFirstPacket (first Write of a turn → its first packet) and OnUnderrun.
package player
