// Package voice is one Discord voice connection, written for today's Discord:
// voice gateway v8 over WebSocket, UDP IP discovery, RTP with the rtpsize
// transport AEAD (aead_aes256_gcm_rtpsize preferred,
// aead_xchacha20_poly1305_rtpsize supported), speaking, heartbeats with
// seq_ack, resume and new-session handling driven by a close-code table, and
// a Player that turns 24 kHz PCM chunks into paced Opus packets.
//
// DAVE end-to-end encryption plugs in through the E2EE interface: it receives
// the DAVE gateway op codes (21–31, JSON and binary) and transforms each Opus
// frame between the encoder and RTP.
//
// Dial connects given the values from the main gateway's VOICE_STATE_UPDATE
// and VOICE_SERVER_UPDATE; Join obtains them through discordgo
// (ChannelVoiceJoinManual, never ChannelVoiceJoin) and dials.
package voice
