package main

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/livecord/livecord/bot"
	"github.com/livecord/livecord/voice"
)

// Every voice connection speaks DAVE: Discord refuses voice clients without
// it outside Stage channels, and DAVE still works there (protocol version 0).
func init() { voiceE2EE = newVoiceDAVE }

// newVoiceDAVE returns the DAVE layer for one voice connection of the bot.
func newVoiceDAVE(vs bot.VoiceServer, log *slog.Logger) (voice.E2EE, error) {
	uid, err := strconv.ParseUint(vs.UserID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("dave: bot user id %q: %w", vs.UserID, err)
	}
	cid, err := strconv.ParseUint(vs.ChannelID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("dave: channel id %q: %w", vs.ChannelID, err)
	}
	if log != nil {
		log = log.With("component", "dave")
	}
	return voice.NewDAVE(uid, cid, log)
}
