// Package voice is the bot's presence in Discord voice, written for today's
// Discord: voice gateway v8 over WebSocket, UDP IP discovery, RTP with the
// rtpsize transport AEAD (aead_aes256_gcm_rtpsize preferred,
// aead_xchacha20_poly1305_rtpsize supported), speaking, heartbeats with
// seq_ack, resume and new-session handling driven by a close-code table, and
// DAVE end-to-end encryption.
//
// Channel owns the bot's life in one guild's voice channel: it sends op 4
// through a function the caller passes in (Op4 is discordgo's), takes the
// main gateway's VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE in either order
// (StateUpdate, ServerUpdate; Follow wires discordgo's handlers), follows a
// voice server failover, rejoins on close codes that need a new session,
// speaks DAVE unless told not to (Stage channels, tests), plays replies
// through its player (Speak returns a Speech), leaves when idle or alone,
// and reports what metrics need through Hooks. Join does all of that for a
// program with a discordgo session.
//
// The Channel also listens: Listen registers one function that receives
// what every speaker says as inbound events (Start, 16 kHz Audio chunks,
// Onset, End), through transport decryption, SSRC → user (op 5, with
// packets of unnamed SSRCs held briefly), DAVE and the per-speaker pipeline
// of voice/inbound; Ignore leaves out users the main gateway says must not
// be heard (bots, deafened, server-muted); ReceiveStats counts what was
// dropped and why. The listener outlives reconnects and rejoins.
//
// Conn is one voice connection, for callers that have the three values
// from the main gateway themselves (Dial), such as a listener in tests.
// The E2EE interface is where DAVE (NewDAVE) plugs into a Conn.
//
// The player lives in voice/player; the protocol's bytes (messages, op and
// close codes, discovery, the transport cipher) in voice/internal/wire,
// shared with the emulator voice/voicetest.
package voice
