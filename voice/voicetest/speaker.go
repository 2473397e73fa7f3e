package voicetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"layeh.com/gopus"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/internal/wire"
)

// Speaker is a member of a call that speaks, as a Discord client does: its
// own voice connection (package voice, with DAVE when the server plays
// DAVE) and SSRC, op 5 before its audio, 20 ms Opus frames, five silence
// frames when it stops, and nothing at all through the pauses its voice
// gate closes on.
type Speaker struct {
	s      *Server
	user   string
	conn   *voice.Conn
	dave   *voice.DAVE // nil without DAVE
	enc    *gopus.Encoder
	stereo []int16
}

// Join seats userID in the call (guildID, channelID) as a Speaker. With
// Options.DAVE the user and channel ids must be numeric (DAVE's MLS
// identities are). A Speaker hears nothing: as for a self-deafened Discord
// client, the server relays no audio to it, so a call with many speakers
// costs the emulator only what the others receive. Close makes it leave.
func (s *Server) Join(ctx context.Context, guildID, channelID, userID string) (*Speaker, error) {
	s.mu.Lock()
	s.deaf[userID] = true
	s.mu.Unlock()
	g := s.Grant(guildID, channelID, userID, "speaker-"+userID)
	cfg := voice.Config{Server: g, UserID: userID, GuildID: guildID, ChannelID: channelID, TLSConfig: s.ClientTLS(), Logger: s.log}
	sp := &Speaker{s: s, user: userID, stereo: make([]int16, 2*wire.FrameSamples)}
	if s.opts.DAVE != nil {
		uid, err1 := strconv.ParseUint(userID, 10, 64)
		cid, err2 := strconv.ParseUint(channelID, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("voicetest: speaker: dave needs numeric ids: %w", err)
		}
		d, err := voice.NewDAVE(uid, cid, s.log)
		if err != nil {
			return nil, fmt.Errorf("voicetest: speaker: %w", err)
		}
		sp.dave, cfg.E2EE = d, d
	}
	enc, err := gopus.NewEncoder(48000, 2, gopus.Voip)
	if err != nil {
		return nil, fmt.Errorf("voicetest: speaker: opus encoder: %w", err)
	}
	enc.SetBitrate(64000)
	sp.enc = enc
	if sp.conn, err = voice.Dial(ctx, cfg); err != nil {
		return nil, fmt.Errorf("voicetest: speaker %s: %w", userID, err)
	}
	return sp, nil
}

// UserID returns the speaker's user id.
func (sp *Speaker) UserID() string { return sp.user }

// Conn returns the speaker's voice connection, for tests that send odd
// frames (WriteOpus faster than real time, bytes that are not Opus).
func (sp *Speaker) Conn() *voice.Conn { return sp.conn }

// Close leaves the call.
func (sp *Speaker) Close() error { return sp.conn.Close() }

// WaitReady waits until the speaker's frames are heard: its DAVE group has
// formed (at once without DAVE).
func (sp *Speaker) WaitReady(ctx context.Context) error {
	if sp.dave == nil {
		return nil
	}
	return sp.dave.WaitReady(ctx)
}

// SpeakOptions shapes how a Speaker sends.
type SpeakOptions struct {
	// Interval between frames (default 20 ms, real time); shorter floods.
	Interval time.Duration
	// Gate closes the speaker's voice gate through quiet stretches of the
	// PCM, as Discord clients do: after GateHangover of frames below
	// GateLevel (default -45 dBFS RMS) it sends five silence frames and
	// stops sending (and op 5 speaking 0) until the voice returns.
	Gate         bool
	GateLevel    float64       // dBFS
	GateHangover time.Duration // default 200 ms
}

