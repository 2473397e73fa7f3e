package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/audio/speech"
	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/resample"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// `bot sandbox -talk`: a member of the emulated voice channel runs /talk,
// asks a question aloud, interrupts the answer once, and asks again (or
// speaks the -say recordings, one per turn, the second over the first's
// answer). It prints the bot's share of the voice-to-voice latency and the
// barge-in latency, and writes what the member heard.

// utterance is one turn the sandbox's member speaks.
type utterance struct {
	Label string  // what it says, or the file it came from
	PCM   []int16 // 48 kHz mono
}

// sayFlags collects repeated -say FILE.wav.
type sayFlags []string

func (s *sayFlags) String() string     { return strings.Join(*s, ",") }
func (s *sayFlags) Set(v string) error { *s = append(*s, v); return nil }

// loadUtterances returns the member's turns: the -say files (any rate,
// mono or stereo) or three recorded phrases.
func loadUtterances(files []string) ([]utterance, error) {
	if len(files) == 0 {
		var out []utterance
		for _, name := range []string{"weather", "interrupt", "hello"} {
			p, err := speech.Lookup(name)
			if err != nil {
				return nil, err
			}
			out = append(out, utterance{Label: p.Text, PCM: p.PCM})
		}
		return out, nil
	}
	var out []utterance
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("-say: %w", err)
		}
		f, err := wav.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("-say %s: %w", path, err)
		}
		pcm, err := mono48k(f.Samples(), int(f.Channels), int(f.SampleRate))
		if err != nil {
			return nil, fmt.Errorf("-say %s: %w", path, err)
		}
		if len(pcm) < speech.Rate {
			return nil, fmt.Errorf("-say %s: shorter than a second", path)
		}
		out = append(out, utterance{Label: filepath.Base(path), PCM: pcm})
	}
	return out, nil
}

// mono48k downmixes and converts to 48 kHz: the project's resampler for
// the rates it serves, linear interpolation for the others (44.1 kHz…).
func mono48k(s []int16, channels, rate int) ([]int16, error) {
	if channels < 1 || channels > 2 || rate < 8000 || rate > 192000 {
		return nil, fmt.Errorf("%d channels at %d Hz: want mono or stereo, 8 to 192 kHz", channels, rate)
	}
	mono := s
	if channels == 2 {
		mono = make([]int16, len(s)/2)
		for i := range mono {
			mono[i] = int16((int32(s[2*i]) + int32(s[2*i+1])) / 2)
		}
	}
	if rs, err := resample.New(rate, speech.Rate, 1); err == nil {
		return rs.Flush(rs.Process(nil, mono)), nil
	}
	n := int(int64(len(mono)) * speech.Rate / int64(rate))
	out := make([]int16, n)
	for i := range out {
		x := float64(i) * float64(rate) / speech.Rate
		j := int(x)
		if j+1 >= len(mono) {
			out[i] = mono[len(mono)-1]
			continue
		}
		f := x - float64(j)
		out[i] = int16(float64(mono[j])*(1-f) + float64(mono[j+1])*f)
	}
	return out, nil
}

// talkReport is what a sandboxed /talk produced.
type talkReport struct {
	Live      string
	Notice    string
	NoticeLat time.Duration
	Exchanges []bot.TalkExchange
	Added     []time.Duration // bot-added voice-to-voice latency per answered turn
	LiveOwn   []time.Duration // Live's own: last input chunk → first reply chunk
	BargeIn   []time.Duration
	Heard     []voice.Frame
	Messages  []string
}

func runSandboxTalk(ctx context.Context, o sandboxOptions, says []string, out string, stdout, stderr io.Writer) error {
	utts, err := loadUtterances(says)
	if err != nil {
		return err
	}
	start := time.Now()
	r, err := sandboxTalk(ctx, o, utts, stderr)
	if err != nil {
		return err
	}
	return r.write(stdout, out, time.Since(start))
}

