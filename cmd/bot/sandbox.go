package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"layeh.com/gopus"

	"github.com/livecord/livecord/admin"
	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// sandboxOptions are `bot sandbox`'s settings.
type sandboxOptions struct {
	Prompt  string
	Voice   string // prebuilt voice; "" keeps GEMINI_VOICE
	Offline bool   // the Live emulator even with a Gemini key
	Verbose bool
	Image   string // file sent as /ask's image option
}

// sandboxReport is what one sandboxed /ask produced.
type sandboxReport struct {
	Live     string // which Live service answered
	DAVE     bool
	Mode     string // transport encryption of the listener's connection
	Epoch    uint64 // the DAVE group's epoch once the reply was heard
	Callback time.Duration
	// FirstAudio is the bot's own measure, prompt sent → first Live audio
	// chunk; FirstPacket runs from that chunk's arrival to the first RTP
	// packet with audio at the voice server.
	FirstAudio, FirstPacket time.Duration
	Message                 discordtest.Message // the final reply as posted
	Attachment              discordtest.File
	Sent                    int // RTP packets the voice server received from the bot
	Heard                   []voice.Frame
	Violations              []string
	Image                   string // what image reached Live, when known
}

func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", ".", "directory to write reply.wav and heard.wav to")
	voiceName := fs.String("voice", "", "prebuilt Gemini voice, e.g. Kore (default: GEMINI_VOICE, else the model's)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	offline := fs.Bool("offline", false, "use the Live emulator even when a Gemini key is configured")
	verbose := fs.Bool("v", false, "show the bot's and the emulators' logs")
	imagePath := fs.String("image", "", "attach this picture to the /ask (JPEG, PNG, WebP or GIF)")
	talk := fs.Bool("talk", false, "try /talk instead: a member asks aloud, interrupts the answer, asks again (sandbox_talk.go)")
	var says sayFlags
	fs.Var(&says, "say", "with -talk: a WAV file the member speaks instead (any rate, mono or stereo; repeatable, one per turn)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: bot sandbox [flags] [-image FILE] "prompt"

Runs /ask end to end with no Discord token and no network: in-process emulators
of Discord, its voice servers and (unless a Gemini key is configured and
GEMINI_BASE_URL is unset) Gemini Live, wired to the real bot. A simulated user
sits in a voice channel and asks; reply.wav is the attachment the bot posted,
heard.wav is what the user's voice connection decoded.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := sandboxOptions{Prompt: strings.TrimSpace(strings.Join(fs.Args(), " ")), Offline: *offline, Verbose: *verbose, Image: *imagePath}
	if len(says) > 0 && !*talk {
		return errors.New("-say needs -talk")
	}
	if o.Prompt == "" && !*talk {
		fs.Usage()
		return errors.New("no prompt given")
	}
	if *voiceName != "" {
		i := slices.IndexFunc(bot.Voices, func(v string) bool { return strings.EqualFold(v, *voiceName) })
		if i < 0 {
			return fmt.Errorf("voice %q is not one of %s", *voiceName, strings.Join(bot.Voices, ", "))
		}
		o.Voice = bot.Voices[i]
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *talk {
		return runSandboxTalk(ctx, o, says, *out, stdout, stderr)
	}
	start := time.Now()
	r, err := sandboxAsk(ctx, o, stderr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("%w (no answer within -timeout %s)", err, *timeout)
		}
		return err
	}
	return r.write(stdout, *out, o.Prompt, time.Since(start))
}

// sandboxAsk starts the emulators, runs the bot against them as `bot run`
// would, seats a listener in the voice channel and asks once.
func sandboxAsk(ctx context.Context, o sandboxOptions, stderr io.Writer) (*sandboxReport, error) {
	emuLog := slog.New(slog.DiscardHandler)
	if o.Verbose {
		emuLog = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r := &sandboxReport{}

	// Voice first: the Discord emulator hands out its endpoint on op 4.
	// The channel requires DAVE, as Discord's voice channels do, and the
	// emulator is the external sender.
	ext := voicetest.NewExternalSender()
	vopts := voicetest.Options{Logger: emuLog.With("emulator", "voice"), DAVE: ext, RequireDAVE: true}
	r.DAVE = true
	vt, err := voicetest.New(vopts)
	if err != nil {
		return nil, fmt.Errorf("start the voice emulator: %w", err)
	}
	defer vt.Close()
	dc, err := discordtest.New(discordtest.Options{Logger: emuLog.With("emulator", "discord"),
		VoiceServer: vt.VoiceServer})
	if err != nil {
		return nil, fmt.Errorf("start the Discord emulator: %w", err)
	}
	defer dc.Close()

	lcfg, err := loadLiveConfig(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	realLive := useRealLive(lcfg, o.Offline)
	if realLive {
		r.Live = "Gemini Live (" + orDefault(lcfg.Model, live.DefaultModel) + ", the real service: a Gemini key is configured)"
	} else {
		lv, err := livetest.New(livetest.Options{Logger: emuLog.With("emulator", "live")})
		if err != nil {
			return nil, fmt.Errorf("start the Live emulator: %w", err)
		}
		defer lv.Close()
		seen := scriptSandboxLive(lv)
		defer func() { r.Image = seen.describe() }()
		switch {
		case o.Offline:
			r.Live = "Live emulator (in-process; -offline)"
		case lcfg.BaseURL != "":
			r.Live = "Live emulator (in-process; GEMINI_BASE_URL is set, so not the real service)"
		default:
			r.Live = "Live emulator (in-process; set GEMINI_API_KEY to hear the real Gemini)"
		}
		// The emulator knows the default model; keep the rest of the
		// user's Live settings (voice, language, instructions).
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
	// The bot's configuration goes through run's path, with the Discord
	// side pointed at the emulators and the settings that would keep the
	// sandbox's user out (allow-lists, shards) neutralised.
	level := "warn"
	if o.Verbose {
		level = orDefault(os.Getenv("LOG_LEVEL"), "debug")
	}
	forced := map[string]string{
		"DISCORD_TOKEN": dc.Token(), "DISCORD_BOT_TOKEN": "", "DISCORD_API_URL": dc.URL(),
		"DISCORD_GUILD_ID": guild.ID, "GUILD_ID": "", "DISCORD_SHARD_ID": "", "DISCORD_SHARD_COUNT": "",
		"DISCORD_ALLOWED_GUILDS": "", "DISCORD_ALLOWED_ROLES": "", "LIVECORD_DATA_DIR": dataDir,
		"BOT_VOICE": "true", "ADMIN_ADDR": "off", "LOG_LEVEL": level,
	}
	getenv := func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	cfg, ro, err := loadBotConfig(nil, getenv, stderr)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(stderr, ro.Log)
	cfg.Logger = log
	cfg.Live = lcfg
	cfg.Live.Logger = log.With("component", "live")
	cfg.Voice = &bot.VoiceConfig{TLSConfig: vt.ClientTLS(), Logger: log.With("component", "voice")}
	cfg.Metrics = admin.NewMetrics()
	firstAudio := &stampedHistogram{Histogram: cfg.Metrics.FirstAudioLatency}
	cfg.Metrics.FirstAudioLatency = firstAudio
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
		runErr <- err // for the deferred wait
		return nil, fmt.Errorf("the bot did not start: %w", err)
	case <-ctx.Done():
		return nil, fmt.Errorf("the bot did not connect to the Discord emulator: %w", ctx.Err())
	}

	// The listener is a real voice connection of the user's, in the channel
	// before the bot arrives, as a user waiting for an answer would be.
	sid := make([]byte, 16)
	_, _ = rand.Read(sid)
	lc := voice.Config{Server: vt.Grant(guild.ID, vc.ID, you.ID, hex.EncodeToString(sid)),
		UserID: you.ID, GuildID: guild.ID, ChannelID: vc.ID, TLSConfig: vt.ClientTLS(),
		ReceiveBuffer: 4096, Logger: emuLog.With("client", "listener")}
	// The listener's own MLS member: it can only decode the reply if the
	// bot encrypted it for the group they share.
	uid, _ := strconv.ParseUint(you.ID, 10, 64)
	cid, _ := strconv.ParseUint(vc.ID, 10, 64)
	listenerDAVE, err := voice.NewDAVE(uid, cid, emuLog.With("client", "listener"))
	if err != nil {
		return nil, fmt.Errorf("the listener's DAVE session: %w", err)
	}
	lc.E2EE = listenerDAVE
	listener, err := voice.Dial(ctx, lc)
	if err != nil {
		return nil, fmt.Errorf("the listener could not join the voice emulator: %w", err)
	}
	defer listener.Close()
	r.Mode = listener.Mode()
	lctx, stopListening := context.WithCancel(ctx)
	heard := make(chan []voice.Frame, 1)
	tail := make(chan struct{})
	go func() { heard <- listen(lctx, listener, botID, tail) }()
	defer func() {
		stopListening()
		<-heard
	}()

	fmt.Fprintf(stderr, "sandbox: a simulated user (%q) sits in #%s and runs /ask\n", you.Username, vc.Name)
	inv := discordtest.Invocation{GuildID: guild.ID, ChannelID: text.ID, User: you,
		Command: "ask", Options: map[string]any{"prompt": o.Prompt}}
	if o.Image != "" {
		att, stop, err := serveSandboxImage(o.Image)
		if err != nil {
			return nil, err
		}
		defer stop()
		inv.Attachments = map[string]discordtest.Attachment{"image": att}
	}
	ia, err := dc.Invoke(ctx, inv)
	if err != nil {
		return nil, fmt.Errorf("run /ask: %w", err)
	}
	cb, err := ia.WaitCallback(ctx)
	if err != nil {
		return nil, fmt.Errorf("the bot did not acknowledge /ask: %w", err)
	}
	r.Callback = cb.Latency
	final, err := ia.WaitOriginal(ctx, func(m discordtest.Message) bool {
		// Streaming versions end with a cursor or "Thinking…"; the
		// deferred placeholder is empty.
		return len(m.Attachments) > 0 || m.Content != "" &&
			!strings.HasSuffix(m.Content, "▍") && !strings.HasSuffix(m.Content, "*Thinking…*")
	})
	if err != nil {
		last, _ := ia.Original()
		return nil, fmt.Errorf("no finished reply (last version: %q): %w", last.Content, err)
	}
	r.Message = final
	if len(final.Attachments) == 0 {
		hint := ""
		if realLive {
			hint = "\n(this used the real Gemini Live service because a Gemini key is configured; -offline uses the emulator)"
		}
		return nil, fmt.Errorf("the bot answered without audio:\n%s%s", indent(final.Content), hint)
	}
	r.Attachment = final.Attachments[0]
	fmt.Fprintln(stderr, "sandbox: reply posted; waiting for the voice channel to fall silent")
	select {
	case <-tail:
	case <-ctx.Done():
		return nil, fmt.Errorf("the listener did not hear the end of the reply: %w", ctx.Err())
	}
	stopListening()
	r.Heard = <-heard
	heard <- r.Heard // for the deferred wait

	sent := vt.Frames(botID)
	r.Sent = len(sent)
	if at, ok := firstAudio.first(); ok {
		r.FirstAudio = firstAudio.value()
		for _, f := range sent {
			if !f.IsSilence() {
				r.FirstPacket = f.Arrival.Sub(at)
				break
			}
		}
	}
	r.Violations = vt.Violations()
	r.Epoch, _ = listenerDAVE.Epoch()
	if st := ext.State(voicetest.CallID{GuildID: guild.ID, ChannelID: vc.ID}); st.Epoch != r.Epoch {
		return nil, fmt.Errorf("the listener's DAVE epoch %d is not the group's %d", r.Epoch, st.Epoch)
	}
	return r, nil
}

// useRealLive says whether the sandbox talks to the real Gemini Live
// service: only with a key, without another endpoint configured and without
// -offline.
func useRealLive(c live.Config, offline bool) bool {
	return c.APIKey != "" && c.BaseURL == "" && !offline
}

// listen collects the frames botID speaks into the listener's connection
// until ctx ends, closing tail once a reply ended with its five silence
// frames.
func listen(ctx context.Context, c *voice.Conn, botID string, tail chan<- struct{}) []voice.Frame {
	var frames []voice.Frame
	audio, silent := false, 0
	for {
		f, err := c.ReadFrame(ctx)
		if err != nil {
			return frames
		}
		if f.UserID != "" && f.UserID != botID {
			continue
		}
		frames = append(frames, f)
		if f.IsSilence() {
			silent++
		} else {
			audio, silent = true, 0
		}
		if audio && silent == 5 {
			close(tail)
		}
	}
}

// stampedHistogram notes when and with what the bot first observed a
// latency, so the sandbox can take later times from that instant.
type stampedHistogram struct {
	prometheus.Histogram
	mu sync.Mutex
	at time.Time
	v  float64
}

func (h *stampedHistogram) Observe(v float64) {
	h.mu.Lock()
	if h.at.IsZero() {
		h.at, h.v = time.Now(), v
	}
	h.mu.Unlock()
	h.Histogram.Observe(v)
}

func (h *stampedHistogram) first() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at, !h.at.IsZero()
}

func (h *stampedHistogram) value() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Duration(h.v * float64(time.Second))
}

// heardPCM decodes the listener's frames in sequence order to 48 kHz stereo
// PCM, concealing lost packets; it returns the samples and how many packets
// were missing.
func heardPCM(frames []voice.Frame) ([]int16, int, error) {
	if len(frames) == 0 {
		return nil, 0, nil
	}
	dec, err := gopus.NewDecoder(48000, 2)
	if err != nil {
		return nil, 0, fmt.Errorf("opus decoder: %w", err)
	}
	idx := sequenceIndex(frames)
	byIdx := make(map[int][]byte, len(frames))
	last := 0
	for i, f := range frames {
		byIdx[idx[i]] = f.Opus
		last = max(last, idx[i])
	}
	var pcm []int16
	lost := 0
	for i := 0; i <= last; i++ {
		p, ok := byIdx[i]
		if !ok {
			lost++
		}
		// A nil packet asks the decoder to conceal the loss.
		s, err := dec.Decode(p, voice.FrameSamples, false)
		if err != nil {
			return nil, 0, fmt.Errorf("decode packet %d: %w", i, err)
		}
		pcm = append(pcm, s...)
	}
	return pcm, lost, nil
}

// sequenceIndex numbers frames by RTP sequence relative to the lowest one,
// across the 16-bit wrap.
func sequenceIndex(frames []voice.Frame) []int {
	idx := make([]int, len(frames))
	lo := 0
	for i := 1; i < len(frames); i++ {
		idx[i] = idx[i-1] + int(int16(frames[i].Sequence-frames[i-1].Sequence))
		lo = min(lo, idx[i])
	}
	for i := range idx {
		idx[i] -= lo
	}
	return idx
}

// lateness is how late each packet arrived against a steady 20 ms clock
// anchored at the earliest packet (by sequence), sorted ascending.
func lateness(frames []voice.Frame) []time.Duration {
	if len(frames) == 0 {
		return nil
	}
	idx := sequenceIndex(frames)
	offs := make([]time.Duration, len(frames))
	for i, f := range frames {
		offs[i] = f.Arrival.Sub(frames[0].Arrival) - time.Duration(idx[i]-idx[0])*20*time.Millisecond
	}
	lo := slices.Min(offs)
	for i := range offs {
		offs[i] -= lo
	}
	slices.Sort(offs)
	return offs
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// write saves the two WAV files and prints the summary.
func (r *sandboxReport) write(stdout io.Writer, dir, prompt string, took time.Duration) error {
	replyPath := filepath.Join(dir, r.Attachment.Name)
	if err := os.WriteFile(replyPath, r.Attachment.Data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", r.Attachment.Name, err)
	}
	var reply []int16
	replyLen := "?"
	if f, err := wav.Decode(r.Attachment.Data); err == nil && f.Channels == 1 {
		reply = f.Samples()
		replyLen = fmt.Sprintf("%.2f s", float64(len(reply))/float64(f.SampleRate))
	}
	heard, lost, err := heardPCM(r.Heard)
	if err != nil {
		return fmt.Errorf("listener audio: %w", err)
	}
	heardPath := filepath.Join(dir, "heard.wav")
	raw := make([]byte, 2*len(heard))
	for i, s := range heard {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	var buf bytes.Buffer
	if err := wav.Encode(&buf, 48000, 2, raw); err != nil {
		return fmt.Errorf("encode heard.wav: %w", err)
	}
	if err := os.WriteFile(heardPath, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write heard.wav: %w", err)
	}

	late := lateness(r.Heard)
	w := func(k, format string, a ...any) { fmt.Fprintf(stdout, "%-21s %s\n", k+":", fmt.Sprintf(format, a...)) }
	fmt.Fprintln(stdout, "livecord sandbox: /ask in an emulated Discord voice channel")
	w("prompt", "%q", prompt)
	w("live", "%s", r.Live)
	w("defer latency", "%s (interaction sent → deferred reply received; Discord allows 3 s)", ms(r.Callback))
	w("first-audio latency", "%s (prompt sent to Live → first audio chunk)", ms(r.FirstAudio))
	w("first-packet latency", "%s (first audio chunk → first RTP packet at the voice server)", ms(r.FirstPacket))
	w("reply length", "%s (%s, %d bytes as attached)", replyLen, r.Attachment.Name, len(r.Attachment.Data))
	w("packets", "%d sent by the bot, %d received by the listener, %d lost", r.Sent, len(r.Heard), lost)
	w("lateness", "p50 %s, p99 %s, max %s (arrival vs a steady 20 ms clock, at the listener)",
		ms(percentile(late, 0.5)), ms(percentile(late, 0.99)), ms(percentile(late, 1)))
	dave := "off (this build has no DAVE wiring)"
	if r.DAVE {
		dave = fmt.Sprintf("on (MLS epoch %d; the listener decrypted with its own group member)", r.Epoch)
	}
	w("encryption", "%s transport; DAVE %s", r.Mode, dave)
	if reply != nil && len(heard) > 0 {
		mono := make([]int16, len(heard)/2)
		for i := range mono {
			mono[i] = int16((int32(heard[2*i]) + int32(heard[2*i+1])) / 2)
		}
		w("heard vs reply", "envelope correlation %.3f (1 = same phrasing)",
			livetest.EnvelopeCorrelation(reply, live.SampleRate, mono, 48000, time.Second))
	}
	if len(r.Violations) > 0 {
		w("voice protocol", "%d violations: %s", len(r.Violations), strings.Join(r.Violations, "; "))
	} else {
		w("voice protocol", "no violations recorded by the voice server")
	}
	w("transcript", "%s", transcriptOf(r.Message.Content))
	_, body, _ := strings.Cut(r.Message.Content, "\n\n")
	_, tools, sources := answerExtras(body)
	w("tools", "%s", orDefault(strings.Join(tools, "; "), "none"))
	w("sources", "%s", orDefault(strings.Join(sources, " "), "none"))
	if r.Image != "" {
		w("image", "%s", r.Image)
	}
	w("wrote", "%s (the attachment as posted), %s (what the listener decoded, 48 kHz stereo)", replyPath, heardPath)
	w("total", "%s", took.Round(10*time.Millisecond))
	if len(r.Violations) > 0 {
		return errors.New("the voice server recorded protocol violations")
	}
	return nil
}

// transcriptOf takes the transcript out of the final reply: between the
// quoted prompt (the header's paragraph) and the footer lines.
func transcriptOf(content string) string {
	_, body, ok := strings.Cut(content, "\n\n")
	if !ok {
		return content
	}
	if i := strings.LastIndex(body, "\n\n"); i >= 0 {
		body = body[:i]
	}
	transcript, _, _ := answerExtras(body)
	return transcript
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
