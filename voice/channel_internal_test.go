package voice

import (
	"context"
	"strings"
	"testing"
)

// DAVE is the default, and it needs snowflake IDs: a Channel given others
// refuses to dial rather than join without end-to-end encryption.
func TestChannelDAVENeedsSnowflakes(t *testing.T) {
	for _, ids := range [][2]string{{"bot", "1"}, {"1", ""}} {
		c := NewChannel(ChannelConfig{GuildID: "1", UserID: ids[0]})
		_, err := c.dial(context.Background(), ids[1], Server{Endpoint: "127.0.0.1:1"}, 0)
		if err == nil || !strings.Contains(err.Error(), "dave") {
			t.Errorf("user %q channel %q: err %v, want a DAVE id error", ids[0], ids[1], err)
		}
		c.Close()
	}
}