func sandboxTalk(ctx context.Context, o sandboxOptions, utts []utterance, stderr io.Writer) (*talkReport, error) {
	emuLog := slog.New(slog.DiscardHandler)
	if o.Verbose {
		emuLog = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r := &talkReport{}
	ext := voicetest.NewExternalSender()
	vt, err := voicetest.New(voicetest.Options{Logger: emuLog.With("emulator", "voice"), DAVE: ext, RequireDAVE: true})
	if err != nil {
		return nil, fmt.Errorf("start the voice emulator: %w", err)
	}
	defer vt.Close()
	dc, err := discordtest.New(discordtest.Options{Logger: emuLog.With("emulator", "discord"), VoiceServer: vt.VoiceServer})
	if err != nil {
		return nil, fmt.Errorf("start the Discord emulator: %w", err)
	}
	defer dc.Close()
	lcfg, err := loadLiveConfig(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if useRealLive(lcfg, o.Offline) {
		r.Live = "Gemini Live (" + orDefault(lcfg.Model, live.DefaultModel) + ", the real service: a Gemini key is configured)"
	} else {
		lv, err := livetest.New(livetest.Options{Logger: emuLog.With("emulator", "live")})
		if err != nil {
			return nil, fmt.Errorf("start the Live emulator: %w", err)
		}
		defer lv.Close()
		r.Live = "Live emulator (in-process; set GEMINI_API_KEY to hear the real Gemini)"
		for _, u := range utts {
			lv.Hear(u.Label, u.PCM, speech.Rate)
		}
		// The first answer is long enough to be talked over.
		first := utts[0].Label
		lv.Respond(func(q livetest.Request) livetest.Reply {
			if q.Prompt == first && len(utts) > 1 {
				return livetest.Reply{Transcript: "Let me tell you all about that, at some length.", Duration: 8 * time.Second}
			}
			return livetest.Reply{}
		})
		lcfg.APIKey, lcfg.BaseURL, lcfg.Model, lcfg.APIVersion = lv.Key, lv.URL(), "", ""
	}
	if o.Voice != "" {
		lcfg.Voice = o.Voice
	}
	guild := dc.AddGuild("sandbox")
	text := dc.AddChannel(guild.ID, "general", discordtest.ChannelText)
	vc := dc.AddChannel(guild.ID, "lounge", discordtest.ChannelVoice)
	you := dc.AddUser("you")
	dc.AddMember(guild.ID, you)
	dc.SetVoiceState(guild.ID, you.ID, vc.ID)
	botID := dc.BotUser().ID
	dataDir, err := os.MkdirTemp("", "livecord-sandbox-")
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	defer os.RemoveAll(dataDir)
	level := "warn"
	if o.Verbose {
		level = orDefault(os.Getenv("LOG_LEVEL"), "debug")
	}
	forced := map[string]string{
		"DISCORD_TOKEN": dc.Token(), "DISCORD_BOT_TOKEN": "", "DISCORD_API_URL": dc.URL(),
		"DISCORD_GUILD_ID": guild.ID, "GUILD_ID": "", "DISCORD_SHARD_ID": "", "DISCORD_SHARD_COUNT": "",
		"DISCORD_ALLOWED_GUILDS": "", "DISCORD_ALLOWED_ROLES": "", "LIVECORD_DATA_DIR": dataDir,
		"BOT_VOICE": "true", "ADMIN_ADDR": "off", "LOG_LEVEL": level, "BOT_TALK_NAME_GATE": "",
	}
	cfg, ro, err := loadBotConfig(nil, func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		return os.Getenv(k)
	}, stderr)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(stderr, ro.Log)
	cfg.Logger, cfg.Live = log, lcfg
	cfg.Live.Logger = log.With("component", "live")
	cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), Logger: log.With("component", "voice")}
	cfg.Metrics = admin.NewMetrics()
	var mu sync.Mutex
	exchanged := make(chan bot.TalkExchange, 16)
	cfg.Talk.OnExchange = func(x bot.TalkExchange) {
		mu.Lock()
		r.Exchanges = append(r.Exchanges, x)
		mu.Unlock()
		exchanged <- x
	}
	b, err := bot.New(cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "sandbox: Discord and voice emulators on loopback; answering: %s\n", r.Live)
	bctx, stopBot := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(bctx) }()
	defer func() {
		stopBot()
		if err := <-runErr; err != nil {
			fmt.Fprintf(stderr, "sandbox: bot stopped with %v\n", err)
		}
	}()
	select {
	case <-b.Ready():
	case err := <-runErr:
		runErr <- err
		return nil, fmt.Errorf("the bot did not start: %w", err)
	case <-ctx.Done():
		return nil, fmt.Errorf("the bot did not connect to the Discord emulator: %w", ctx.Err())
	}

	// The member speaks on a voice connection of their own (DAVE); a second
	// member only listens, decrypting with its own MLS group member, as
	// everyone else in the channel would.
	sp, err := vt.Join(ctx, guild.ID, vc.ID, you.ID)
	if err != nil {
		return nil, fmt.Errorf("the member could not join the voice emulator: %w", err)
	}
	defer sp.Close()
	ear := dc.AddUser("listener")
	dc.AddMember(guild.ID, ear)
	dc.SetVoiceState(guild.ID, ear.ID, vc.ID)
	uid, _ := strconv.ParseUint(ear.ID, 10, 64)
	cid, _ := strconv.ParseUint(vc.ID, 10, 64)
	earDAVE, err := voice.NewDAVE(uid, cid, emuLog.With("client", "listener"))
	if err != nil {
		return nil, fmt.Errorf("the listener's DAVE session: %w", err)
	}
	sid := make([]byte, 16)
	_, _ = rand.Read(sid)
	listener, err := voice.Dial(ctx, voice.Config{Server: vt.Grant(guild.ID, vc.ID, ear.ID, hex.EncodeToString(sid)),
		UserID: ear.ID, GuildID: guild.ID, ChannelID: vc.ID, TLSConfig: vt.ClientTLS(), ReceiveBuffer: 4096,
		E2EE: earDAVE, Logger: emuLog.With("client", "listener")})
	if err != nil {
		return nil, fmt.Errorf("the listener could not join the voice emulator: %w", err)
	}
	defer listener.Close()
	lctx, stopListening := context.WithCancel(ctx)
	heard := make(chan []voice.Frame, 1)
	go func() {
		var fs []voice.Frame
		for {
			f, err := listener.ReadFrame(lctx)
			if err != nil {
				heard <- fs
				return
			}
			if f.UserID == botID || f.UserID == "" {
				fs = append(fs, f)
			}
		}
	}()
	defer func() {
		stopListening()
		if r.Heard == nil {
			<-heard
		}
	}()

	fmt.Fprintf(stderr, "sandbox: a simulated member (%q) sits in #%s and runs /talk\n", you.Username, vc.Name)
	ia, err := dc.Invoke(ctx, discordtest.Invocation{GuildID: guild.ID, ChannelID: text.ID, User: you, Command: "talk"})
	if err != nil {
		return nil, fmt.Errorf("run /talk: %w", err)
	}
	t0 := time.Now()
	notice, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool { return strings.Contains(m.Content, "Listening") })
	if err != nil {
		return nil, fmt.Errorf("no /talk notice: %w", err)
	}
	r.Notice, r.NoticeLat = notice.Content, time.Since(t0)
	if err := sp.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("the member's DAVE group: %w", err)
	}
	say := func(u utterance) error {
		fmt.Fprintf(stderr, "sandbox: the member says %q\n", u.Label)
		// Push-to-talk: the whole recording is sent, its pauses too, so a
		// long pause inside it does not end the turn early.
		return sp.Speak(ctx, u.PCM, voicetest.SpeakOptions{})
	}
	botAudio := func(after time.Time) int {
		n := 0
		for _, f := range vt.Frames(botID) {
			if !f.IsSilence() && f.Arrival.After(after) {
				n++
			}
		}
		return n
	}
	answered := 0
	waitAnswers := func(n int) error {
		for answered < n {
			select {
			case <-exchanged:
				answered++
			case <-ctx.Done():
				return fmt.Errorf("only %d of %d spoken turns were answered: %w", answered, len(utts), ctx.Err())
			}
		}
		return nil
	}
	for i, u := range utts {
		if i >= 2 {
			// The next question once the last one has been answered.
			if err := waitAnswers(i); err != nil {
				return nil, err
			}
		}
		if i == 1 {
			// Talk over the first answer once it has played for half a second.
			if _, err := vt.WaitFrames(ctx, botID, func([]voicetest.Frame) bool { return botAudio(time.Time{}) >= 25 }); err != nil {
				return nil, fmt.Errorf("the first answer was not spoken: %w", err)
			}
			before := len(vt.Frames(you.ID))
			if err := say(u); err != nil {
				return nil, err
			}
			mine := vt.Frames(you.ID)
			if k := before + voicedFrame(u.PCM); k < len(mine) {
				onset := mine[k].Arrival
				var last time.Time
				for _, f := range vt.Frames(botID) {
					if !f.IsSilence() && f.Arrival.After(onset) && f.Arrival.Before(onset.Add(2*time.Second)) {
						last = f.Arrival
					}
				}
				r.BargeIn = append(r.BargeIn, max(last.Sub(onset), 0))
			}
			continue
		}
		if err := say(u); err != nil {
			return nil, err
		}
		if i == 0 && len(utts) > 1 {
			continue // interrupted next
		}
	}
	// Wait until every turn has been answered (the interrupted one too).
	if err := waitAnswers(len(utts)); err != nil {
		return nil, err
	}
	// The bot's share, per answered turn: (first reply RTP packet at the
	// voice server − last voiced packet in) − (Live's own time, last input
	// chunk out → first reply chunk in).
	sent := vt.Frames(botID)
	mu.Lock()
	for _, x := range r.Exchanges {
		if x.FirstReply.IsZero() || x.LastVoiced.IsZero() || x.LastSent.IsZero() {
			continue
		}
		i := slices.IndexFunc(sent, func(f voicetest.Frame) bool { return !f.IsSilence() && f.Arrival.After(x.FirstReply) })
		if i < 0 {
			continue
		}
		own := x.FirstReply.Sub(x.LastSent)
		r.LiveOwn = append(r.LiveOwn, own)
		r.Added = append(r.Added, sent[i].Arrival.Sub(x.LastVoiced)-own)
	}
	mu.Unlock()
	for _, m := range dc.ChannelMessages(text.ID) {
		r.Messages = append(r.Messages, m.Content)
	}
	stopListening()
	r.Heard = <-heard
	if v := vt.Violations(); len(v) > 0 {
		return nil, fmt.Errorf("the voice server recorded protocol violations: %s", strings.Join(v, "; "))
	}
	return r, nil
}

