package bot

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/store"
)

// usageTopUsers is how many members /usage lists.
const usageTopUsers = 5

func usageCommand(guildOnly *[]discordgo.InteractionContextType, install *[]discordgo.ApplicationIntegrationType) *discordgo.ApplicationCommand {
	return &discordgo.ApplicationCommand{Name: "usage",
		Description: "Gemini tokens and estimated cost in this server, today and this month (Manage Server)",
		Contexts:    guildOnly, IntegrationTypes: install, DefaultMemberPermissions: manageServer()}
}

func forgetCommand(guildOnly *[]discordgo.InteractionContextType, install *[]discordgo.ApplicationIntegrationType) *discordgo.ApplicationCommand {
	return &discordgo.ApplicationCommand{Name: "forget",
		Description: "Erase this server's remembered conversation history (Manage Server)",
		Contexts:    guildOnly, IntegrationTypes: install, DefaultMemberPermissions: manageServer()}
}

// onUsage shows the guild's usage report, ephemeral: acknowledged before
// the database is asked.
func (b *Bot) onUsage(ia *interaction, log *slog.Logger) {
	if ia.GuildID == "" {
		b.respond(ia, "/usage works in a server.", true)
		return
	}
	if !b.requireManageServer(ia) {
		log.Info("usage refused: not a server manager")
		return
	}
	if err := b.deferReply(ia, true); err != nil {
		log.Warn("could not acknowledge /usage", "err", err)
		return
	}
	ctx, cancel := stateCtx()
	defer cancel()
	msg := ""
	r, err := b.st.UsageReport(ctx, ia.GuildID, time.Now(), usageTopUsers)
	if err != nil {
		log.Warn("could not read usage", "err", err)
		msg = "⚠️ " + storeDownText
	} else {
		msg = usageText(r)
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /usage", "err", err)
	}
}

// usageText renders a usage report (costs are estimates from the price
// table, USD).
func usageText(r store.Report) string {
	var sb strings.Builder
	sb.WriteString("📊 **Gemini usage in this server** (cost is an estimate, USD)\n")
	line := func(name string, since time.Time, t store.Totals) {
		fmt.Fprintf(&sb, "**%s** (since <t:%d:f>): %s tokens in %s turns · $%.4f\n", name, since.Unix(),
			thousands(t.Tokens.Total()), thousands(t.Turns), t.CostUSD)
		if t.Turns > 0 {
			k := t.Tokens
			fmt.Fprintf(&sb, "  prompt: %s text, %s audio, %s other · reply: %s text, %s audio, %s thinking\n",
				thousands(k.PromptText), thousands(k.PromptAudio), thousands(k.PromptOther),
				thousands(k.ResponseText), thousands(k.ResponseAudio), thousands(k.Thoughts))
		}
	}
	line("Today", r.DayStart, r.Today)
	line("This month", r.MonthStart, r.Month)
	if len(r.TopUsers) > 0 {
		sb.WriteString("**Top users this month**\n")
		for i, u := range r.TopUsers {
			name := u.UserName
			if name == "" {
				name = u.UserID
			}
			fmt.Fprintf(&sb, "%d. %s (<@%s>): %s tokens · $%.4f\n", i+1, name, u.UserID,
				thousands(u.Tokens.Total()), u.CostUSD)
		}
	}
	return strings.TrimRight(sb.String(), "\n")
}

// onForget erases the guild's remembered history (and its handle, which
// would resume the same context); usage totals stay. Ephemeral.
func (b *Bot) onForget(ia *interaction, log *slog.Logger) {
	if ia.GuildID == "" {
		b.respond(ia, "/forget works in a server.", true)
		return
	}
	if !b.requireManageServer(ia) {
		log.Info("forget refused: not a server manager")
		return
	}
	if err := b.deferReply(ia, true); err != nil {
		log.Warn("could not acknowledge /forget; nothing erased", "err", err)
		return
	}
	ctx, cancel := stateCtx()
	defer cancel()
	var msg string
	n, err := b.st.EraseGuildHistory(ctx, ia.GuildID)
	if err != nil {
		log.Warn("could not erase history", "err", err)
		msg = "⚠️ I couldn't erase the history (the bot's database isn't answering), so nothing was erased. Please try again in a minute."
	} else {
		// The open Live session holds the same context: drop it too.
		b.mu.Lock()
		if c := b.convs["guild:"+ia.GuildID]; c != nil {
			c.mu.Lock()
			c.fresh = true
			c.mu.Unlock()
		}
		b.mu.Unlock()
		log.Info("guild history erased", "turns", n)
		msg = fmt.Sprintf("🗑️ Erased this server's conversation history (%s remembered turns), and Gemini starts a fresh conversation. Usage totals (no text) are kept for /usage.", thousands(n))
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /forget", "err", err)
	}
}
