package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// CommitInfo summarizes a commit without verifying it, for an external sender
// (the DAVE gateway emulator) deciding which commit wins an epoch.
type CommitInfo struct {
	GroupID      []byte
	Epoch        uint64
	Sender       uint32   // committer's leaf index
	ProposalRefs [][]byte // by-reference proposals, in order
	ByValue      int      // proposals carried by value
	HasPath      bool
}

// InspectCommit decodes an MLSMessage(PublicMessage) commit from a member.
func InspectCommit(msg []byte) (*CommitInfo, error) {
	m, err := parseMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.public == nil || m.public.content.contentType != contentCommit || m.public.content.sender.typ != senderMember {
		return nil, errors.New("mls: inspect commit: not a member PublicMessage commit")
	}
	c := &m.public.content
	info := &CommitInfo{GroupID: c.groupID, Epoch: c.epoch, Sender: c.sender.index, HasPath: c.commit.path != nil}
	for _, p := range c.commit.proposals {
		if p.prop != nil {
			info.ByValue++
		} else {
			info.ProposalRefs = append(info.ProposalRefs, p.ref)
		}
	}
	return info, nil
}

// WelcomeFor returns a bare Welcome holding only the EncryptedGroupSecrets for
// the key package with reference kpRef (DAVE gateways forward per joiner).
func WelcomeFor(welcomeMsg, kpRef []byte) ([]byte, error) {
	r := reader{b: clone(welcomeMsg)}
	var wl welcome
	wl.unmarshal(&r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode welcome: %w", err)
	}
	i := slices.IndexFunc(wl.secrets, func(e encryptedGroupSecrets) bool { return bytes.Equal(e.newMember, kpRef) })
	if i < 0 {
		return nil, errors.New("mls: welcome has no secrets for that key package")
	}
	wl.secrets = wl.secrets[i : i+1]
	var w writer
	wl.marshal(&w)
	return w.b, nil
}
