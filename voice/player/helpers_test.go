package player_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livecord/livecord/voice"
	"github.com/livecord/livecord/voice/internal/wire"
	"github.com/livecord/livecord/voice/player"
	"github.com/livecord/livecord/voice/voicetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	guildID   = "100000000000000001"
	channelID = "100000000000000002"
	botID     = "100000000000000003"
	userID    = "100000000000000004"
)

// dial connects user to srv's call, granting a fresh session.
func dial(t *testing.T, srv *voicetest.Server, user string, mut func(*voice.Config)) *voice.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := voice.Config{
		Server:    srv.Grant(guildID, channelID, user, "sess-"+user),
		UserID:    user,
		GuildID:   guildID,
		ChannelID: channelID,
		TLSConfig: srv.ClientTLS(),
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := voice.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func testKey() wire.SecretKey {
	var k wire.SecretKey
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

// newPlayer starts a default Player sending to sink and closes it when the
// test ends (before the connections dialled earlier: cleanups run last-first).
func newPlayer(ctx context.Context, t *testing.T, sink player.Sink) *player.Player {
	t.Helper()
	p, err := player.New(ctx, sink, player.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
