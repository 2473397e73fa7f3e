package inbound

import (
	"fmt"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/resample"
)

// maxPayload bounds a stored Opus payload: a packet must fit a UDP datagram
// on an Ethernet path anyway, and bounding it bounds a speaker's memory.
const maxPayload = 1500

// speaker is one SSRC's pipeline: rate limit → jitter buffer → Opus decode
// (with PLC and FEC) → downmix → 48→16 kHz → 20 ms chunks → onset detector,
// with the turn (start, pause, cap) around it. Its memory is fixed when it
// is made: window payload buffers, one decoder, one resampler, scratch.
type speaker struct {
	cfg  *Config
	ssrc uint32
	user string

	jb  jitter
	dec *gopus.Decoder
	rs  *resample.Resampler
	vad onsetDetector

	mono []int16 // downmix scratch
	pend []int16 // 16 kHz output short of a whole chunk

	frameSamples int // per channel at 48 kHz of the last decoded packet: a PLC frame's length

	inTurn      bool
	capped      bool // turn cut at MaxTurn: drop packets until a pause
	turnSamples int  // 16 kHz samples reported in this turn
	maxSamples  int

	lastPacket, lastVoice time.Time

	tokens   float64 // 48 kHz samples of audio the speaker may still send
	tokensAt time.Time
}

func newSpeaker(cfg *Config, ssrc uint32, user string, now time.Time) (*speaker, error) {
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		return nil, fmt.Errorf("inbound: opus decoder: %w", err)
	}
	rs, err := resample.New(48000, SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("inbound: resampler: %w", err)
	}
	return &speaker{
		cfg: cfg, ssrc: ssrc, user: user,
		jb:           newJitter(cfg.Depth, cfg.MaxDepth),
		dec:          dec,
		rs:           rs,
		vad:          newOnsetDetector(),
		mono:         make([]int16, maxPacketSamples),
		pend:         make([]int16, 0, ChunkSamples+rs.OutLen(maxPacketSamples)+rs.FlushLen()),
		frameSamples: 960,
		maxSamples:   int(cfg.MaxTurn.Seconds() * SampleRate),
		lastPacket:   now,
		tokens:       cfg.RateBurst.Seconds() * 48000,
		tokensAt:     now,
	}, nil
}

func (sp *speaker) packet(dst []Event, p Packet, st *Stats) []Event {
	now := p.Arrival
	n, err := packetSamples(p.Opus)
	if err != nil || len(p.Opus) > maxPayload {
		st.Malformed++
		return dst
	}
	if d := now.Sub(sp.tokensAt); d > 0 {
		burst := sp.cfg.RateBurst.Seconds() * 48000
		sp.tokens = min(sp.tokens+d.Seconds()*48000*sp.cfg.RateFactor, burst)
		sp.tokensAt = now
	}
	if sp.tokens < float64(n) {
		st.RateLimited++
		return dst
	}
	sp.tokens -= float64(n)
	sp.lastPacket = now
	if len(p.Opus) > 3 { // anything longer than a silence or DTX frame
		sp.lastVoice = now
	}
	if sp.capped {
		st.CappedFrames++
		return dst
	}
	switch sp.jb.push(p.Sequence, p.Opus, n, now) {
	case pushDuplicate:
		st.Duplicates++
		return dst
	case pushLate:
		st.Late++
		return dst
	case pushRestart:
		dst = sp.drain(dst, now, true, st)
		sp.jb.clear()
		sp.jb.push(p.Sequence, p.Opus, n, now)
		st.Restarts++
	}
	st.Packets++
	return sp.drain(dst, now, false, st)
}

