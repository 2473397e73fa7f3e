// Package dave implements Discord's DAVE end-to-end encryption (protocol
// version 1) for a voice client: the MLS group lifecycle driven by voice
// gateway opcodes 21-31, per-sender key ratchets derived from the MLS
// exporter, and the Opus frame encryptor and decryptor.
//
// A [Session] is a transport-agnostic state machine. The voice connection
// feeds it every voice gateway message ([Session.HandleOp]) and sends what it
// returns; the audio path calls [Session.Encrypt] on each outgoing Opus frame
// and [Session.Decrypt] on each received one. The MLS group operations come
// from package voice/mls (RFC 9420, cipher suite 2).
//
// Byte layouts and behaviours follow the DAVE whitepaper, libdave and davey;
// the tests check them against the real @snazzah/davey client.
package dave