// Speak sends pcm (48 kHz mono, the rate of package audio/speech) as the
// speaker's voice: op 5, 20 ms Opus frames paced on a drift-free clock,
// five silence frames at the end, op 5 speaking 0. It waits for the DAVE
// group first and returns when the last frame has gone, or ctx ends.
func (sp *Speaker) Speak(ctx context.Context, pcm []int16, o SpeakOptions) error {
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.GateLevel == 0 {
		o.GateLevel = -45
	}
	if o.GateHangover <= 0 {
		o.GateHangover = 200 * time.Millisecond
	}
	if err := sp.WaitReady(ctx); err != nil {
		return err
	}
	hang := int(o.GateHangover / (20 * time.Millisecond))
	start := time.Now()
	slot := 0
	wait := func() error {
		slot++
		d := time.Until(start.Add(time.Duration(slot) * o.Interval))
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	open, quiet := false, 0
	for off := 0; off < len(pcm); off += wire.FrameSamples {
		frame := pcm[off:min(off+wire.FrameSamples, len(pcm))]
		loud := !o.Gate || rmsDB(frame) >= o.GateLevel
		if loud {
			quiet = 0
		} else {
			quiet++
		}
		if open && o.Gate && quiet > hang {
			if err := sp.silence(ctx, wait); err != nil {
				return err
			}
			open = false
		}
		if !open && loud {
			if err := sp.conn.SetSpeaking(ctx, true); err != nil {
				return err
			}
			open = true
		}
		if open {
			if err := sp.send(frame); err != nil {
				return err
			}
		}
		if err := wait(); err != nil {
			return err
		}
	}
	if open {
		return sp.silence(ctx, wait)
	}
	return nil
}

// SpeakOpus sends frames (20 ms Opus each, encoded beforehand, so a test
// that seats many speakers spends no time encoding) as Speak does: op 5,
// paced frames, the silence tail, op 5 speaking 0. o.Gate is not used.
func (sp *Speaker) SpeakOpus(ctx context.Context, frames [][]byte, o SpeakOptions) error {
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if err := sp.WaitReady(ctx); err != nil {
		return err
	}
	start := time.Now()
	slot := 0
	wait := func() error {
		slot++
		d := time.Until(start.Add(time.Duration(slot) * o.Interval))
		if d <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	if err := sp.conn.SetSpeaking(ctx, true); err != nil {
		return err
	}
	for _, f := range frames {
		if err := sp.conn.WriteOpus(f); err != nil {
			return err
		}
		if err := wait(); err != nil {
			return err
		}
	}
	return sp.silence(ctx, wait)
}

// EncodeOpus encodes 48 kHz mono pcm into 20 ms stereo Opus frames as a
// Discord client does (VoIP mode, 64 kb/s), for SpeakOpus.
func EncodeOpus(pcm []int16) ([][]byte, error) {
	enc, err := gopus.NewEncoder(48000, 2, gopus.Voip)
	if err != nil {
		return nil, fmt.Errorf("voicetest: opus encoder: %w", err)
	}
	enc.SetBitrate(64000)
	stereo := make([]int16, 2*wire.FrameSamples)
	var out [][]byte
	for off := 0; off < len(pcm); off += wire.FrameSamples {
		clear(stereo)
		for i, v := range pcm[off:min(off+wire.FrameSamples, len(pcm))] {
			stereo[2*i], stereo[2*i+1] = v, v
		}
		f, err := enc.Encode(stereo, wire.FrameSamples, 1275)
		if err != nil {
			return nil, fmt.Errorf("voicetest: opus: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// silence sends the five silence frames and op 5 speaking 0.
func (sp *Speaker) silence(ctx context.Context, wait func() error) error {
	for i := 0; i < 5; i++ {
		if err := sp.conn.WriteOpus(wire.SilenceFrame); err != nil {
			return err
		}
		if err := wait(); err != nil {
			return err
		}
	}
	return sp.conn.SetSpeaking(ctx, false)
}

// send encodes one frame of mono PCM (zero-padded to 20 ms) and sends it.
func (sp *Speaker) send(mono []int16) error {
	clear(sp.stereo)
	for i, v := range mono {
		sp.stereo[2*i], sp.stereo[2*i+1] = v, v
	}
	opus, err := sp.enc.Encode(sp.stereo, wire.FrameSamples, 1275)
	if err != nil {
		return fmt.Errorf("voicetest: speaker: opus: %w", err)
	}
	return sp.conn.WriteOpus(opus)
}

func rmsDB(pcm []int16) float64 {
	var e float64
	for _, v := range pcm {
		e += float64(v) * float64(v)
	}
	if len(pcm) == 0 || e == 0 {
		return -200
	}
	return 10 * math.Log10(e/float64(len(pcm))/(32768*32768))
}