// drain decodes whatever the jitter buffer releases.
func (sp *speaker) drain(dst []Event, now time.Time, force bool, st *Stats) []Event {
	for !sp.capped {
		act, payload, n := sp.jb.pop(now, force)
		switch act {
		case actNone:
			return dst
		case actPlay:
			pcm, err := sp.dec.Decode(payload, n, false)
			if err != nil {
				st.Malformed++
				continue
			}
			st.Frames++
			sp.frameSamples = len(pcm) / 2
			if !sp.inTurn && len(payload) <= 3 {
				continue // silence outside a turn: decoded only to keep state
			}
			dst = sp.audio(dst, now, pcm, st)
		case actFEC, actPLC:
			if !sp.inTurn {
				continue // nothing to conceal before the turn's first audio
			}
			var pcm []int16
			var err error
			if act == actFEC && hasFEC(payload) && !sp.cfg.noFEC { // SILK or hybrid: may carry FEC
				pcm, err = sp.dec.Decode(payload, n, true)
				st.FECRecovered++
			} else {
				pcm, err = sp.dec.Decode(nil, sp.frameSamples, false)
				st.Concealed++
			}
			if err != nil {
				st.Malformed++
				continue
			}
			dst = sp.audio(dst, now, pcm, st)
		}
	}
	sp.jb.clear()
	return dst
}

// audio downmixes and resamples one decoded 48 kHz stereo frame and
// reports the whole chunks it completes.
func (sp *speaker) audio(dst []Event, now time.Time, stereo []int16, st *Stats) []Event {
	if !sp.inTurn {
		sp.inTurn, sp.turnSamples = true, 0
		st.Turns++
		dst = append(dst, Event{Kind: Start, SSRC: sp.ssrc, UserID: sp.user, At: now})
	}
	m := sp.mono[:len(stereo)/2]
	for i := range m {
		m[i] = int16((int32(stereo[2*i]) + int32(stereo[2*i+1])) >> 1)
	}
	sp.pend = sp.rs.Process(sp.pend, m)
	for len(sp.pend) >= ChunkSamples {
		if sp.turnSamples+ChunkSamples > sp.maxSamples {
			st.CappedTurns++
			sp.pend = sp.pend[:0]
			sp.rs.Reset()
			dst = sp.end(dst, now, Capped)
			sp.capped = true
			return dst
		}
		dst = sp.chunk(dst, now, ChunkSamples, st)
	}
	return dst
}

// chunk reports the first n pending samples.
func (sp *speaker) chunk(dst []Event, now time.Time, n int, st *Stats) []Event {
	pcm := append([]int16(nil), sp.pend[:n]...)
	sp.pend = sp.pend[:copy(sp.pend, sp.pend[n:])]
	sp.turnSamples += n
	dst = append(dst, Event{Kind: Audio, SSRC: sp.ssrc, UserID: sp.user, PCM: pcm, At: now})
	if sp.vad.feed(pcm) {
		st.Onsets++
		dst = append(dst, Event{Kind: Onset, SSRC: sp.ssrc, UserID: sp.user, At: now})
	}
	return dst
}

func (sp *speaker) end(dst []Event, now time.Time, why Reason) []Event {
	sp.inTurn = false
	sp.vad.reset()
	return append(dst, Event{Kind: End, SSRC: sp.ssrc, UserID: sp.user, Reason: why, At: now})
}

// finish releases everything held, reports the turn's tail and ends it.
func (sp *speaker) finish(dst []Event, now time.Time, why Reason, st *Stats) []Event {
	dst = sp.drain(dst, now, true, st)
	if !sp.inTurn {
		return dst
	}
	sp.pend = sp.rs.Flush(sp.pend)
	for len(sp.pend) > 0 {
		dst = sp.chunk(dst, now, min(len(sp.pend), ChunkSamples), st)
	}
	return sp.end(dst, now, why)
}

func (sp *speaker) tick(dst []Event, now time.Time, st *Stats) []Event {
	dst = sp.drain(dst, now, false, st)
	quiet := now.Sub(sp.lastVoice) >= sp.cfg.PauseGap
	if sp.inTurn && quiet {
		dst = sp.finish(dst, now, Paused, st)
	}
	if sp.capped && quiet {
		sp.capped = false
		sp.dec.ResetState() // the packets since the cap were never decoded
	}
	return dst
}

// deadline is when tick next has a decision to make, or zero.
func (sp *speaker) deadline() time.Time {
	t := sp.jb.deadline()
	if sp.inTurn || sp.capped {
		if p := sp.lastVoice.Add(sp.cfg.PauseGap); t.IsZero() || p.Before(t) {
			t = p
		}
	}
	return t
}
