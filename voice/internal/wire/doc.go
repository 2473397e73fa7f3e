// Package wire is the Discord voice protocol as bytes: gateway v8 messages
// and op codes (JSON and DAVE's binary frames), the close-code table, IP
// discovery packets, and the rtpsize transport AEAD over RTP. voice speaks
// it as a client and voicetest as a server, so both read one definition.
package wire
