package bot

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/player"
)

// VoiceOptions configures NewVoiceDialer.
type VoiceOptions struct {
	// TLSConfig dials the voice gateway (nil: system roots; tests trust the
	// voice emulator's CA).
	TLSConfig *tls.Config
	// E2EE, when set, returns the DAVE layer for one connection (log is
	// Logger); nil joins without end-to-end encryption
	// (max_dave_protocol_version 0).
	E2EE func(vs VoiceServer, log *slog.Logger) (voice.E2EE, error)
	// Bitrate of the Opus encoder when the voice channel's is unknown
	// (default: the voice package's 64 kbit/s). The channel's own bitrate,
	// set by the server's admins (8–384 kbit/s with boosts), wins.
	Bitrate int
	// Logger receives the voice package's logs.
	Logger *slog.Logger
	// Metrics, when set, receives the first-packet latency of each turn
	// (first Live chunk handed to the player → first audio packet sent).
	Metrics *admin.Metrics
}

// daveReadyTimeout bounds the wait for the DAVE group after a voice dial.
const daveReadyTimeout = 2 * time.Second

// NewVoiceDialer returns a VoiceDialer that speaks through the voice
// package: a voice.Conn per guild and a voice.Player fed with Live's PCM.
func NewVoiceDialer(o VoiceOptions) VoiceDialer { return &voiceDialer{o: o} }

type voiceDialer struct{ o VoiceOptions }

func (d *voiceDialer) DialVoice(ctx context.Context, vs VoiceServer, rejoin func(context.Context) (VoiceServer, error)) (Speaker, error) {
	cfg := voice.Config{
		Server:    voice.Server{Endpoint: vs.Endpoint, Token: vs.Token, SessionID: vs.SessionID},
		UserID:    vs.UserID,
		GuildID:   vs.GuildID,
		ChannelID: vs.ChannelID,
		TLSConfig: d.o.TLSConfig,
		Logger:    d.o.Logger,
	}
	if rejoin != nil {
		cfg.Rejoin = func(ctx context.Context) (voice.Server, error) {
			n, err := rejoin(ctx)
			return voice.Server{Endpoint: n.Endpoint, Token: n.Token, SessionID: n.SessionID}, err
		}
	}
	if d.o.E2EE != nil {
		e, err := d.o.E2EE(vs, d.o.Logger)
		if err != nil {
			return nil, fmt.Errorf("voice: e2ee: %w", err)
		}
		cfg.E2EE = e
	}
	conn, err := voice.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if w, ok := cfg.E2EE.(interface{ WaitReady(context.Context) error }); ok {
		// DAVE drops frames until the group has formed (a few gateway
		// round trips after the dial); wait for it, briefly, so the start
		// of the first reply is heard. Without other members it never
		// forms, and nobody is listening anyway.
		wctx, cancel := context.WithTimeout(ctx, daveReadyTimeout)
		_ = w.WaitReady(wctx)
		cancel()
	}
	// The player lives until Close, not until the dial's context ends.
	pc := player.Config{Bitrate: cmp.Or(vs.Bitrate, d.o.Bitrate), Logger: d.o.Logger}
	if d.o.Metrics != nil {
		h := d.o.Metrics.FirstPacketLatency
		pc.OnFirstPacket = func(took time.Duration) { h.Observe(took.Seconds()) }
	}
	p, err := player.New(context.Background(), conn, pc)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("voice: player: %w", err)
	}
	return &voiceSpeaker{conn: conn, player: p}, nil
}

// voiceSpeaker adapts a voice.Conn and its Player to Speaker.
type voiceSpeaker struct {
	conn    *voice.Conn
	player  *player.Player
	samples []int16
}

// Audio converts Live's PCM16LE bytes to samples; only the conversation's
// goroutine calls it, so the buffer is reused.
func (s *voiceSpeaker) Audio(pcm []byte) error {
	s.samples = s.samples[:0]
	for i := 0; i+1 < len(pcm); i += 2 {
		s.samples = append(s.samples, int16(binary.LittleEndian.Uint16(pcm[i:])))
	}
	return s.player.Write(s.samples)
}

func (s *voiceSpeaker) Interrupt() {
	s.player.Interrupt()
}

func (s *voiceSpeaker) EndOfTurn(ctx context.Context) error {
	if err := s.player.EndTurn(); err != nil {
		return err
	}
	return s.player.Wait(ctx)
}

// ServerUpdate follows a voice server failover (a later
// VOICE_SERVER_UPDATE while connected).
func (s *voiceSpeaker) ServerUpdate(vs VoiceServer) {
	s.conn.ServerUpdate(voice.Server{Endpoint: vs.Endpoint, Token: vs.Token, SessionID: vs.SessionID})
}

// Done is closed when the connection has ended for good (Close, or Discord
// closing it with a stop code such as 4014).
func (s *voiceSpeaker) Done() <-chan struct{} { return s.conn.Done() }

func (s *voiceSpeaker) Close() error {
	return errors.Join(s.player.Close(), s.conn.Close())
}
