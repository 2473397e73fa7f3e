package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/live"
)

func TestReadTalkConfig(t *testing.T) {
	c, errs := readTalkConfig(env(nil))
	if len(errs) > 0 || c.IdleTimeout != bot.DefaultTalkIdle || c.NameGate || c.Realtime != (live.Realtime{}) {
		t.Fatalf("defaults: %+v %v", c, errs)
	}
	c, errs = readTalkConfig(env(map[string]string{"GEMINI_VAD": "Auto", "GEMINI_VAD_START_SENSITIVITY": "low",
		"GEMINI_VAD_END_SENSITIVITY": "HIGH", "GEMINI_VAD_PREFIX_PADDING": "40ms", "GEMINI_VAD_SILENCE": "0.5s",
		"BOT_TALK_IDLE_TIMEOUT": "2m", "BOT_TALK_NAME_GATE": "true", "BOT_TALK_NAME": "Gem"}))
	want := live.Realtime{StartSensitivity: "low", EndSensitivity: "high", PrefixPadding: 40 * time.Millisecond, SilenceDuration: 500 * time.Millisecond}
	if len(errs) > 0 || c.Realtime != want || c.IdleTimeout != 2*time.Minute || !c.NameGate || c.Name != "Gem" {
		t.Fatalf("set: %+v %v", c, errs)
	}
	if c, _ := readTalkConfig(env(map[string]string{"GEMINI_VAD": "manual"})); !c.Realtime.ManualActivity {
		t.Fatal("GEMINI_VAD=manual ignored")
	}
	_, errs = readTalkConfig(env(map[string]string{"GEMINI_VAD": "manual", "GEMINI_VAD_START_SENSITIVITY": "medium",
		"GEMINI_VAD_SILENCE": "-1s", "GEMINI_VAD_PREFIX_PADDING": "soon", "BOT_TALK_IDLE_TIMEOUT": "0s", "BOT_TALK_NAME_GATE": "maybe"}))
	msg := errors.Join(errs...).Error()
	for _, key := range []string{"GEMINI_VAD_START_SENSITIVITY", "GEMINI_VAD_SILENCE", "GEMINI_VAD_PREFIX_PADDING",
		"BOT_TALK_IDLE_TIMEOUT", "BOT_TALK_NAME_GATE", "GEMINI_VAD=manual"} {
		if !strings.Contains(msg, key) {
			t.Errorf("errors %q do not name %s", msg, key)
		}
	}
}
