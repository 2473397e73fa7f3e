package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/store"
)

// maxPersona is /persona set's max_length: a system instruction, not an
// essay (it is sent with every session's setup).
const maxPersona = 4000

// personaCommand is /persona set|show|clear: the guild's system
// instruction. Changing it changes what every member's conversation is
// told, so it needs Manage Server: hidden from others by
// default_member_permissions (admins may re-grant it per role or channel)
// and checked again when run.
func personaCommand() *discordgo.ApplicationCommand {
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	install := &[]discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
	return &discordgo.ApplicationCommand{Name: "persona", Description: "Set, show or clear how Gemini behaves in this server",
		Contexts: guildOnly, IntegrationTypes: install, DefaultMemberPermissions: manageServer(),
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "set", Description: "Give Gemini a system instruction for this server",
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionString, Name: "instruction",
					Description: "e.g. You are a cheerful pirate. Answer in two sentences.", Required: true, MinLength: new(1), MaxLength: maxPersona}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "show", Description: "Show this server's system instruction"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "clear", Description: "Go back to the bot's default instruction"},
		}}
}

// personaFor is the system instruction of a conversation: its guild's
// persona (the store's SystemInstruction), else the configured default
// (GEMINI_SYSTEM_INSTRUCTION).
func (b *Bot) personaFor(ctx context.Context, key string) (string, error) {
	st, err := b.st.Settings(ctx, key)
	if err != nil {
		return "", &storeError{err}
	}
	if st.SystemInstruction != "" {
		return st.SystemInstruction, nil
	}
	return b.cfg.Live.SystemInstruction, nil
}

func (b *Bot) onPersona(ia *interaction, log *slog.Logger) {
	if ia.GuildID == "" {
		b.respond(ia, "🎭 /persona works in a server, not in DMs.", true)
		return
	}
	data := ia.ApplicationCommandData()
	sub, text := "", ""
	if len(data.Options) > 0 {
		sub = data.Options[0].Name
		for _, o := range data.Options[0].Options {
			if o.Name == "instruction" {
				text, _ = o.Value.(string)
			}
		}
	}
	text = strings.TrimSpace(text)
	if sub != "show" && !b.mayManage(ia) {
		msg := "🔒 Changing the persona needs the **Manage Server** permission: it changes what Gemini is told for everyone here."
		if text != "" {
			msg += "\nYour instruction, to pass on to someone who has it:\n" + quote(text)
		}
		b.respond(ia, clip(msg), true)
		return
	}
	// Acknowledged first (ephemeral): the database is not touched before the ack.
	if err := b.deferReply(ia, true); err != nil {
		log.Warn("could not acknowledge /persona; nothing changed", "err", err)
		return
	}
	ctx, cancel := stateCtx()
	defer cancel()
	key := convKey(ia.Interaction)
	var msg string
	switch sub {
	case "set":
		if text == "" || utf8.RuneCountInString(text) > maxPersona {
			msg = fmt.Sprintf("✏️ The instruction must be 1 to %d characters.", maxPersona)
			break
		}
		if _, err := b.st.UpdateSettings(ctx, key, func(s *store.Settings) { s.SystemInstruction = text }); err != nil {
			log.Warn("could not save the persona", "err", err)
			msg = "⚠️ I couldn't save the persona (the bot's database isn't answering), so nothing changed. Please try again.\nYour instruction:\n" + quote(text)
			break
		}
		msg = "🎭 Persona saved. It applies from the next question; the conversation keeps its history.\n" + quote(text)
	case "clear":
		if _, err := b.st.UpdateSettings(ctx, key, func(s *store.Settings) { s.SystemInstruction = "" }); err != nil {
			log.Warn("could not clear the persona", "err", err)
			msg = "⚠️ I couldn't clear the persona (the bot's database isn't answering). Please try again."
			break
		}
		msg = "🎭 Persona cleared: the bot's default instruction applies from the next question."
	default:
		st, err := b.st.Settings(ctx, key)
		switch {
		case err != nil:
			log.Warn("could not read the persona", "err", err)
			msg = "⚠️ I couldn't read the persona (the bot's database isn't answering). Please try again."
		case st.SystemInstruction != "":
			msg = "🎭 This server's persona:\n" + quote(st.SystemInstruction)
		case b.cfg.Live.SystemInstruction != "":
			msg = "🎭 No persona set here; the bot's default instruction applies:\n" + quote(b.cfg.Live.SystemInstruction)
		default:
			msg = "🎭 No persona set here, and the bot has no default instruction."
		}
	}
	if err := b.edit(ia, clip(msg)); err != nil {
		log.Warn("could not report /persona", "err", err)
	}
}
