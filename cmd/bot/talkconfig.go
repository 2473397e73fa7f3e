package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/livecord/livecord/bot"
)

// readTalkConfig reads the spoken conversation's settings (/talk): the
// service's activity detection (realtimeInputConfig: GEMINI_VAD,
// GEMINI_VAD_START_SENSITIVITY, GEMINI_VAD_END_SENSITIVITY,
// GEMINI_VAD_PREFIX_PADDING, GEMINI_VAD_SILENCE) and the bot's
// (BOT_TALK_IDLE_TIMEOUT, BOT_TALK_NAME_GATE, BOT_TALK_NAME). Every bad
// value is an error naming its key.
func readTalkConfig(getenv func(string) string) (bot.TalkConfig, []error) {
	var c bot.TalkConfig
	var errs []error
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	switch v := strings.ToLower(get("GEMINI_VAD")); v {
	case "", "auto":
	case "manual":
		c.Realtime.ManualActivity = true
	default:
		errs = append(errs, fmt.Errorf("GEMINI_VAD: %q is not auto or manual", v))
	}
	sens := func(k string) string {
		switch v := strings.ToLower(get(k)); v {
		case "", "high", "low":
			return v
		default:
			errs = append(errs, fmt.Errorf("%s: %q is not high or low", k, v))
			return ""
		}
	}
	c.Realtime.StartSensitivity = sens("GEMINI_VAD_START_SENSITIVITY")
	c.Realtime.EndSensitivity = sens("GEMINI_VAD_END_SENSITIVITY")
	dur := func(k string, max time.Duration) time.Duration {
		v := get(k)
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 300ms", k, v))
		case d < 0 || d > max:
			errs = append(errs, fmt.Errorf("%s: %v is not within 0..%v", k, d, max))
		case d%time.Millisecond != 0:
			errs = append(errs, fmt.Errorf("%s: %v is finer than the service's milliseconds", k, d))
		default:
			return d
		}
		return 0
	}
	c.Realtime.PrefixPadding = dur("GEMINI_VAD_PREFIX_PADDING", 10*time.Second)
	c.Realtime.SilenceDuration = dur("GEMINI_VAD_SILENCE", 10*time.Second)
	if c.Realtime.ManualActivity && get("GEMINI_VAD_START_SENSITIVITY")+get("GEMINI_VAD_END_SENSITIVITY")+
		get("GEMINI_VAD_PREFIX_PADDING")+get("GEMINI_VAD_SILENCE") != "" {
		errs = append(errs, fmt.Errorf("GEMINI_VAD=manual: the GEMINI_VAD_* settings tune automatic detection; unset them"))
	}
	if v := get("BOT_TALK_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("BOT_TALK_IDLE_TIMEOUT: %q is not a positive duration such as 5m", v))
		} else {
			c.IdleTimeout = d
		}
	} else {
		c.IdleTimeout = bot.DefaultTalkIdle
	}
	if v := get("BOT_TALK_NAME_GATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("BOT_TALK_NAME_GATE: %q is not true or false", v))
		}
		c.NameGate = b
	}
	c.Name = get("BOT_TALK_NAME")
	if len(c.Name) > 32 {
		errs = append(errs, fmt.Errorf("BOT_TALK_NAME: %q is longer than 32 characters", c.Name))
	}
	return c, errs
}
