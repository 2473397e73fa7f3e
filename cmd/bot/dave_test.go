package main

import (
	"testing"

	"github.com/livecord/livecord/bot"
)

// The run command's voice connections speak DAVE (max_dave_protocol_version 1).
func TestVoiceConnectionsSpeakDAVE(t *testing.T) {
	if voiceE2EE == nil {
		t.Fatal("voiceE2EE is not wired")
	}
	e, err := voiceE2EE(bot.VoiceServer{UserID: "158049329150427136", ChannelID: "1189187449416429608"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := e.MaxProtocolVersion(); v != 1 {
		t.Fatalf("max_dave_protocol_version %d", v)
	}
	for _, vs := range []bot.VoiceServer{{UserID: "bot", ChannelID: "1"}, {UserID: "1", ChannelID: ""}} {
		if _, err := voiceE2EE(vs, nil); err == nil {
			t.Errorf("%+v: no error for a non-snowflake ID", vs)
		}
	}
}
