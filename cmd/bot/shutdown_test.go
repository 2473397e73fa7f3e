package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/voicetest"
)

// runMainEnv makes the test binary behave as the bot binary (main with its
// real signal handling), so a test can start it as a child process and
// signal it without a separate build.
const runMainEnv = "LIVECORD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

// TestSIGTERMDuringSpokenReply sends SIGTERM to a running bot process while
// it speaks a long reply to a listener in a DAVE voice channel: it must leave
// the channel on the main gateway (op 4 with a null channel), tell the
// asker, and exit 0 within 5 s, with no voice protocol violation.
func TestSIGTERMDuringSpokenReply(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	// A DAVE channel, as on Discord, with alice listening in it.
	vt := voicetest.NewServer(t, voicetest.Options{DAVE: voicetest.NewExternalSender(), RequireDAVE: true})
	dc := discordtest.NewServer(t, discordtest.Options{VoiceServer: vt.VoiceServer})
	// Real-time streaming of a 30 s answer: the turn is still running when
	// the signal arrives.
	lv := livetest.NewServer(t, livetest.Options{Speed: 1})
	lv.Script(livetest.Reply{Transcript: "A long answer that is still being spoken.", Duration: 30 * time.Second})
	g := dc.AddGuild("shutdown")
	text := dc.AddChannel(g.ID, "general", discordtest.ChannelText)
	vc := dc.AddChannel(g.ID, "lounge", discordtest.ChannelVoice)
	alice := dc.AddUser("alice")
	dc.AddMember(g.ID, alice)
	dc.SetVoiceState(g.ID, alice.ID, vc.ID)
	botID := dc.BotUser().ID

	lc := voice.Config{Server: vt.Grant(g.ID, vc.ID, alice.ID, "alice-session"), UserID: alice.ID,
		GuildID: g.ID, ChannelID: vc.ID, TLSConfig: vt.ClientTLS()}
	uid, _ := strconv.ParseUint(alice.ID, 10, 64)
	cid, _ := strconv.ParseUint(vc.ID, 10, 64)
	d, err := voice.NewDAVE(uid, cid, nil)
	if err != nil {
		t.Fatal(err)
	}
	lc.E2EE = d
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	listener, err := voice.Dial(dctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()

	dir := t.TempDir()
	// The child trusts the voice emulator's certificate as its only root,
	// the way an operator would add a private CA.
	certFile := filepath.Join(dir, "voice-ca.pem")
	if err := os.WriteFile(certFile, vt.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(os.Args[0], "run")
	cmd.Dir = dir // no stray .env
	cmd.Env = append(os.Environ(), runMainEnv+"=1",
		"DISCORD_TOKEN="+dc.Token(), "DISCORD_API_URL="+dc.URL(), "DISCORD_GUILD_ID="+g.ID,
		"GEMINI_API_KEY="+lv.Key, "GEMINI_BASE_URL="+lv.URL(), "LIVECORD_DATA_DIR="+filepath.Join(dir, "data"),
		"BOT_VOICE=true", "ADMIN_ADDR=off", "LOG_LEVEL=debug", "SSL_CERT_FILE="+certFile, "SSL_CERT_DIR="+dir)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	if err := dc.WaitCommand(ctx, g.ID, "ask"); err != nil {
		t.Fatalf("bot never registered /ask: %v\n%s", err, logs.String())
	}
	ia, err := dc.Invoke(ctx, discordtest.Invocation{GuildID: g.ID, ChannelID: text.ID, User: alice,
		Command: "ask", Options: map[string]any{"prompt": "tell me something long"}})
	if err != nil {
		t.Fatal(err)
	}
	// One second of the reply has reached the voice server: it is speaking.
	if _, err := vt.WaitFrames(ctx, botID, func(fs []voicetest.Frame) bool { return len(fs) >= 50 }); err != nil {
		t.Fatalf("the bot did not speak: %v\n%s", err, logs.String())
	}
	if ch := dc.VoiceChannel(g.ID, botID); ch != vc.ID {
		t.Fatalf("bot in voice channel %q, want %q", ch, vc.ID)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		took := time.Since(start)
		t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
		exited <- err // for the deferred check
		if err != nil {
			var ee *exec.ExitError
			errors.As(err, &ee)
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
		if took > 5*time.Second {
			t.Fatalf("took %v to exit after SIGTERM, want at most 5 s", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after SIGTERM\n%s", logs.String())
	}
	// Op 4 with a null channel reached the main gateway before the process
	// ended (the emulator clears the bot's voice state only on that).
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	defer wcancel()
	if err := dc.WaitVoiceChannel(wctx, g.ID, botID, ""); err != nil {
		t.Fatalf("the bot stayed in the voice channel (no op 4 with a null channel): %v\n%s", err, logs.String())
	}
	// The asker was told why the answer stopped.
	m, ok := ia.Original()
	if !ok || !strings.Contains(m.Content, "restarting") {
		t.Errorf("asker not told about the shutdown; reply: %q", m.Content)
	}
	if out := logs.String(); !strings.Contains(out, "bot stopped") || strings.Contains(out, dc.Token()) || strings.Contains(out, lv.Key) {
		t.Errorf("logs lack the clean stop, or show a secret:\n%s", out)
	}
}
