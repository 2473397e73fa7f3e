package mls

import (
	"fmt"
	"testing"
)

// benchGroup builds an n-member group the DAVE way (gateway Adds, one
// commit, Welcome joins), followed by an empty commit so the tree has a
// populated path like a group that has lived a while.
func benchGroup(b *testing.B, n int) (*gateway, []*testMember) {
	gw := newGateway(b)
	ms := []*testMember{newTestMember(b, 1)}
	ms[0].pending(b, gw)
	for i := 1; i < n; i++ {
		m := newTestMember(b, uint64(i+1))
		ms = append(ms, m)
		ms[0].propose(b, gw.add(0, m.kp))
	}
	c, w := ms[0].commit(b)
	ms[0].process(b, c)
	for _, m := range ms[1:] {
		m.join(b, w)
	}
	c, _ = ms[0].commit(b)
	for _, m := range ms {
		m.process(b, c)
	}
	return gw, ms
}

// BenchmarkCommit measures creating (member 0) and processing (member 1) the
// two commits DAVE produces: an add-only commit without path plus its
// Welcome, and a remove commit (of the last leaf) with an UpdatePath.
func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{2, 10, 25} {
		gw, ms := benchGroup(b, n)
		epoch := ms[0].g.Epoch()
		newcomer := newTestMember(b, 1000)
		kinds := []struct {
			name     string
			proposal []byte
		}{
			{"add", gw.add(epoch, newcomer.kp)},
			{"remove", gw.remove(epoch, uint32(n-1))},
		}
		for _, k := range kinds {
			committer, processor := *ms[0].g, *ms[1].g
			if _, err := committer.ProcessProposal(k.proposal); err != nil {
				b.Fatal(err)
			}
			if _, err := processor.ProcessProposal(k.proposal); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("create/%s/members=%d", k.name, n), func(b *testing.B) {
				for b.Loop() {
					if _, _, err := committer.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
			if k.name == "remove" && n == 2 {
				continue // the only other member is the one removed
			}
			commit, _, err := committer.Commit()
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("process/%s/members=%d", k.name, n), func(b *testing.B) {
				for b.Loop() {
					g := processor
					if err := g.ProcessCommit(commit); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
