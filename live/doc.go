// Package live is a client for Google's Gemini Live API (BidiGenerateContent
// over WebSocket), built on github.com/coder/websocket.
//
// A [Session] is one conversation. [Dial] opens it and waits for the
// server's setupComplete; [Session.Send] sends one text turn and returns a
// [Turn] whose [Turn.Next] yields the reply as typed [Event]s in wire order
// (audio, text, transcriptions, generationComplete, turnComplete with usage,
// interrupted, goAway, resumption updates), then io.EOF.
//
// The service closes every connection after about ten minutes (goAway first)
// and sometimes fails with 1011. The Session keeps the latest resumable
// handle and, at the next turn boundary, reconnects with it, so the
// conversation keeps its context across connections. A turn that hears
// nothing from the server for [Config.StallTimeout] fails with a stall error.
// Failures are [*Error] values classified from the WebSocket close code and
// reason; [Error.UserMessage] is plain words for a Discord user.
//
// Every wait is bounded whatever the server does: connect, upgrade and
// setup share [Config.ConnectTimeout] (no upgrade answer is
// ClassUnreachable, no setupComplete ClassTimeout); a turn ends within
// [Config.TurnTimeout] even if the server keeps dripping messages; a reply
// longer than [Config.MaxReply] is cut there (ClassTooLong, the audio so far
// kept), so a server flooding audio cannot make the client buffer without
// bound; Close returns within about a second and a half. An idle Session
// holds no finished turn: its memory is its connection's (about 13 KiB of
// heap and one reader goroutine).
//
// Spoken conversation: with [Config.Realtime] set, [Session.SendAudio]
// streams 16 kHz microphone audio (realtimeInput), [Session.SendAudioEnd]
// says the stream paused, and the service's activity detection decides when
// the user spoke; its replies are Turns the server starts, claimed with
// [Session.NextTurn]. They open with EventActivityStart/End and
// EventInputTranscript (what was heard); speech over a reply interrupts it.
// [Session.SendContext] adds text (e.g. who is speaking) without asking for
// a reply.
//
// Decisions that differ from the official SDKs:
//   - The API key travels in the x-goog-api-key header (as python-genai and
//     go-genai send it), not in the ?key= query, so it cannot leak through URL
//     errors; errors are scrubbed of it anyway. Ephemeral tokens
//     ("auth_tokens/…") use the BidiGenerateContentConstrained method with an
//     "Authorization: Token" header.
//   - A Config literal starts with output transcription off (Go's zero
//     value); the bot's configuration loader turns it on for audio replies.
//   - Text turns are sent as clientContent with turnComplete, which is what
//     the seed notebook's send(..., end_of_turn=True) does; a new turn sent
//     while a reply is still streaming interrupts it (the old Turn yields
//     EventInterrupted, then io.EOF).
package live
