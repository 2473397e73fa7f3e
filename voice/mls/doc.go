// Package mls implements the subset of MLS (RFC 9420) that Discord's DAVE
// end-to-end encryption needs, in pure Go on the standard library: cipher
// suite 2 (MLS_128_DHKEMP256_AES128GCM_SHA256_P256) only, basic credentials,
// handshake messages as PublicMessage, Add/Remove proposals from an external
// sender (the voice gateway) or members, commits with and without UpdatePath,
// and Welcomes carrying the ratchet tree.
//
// A DAVE session uses it like this:
//
//	kp, priv, _ := mls.NewKeyPackage(beUserID, sig, mls.KeyPackageOptions{}) // op 26: kp.Marshal()
//	g, _ := mls.NewGroup(beChannelID, priv, []mls.ExternalSender{*op25})      // pending epoch-0 group
//	p, _ := g.ProcessProposal(msg)   // each MLSMessage of op 27 (split with SplitMessage)
//	commit, welcome, _ := g.Commit() // op 28 = commit ‖ welcome
//	_ = g.ProcessCommit(op29Commit)  // own commit (byte-equal) merges; others' are verified and applied
//	g2, _ := mls.JoinFromWelcome(op30Welcome, priv, nil)
//	base, _ := g.Export("Discord Secure Frames v0", le64UserID, 16)
//
// Every decoder is total: malformed input yields an error, never a panic, and
// allocation is bounded by the input length. A Group is not safe for
// concurrent use; a failed ProcessCommit leaves it unchanged.
package mls
