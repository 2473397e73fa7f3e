package bot

import (
	"testing"
	"time"

	"github.com/livecord/livecord/voice/inbound"
)

// TestFloor: the first speaker holds the floor until they pause; a second
// starting meanwhile is held and replayed in order after; a third whose
// held turn already ended is sent whole; held audio past maxHold is dropped.
func TestFloor(t *testing.T) {
	f := newFloor(60 * time.Millisecond) // three chunks
	var got []string
	emit := func(it item) {
		s := it.user + ":" + map[itemKind]string{itemStart: "start", itemAudio: "audio", itemEnd: "end"}[it.kind]
		if it.kind == itemAudio {
			s += ":" + string(rune('0'+it.pcm[0]))
		}
		got = append(got, s)
	}
	ev := func(k inbound.Kind, u string, n int16) {
		e := inbound.Event{Kind: k, UserID: u, At: time.Now()}
		if k == inbound.Audio {
			e.PCM = make([]int16, inbound.ChunkSamples)
			e.PCM[0] = n
		}
		f.event(e, emit)
	}
	ev(inbound.Start, "a", 0)
	ev(inbound.Audio, "a", 1)
	ev(inbound.Start, "b", 0)
	ev(inbound.Audio, "b", 1)
	ev(inbound.Start, "c", 0)
	ev(inbound.Audio, "c", 1)
	ev(inbound.End, "c", 0)
	ev(inbound.Audio, "a", 2)
	for i := range int16(5) {
		ev(inbound.Audio, "b", 2+i)
	}
	ev(inbound.End, "a", 0)
	ev(inbound.Audio, "b", 7)
	ev(inbound.End, "b", 0)
	want := []string{"a:start", "a:audio:1", "a:audio:2", "a:end",
		"b:start", "b:audio:1", "b:audio:2", "b:audio:3", // the rest of b's held turn passed maxHold
		"b:audio:7", "b:end", "c:start", "c:audio:1", "c:end"}
	if len(got) != len(want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	}
	if f.dropped != 3 {
		t.Fatalf("dropped %d held chunks, want 3", f.dropped)
	}
}

func TestAddresses(t *testing.T) {
	for _, c := range []struct {
		heard, name string
		want        bool
	}{
		{"Hey livecord, what time is it?", "livecord", true},
		{"LIVECORD!", "livecord", true},
		{"live cord is nice", "livecord", false},
		{"Okay Gemini Bot, go", "Gemini Bot", true},
		{"what time is it", "livecord", false},
		{"anything", "", false},
	} {
		if got := addresses(c.heard, c.name); got != c.want {
			t.Errorf("addresses(%q, %q) = %v", c.heard, c.name, got)
		}
	}
}
