package bot

import (
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// The running transcript of a spoken conversation: one text-channel
// message per exchange, "**Alice:** what she said" then the bot's reply,
// posted when there is something to show and edited as it streams, at
// most once per Config.EditInterval (as /ask's replies), never pinging
// anyone.

// exchangeMsg is one exchange's message. Its setters are called from the
// talk's goroutines; a chanEditor applies the latest content.
type exchangeMsg struct {
	ed      *chanEditor
	speaker string
	bot     string

	mu          sync.Mutex
	heard       string
	reply       string
	streaming   bool
	interrupted bool
}

func newExchangeMsg(b *Bot, channelID, speaker string) *exchangeMsg {
	return &exchangeMsg{ed: newChanEditor(b, channelID, b.cfg.EditInterval), speaker: speaker,
		bot: b.botName(), streaming: true}
}

func (x *exchangeMsg) update(fn func()) {
	x.mu.Lock()
	fn()
	text := x.renderLocked()
	x.mu.Unlock()
	if text != "" {
		x.ed.set(text)
	}
}

func (x *exchangeMsg) setHeard(s string) { x.update(func() { x.heard = s }) }
func (x *exchangeMsg) setReply(s string) { x.update(func() { x.reply = s }) }

// cut marks the reply as interrupted (barge-in); it may come after done,
// while the reply is still being played.
func (x *exchangeMsg) cut() {
	x.update(func() { x.interrupted = true })
}

// done marks the reply complete.
func (x *exchangeMsg) done() { x.update(func() { x.streaming = false }) }

// renderLocked is the message, or "" while there is nothing to show.
func (x *exchangeMsg) renderLocked() string {
	heard, reply := strings.TrimSpace(x.heard), strings.TrimSpace(x.reply)
	if heard == "" && reply == "" {
		return ""
	}
	if heard == "" {
		heard = "…"
	}
	var b strings.Builder
	b.WriteString("**" + escapeName(x.speaker) + ":** " + heard + "\n")
	b.WriteString("**" + escapeName(x.bot) + ":** " + reply)
	if x.interrupted {
		b.WriteString(" *(interrupted)*")
	} else if x.streaming {
		b.WriteString(" ▍")
	}
	return clip(b.String())
}

// escapeName keeps a display name from opening markdown.
func escapeName(s string) string {
	return strings.NewReplacer("*", "\\*", "_", "\\_", "`", "\\`", "~", "\\~", "|", "\\|").Replace(s)
}

// chanEditor posts a message in a text channel and then edits it to the
// latest wanted content (a throttle); stop applies what is still wanted.
type chanEditor = throttle

func newChanEditor(b *Bot, channelID string, interval time.Duration) *chanEditor {
	m := &chanMessage{b: b, channelID: channelID}
	return newThrottle(interval, true, m.apply)
}

// chanMessage is the one channel message a chanEditor posts and edits.
type chanMessage struct {
	b         *Bot
	channelID string
	msgID     string // set by the first apply; only the throttle's goroutine touches it
}

func (e *chanMessage) apply(content string) bool {
	ctx, cancel := e.b.restCtx()
	defer cancel()
	var err error
	if e.msgID == "" {
		var m *discordgo.Message
		m, err = e.b.dg.ChannelMessageSendComplex(e.channelID, &discordgo.MessageSend{
			Content: content, AllowedMentions: noMentions}, discordgo.WithContext(ctx))
		if err == nil {
			e.msgID = m.ID
		}
	} else {
		c := content
		_, err = e.b.dg.ChannelMessageEditComplex(&discordgo.MessageEdit{ID: e.msgID, Channel: e.channelID,
			Content: &c, AllowedMentions: noMentions}, discordgo.WithContext(ctx))
	}
	if err != nil {
		e.b.log.Debug("transcript message failed", "err", err)
		e.b.met.failed("discord")
		return false // not applied: the next change retries it
	}
	return true
}

// botName is how the transcript names the bot.
func (b *Bot) botName() string {
	if b.cfg.Talk.Name != "" {
		return b.cfg.Talk.Name
	}
	if b.dg != nil && b.dg.State != nil && b.dg.State.User != nil && b.dg.State.User.Username != "" {
		return b.dg.State.User.Username
	}
	return "livecord"
}

// postNotice posts a one-off message in a text channel.
func (b *Bot) postNotice(channelID, content string) {
	ctx, cancel := b.restCtx()
	defer cancel()
	_, err := b.dg.ChannelMessageSendComplex(channelID, &discordgo.MessageSend{
		Content: clip(content), AllowedMentions: noMentions}, discordgo.WithContext(ctx))
	if err != nil {
		b.log.Warn("could not post a notice", "err", err)
		b.met.failed("discord")
	}
}