// voicedFrame is the index of the first 20 ms frame of pcm (48 kHz) that
// is voiced (above -45 dBFS RMS, a Discord client's gate): the onset.
func voicedFrame(pcm []int16) int {
	const n = speech.Rate / 50
	for i := 0; i*n < len(pcm); i++ {
		f := pcm[i*n : min((i+1)*n, len(pcm))]
		var sum float64
		for _, v := range f {
			sum += float64(v) * float64(v)
		}
		if 10*math.Log10(sum/float64(len(f))/(32768*32768)+1e-12) >= -45 {
			return i
		}
	}
	return 0
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return percentile(s, 0.5)
}

func (r *talkReport) write(stdout io.Writer, dir string, took time.Duration) error {
	pcm, lost, err := heardPCM(r.Heard)
	if err != nil {
		return fmt.Errorf("member's audio: %w", err)
	}
	raw := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	var buf bytes.Buffer
	if err := wav.Encode(&buf, 48000, 2, raw); err != nil {
		return fmt.Errorf("encode heard.wav: %w", err)
	}
	path := filepath.Join(dir, "heard.wav")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write heard.wav: %w", err)
	}
	w := func(k, format string, a ...any) { fmt.Fprintf(stdout, "%-34s %s\n", k+":", fmt.Sprintf(format, a...)) }
	list := func(d []time.Duration) string {
		var s []string
		for _, v := range d {
			s = append(s, ms(v))
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintln(stdout, "livecord sandbox: /talk in an emulated Discord voice channel (DAVE)")
	w("live", "%s", r.Live)
	w("notice", "%s after /talk", ms(r.NoticeLat))
	for i, x := range r.Exchanges {
		cut := ""
		if x.Interrupted {
			cut = " (interrupted)"
		}
		w(fmt.Sprintf("exchange %d", i+1), "%s said %q; reply %q%s; in %s, out %s", x.Speaker, x.Heard, x.Reply, cut, ms(x.In), ms(x.Out))
	}
	w("bot-added voice-to-voice latency", "median %s (%s)", ms(median(r.Added)), list(r.Added))
	w("live's own time", "median %s (last input chunk → first reply chunk; not ours)", ms(median(r.LiveOwn)))
	w("barge-in latency", "median %s (%s; voiced onset at the voice server → the bot's last audio packet)", ms(median(r.BargeIn)), list(r.BargeIn))
	w("packets heard", "%d from the bot by a listener in the channel (DAVE-decrypted), %d lost", len(r.Heard), lost)
	w("transcript", "%d messages in #general:", len(r.Messages))
	for _, m := range r.Messages {
		fmt.Fprintln(stdout, indent(m))
	}
	w("wrote", "%s (what a listener in the channel heard, 48 kHz stereo)", path)
	w("total", "%s", took.Round(10*time.Millisecond))
	if len(r.Added) == 0 {
		return errors.New("no answered turn to measure")
	}
	return nil
}
