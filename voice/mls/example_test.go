package mls_test

import (
	"bytes"
	"fmt"

	"github.com/livecord/livecord/voice/mls"
)

// Two DAVE members form a group through an external sender (the gateway).
func Example() {
	gateway, _ := mls.GenerateSignatureKey()
	ext := mls.ExternalSender{SignatureKey: gateway.PublicKey(), Identity: []byte{0, 1, 1, 0}}
	groupID := []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}

	sigA, _ := mls.GenerateSignatureKey()
	_, privA, _ := mls.NewKeyPackage([]byte{0, 0, 0, 0, 0, 0, 0, 1}, sigA, mls.KeyPackageOptions{})
	sigB, _ := mls.GenerateSignatureKey()
	kpB, privB, _ := mls.NewKeyPackage([]byte{0, 0, 0, 0, 0, 0, 0, 2}, sigB, mls.KeyPackageOptions{})

	a, _ := mls.NewGroup(groupID, privA, []mls.ExternalSender{ext})
	add, _ := mls.ExternalAddProposal(groupID, a.Epoch(), gateway, kpB)
	if _, err := a.ProcessProposal(add); err != nil {
		panic(err)
	}
	commit, welcome, _ := a.Commit()
	if err := a.ProcessCommit(commit); err != nil { // the gateway echoes A's winning commit
		panic(err)
	}
	b, err := mls.JoinFromWelcome(welcome, privB, nil)
	if err != nil {
		panic(err)
	}
	ka, _ := a.Export("Discord Secure Frames v0", []byte{2, 0, 0, 0, 0, 0, 0, 0}, 16)
	kb, _ := b.Export("Discord Secure Frames v0", []byte{2, 0, 0, 0, 0, 0, 0, 0}, 16)
	fmt.Println(a.Epoch(), b.Epoch(), len(b.Members()), bytes.Equal(ka, kb))
	// Output: 1 1 2 true
}
