package mls

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/livecord/livecord/internal/nodetest"
)

// davey drives @snazzah/davey (OpenMLS) through tools/node/mls-davey.mjs.
type davey struct {
	t    *testing.T
	ctx  context.Context
	node *nodetest.Process
}

func startDavey(t *testing.T) *davey {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &davey{t: t, ctx: ctx, node: nodetest.Start(ctx, t, "mls-davey.mjs", nil)}
}

func (d *davey) call(req map[string]any) map[string]any {
	d.t.Helper()
	if err := d.node.Send(req); err != nil {
		d.t.Fatal(err)
	}
	line, err := d.node.Next(d.ctx)
	if err != nil {
		d.t.Fatalf("davey %v: %v", req["cmd"], err)
	}
	var reply map[string]any
	if err := json.Unmarshal(line, &reply); err != nil {
		d.t.Fatal(err)
	}
	if e, ok := reply["error"]; ok {
		d.t.Fatalf("davey %v: %v", req["cmd"], e)
	}
	return reply
}

func (d *davey) bytes(reply map[string]any, key string) []byte {
	d.t.Helper()
	s, _ := reply[key].(string)
	b, err := hex.DecodeString(s)
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

// proposals hands davey an op-27 append vector and returns its commit and Welcome.
func (d *davey) proposals(user string, users []string, msgs ...[]byte) (commit, welcome []byte) {
	r := d.call(map[string]any{"cmd": "proposals", "user": user, "vec": hex.EncodeToString(vecBytes(bytes.Join(msgs, nil))), "users": users})
	return d.bytes(r, "commit"), d.bytes(r, "welcome")
}

func (d *davey) authenticator(user string, epoch uint64) []byte {
	r := d.call(map[string]any{"cmd": "state", "user": user})
	if r["epoch"] != strconv.FormatUint(epoch, 10) {
		d.t.Fatalf("davey %s at epoch %v, want %d", user, r["epoch"], epoch)
	}
	return d.bytes(r, "auth")
}

// TestDaveyInterop forms a group with OpenMLS (via davey): we create the group
// and davey joins by our Welcome; davey commits an Add and we follow and join
// by its Welcome; we commit a Remove with an UpdatePath that davey processes;
// davey commits a Remove with an UpdatePath that we process. Epoch
// authenticators must match at every step.
func TestDaveyInterop(t *testing.T) {
	d := startDavey(t)
	gw := newGateway(t)
	channel := strconv.FormatUint(binary64(gw.groupID), 10)
	ext := gw.sender()
	users := []string{"1", "2", "3", "4"}
	kpD, err := UnmarshalKeyPackage(d.bytes(d.call(map[string]any{"cmd": "new", "user": "2", "channel": channel, "ext": hex.EncodeToString(ext.Marshal())}), "kp"))
	if err != nil {
		t.Fatal(err)
	}
	a, c, e := newTestMember(t, 1), newTestMember(t, 3), newTestMember(t, 4)
	a.pending(t, gw)

	// Epoch 0 -> 1: A adds davey.
	a.propose(t, gw.add(0, kpD))
	commit, welcome := a.commit(t)
	a.process(t, commit)
	d.call(map[string]any{"cmd": "welcome", "user": "2", "data": hex.EncodeToString(welcome)})
	eq(t, "epoch 1 authenticator", d.authenticator("2", 1), a.g.EpochAuthenticator())

	// 1 -> 2: davey commits the Add of C; A follows, C joins by davey's Welcome.
	addC := gw.add(1, c.kp)
	a.propose(t, addC)
	commit, welcome = d.proposals("2", users, addC)
	a.process(t, commit)
	d.call(map[string]any{"cmd": "commit", "user": "2", "data": hex.EncodeToString(commit)})
	c.join(t, welcome)
	eq(t, "epoch 2 authenticator (A)", d.authenticator("2", 2), a.g.EpochAuthenticator())
	eq(t, "epoch 2 authenticator (C)", c.g.EpochAuthenticator(), a.g.EpochAuthenticator())

	// 2 -> 3: A commits the removal of C with an UpdatePath; davey processes it.
	rmC := gw.remove(2, c.g.OwnLeaf())
	a.propose(t, rmC)
	d.proposals("2", users, rmC) // davey queues it and makes its own (losing) commit
	commit, _ = a.commit(t)
	a.process(t, commit)
	d.call(map[string]any{"cmd": "commit", "user": "2", "data": hex.EncodeToString(commit)})
	eq(t, "epoch 3 authenticator", d.authenticator("2", 3), a.g.EpochAuthenticator())

	// 3 -> 4: A adds E; 4 -> 5: davey removes E with an UpdatePath, A follows.
	addE := gw.add(3, e.kp)
	a.propose(t, addE)
	d.proposals("2", users, addE)
	commit, welcome = a.commit(t)
	a.process(t, commit)
	d.call(map[string]any{"cmd": "commit", "user": "2", "data": hex.EncodeToString(commit)})
	e.join(t, welcome)
	eq(t, "epoch 4 authenticator", d.authenticator("2", 4), e.g.EpochAuthenticator())
	rmE := gw.remove(4, e.g.OwnLeaf())
	a.propose(t, rmE)
	commit, _ = d.proposals("2", users, rmE)
	if m, err := parseMLSMessage(commit); err != nil || m.public.content.commit.path == nil {
		t.Fatalf("davey's remove commit has no path (%v)", err)
	}
	a.process(t, commit)
	d.call(map[string]any{"cmd": "commit", "user": "2", "data": hex.EncodeToString(commit)})
	eq(t, "epoch 5 authenticator", d.authenticator("2", 5), a.g.EpochAuthenticator())
	t.Logf("davey and Go agreed on 5 epochs (welcomes both ways, add and remove commits both ways)")
}

func binary64(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}
