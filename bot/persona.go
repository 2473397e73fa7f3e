package bot

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"
)

// maxPersona is /persona set's max_length: a system instruction, not an
// essay (it is sent with every session's setup).
const maxPersona = 4000

// manageGuild is the permission /persona needs, as the string Discord's
// default_member_permissions takes (discordgo marshals the int64 as one).
var manageGuild = int64(discordgo.PermissionManageGuild)

// personaCommand is /persona set|show|clear: the guild's system
// instruction. Changing it changes what every member's conversation is
// told, so it needs Manage Server: hidden from others by
// default_member_permissions (admins may re-grant it per role or channel)
// and checked again when run.
func personaCommand() *discordgo.ApplicationCommand {
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	install := &[]discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
	return &discordgo.ApplicationCommand{Name: "persona", Description: "Set, show or clear how Gemini behaves in this server",
		Contexts: guildOnly, IntegrationTypes: install, DefaultMemberPermissions: &manageGuild,
		Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "set", Description: "Give Gemini a system instruction for this server",
				Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionString, Name: "instruction",
					Description: "e.g. You are a cheerful pirate. Answer in two sentences.", Required: true, MinLength: new(1), MaxLength: maxPersona}}},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "show", Description: "Show this server's system instruction"},
			{Type: discordgo.ApplicationCommandOptionSubCommand, Name: "clear", Description: "Go back to the bot's default instruction"},
		}}
}

// personas and personasP read the store's per-guild system instructions.
func personas(d *storeData) map[string]string   { return d.Personas }
func personasP(d *storeData) *map[string]string { return &d.Personas }

// personaFor is the system instruction of a conversation: its guild's
// persona, else the configured default (GEMINI_SYSTEM_INSTRUCTION).
func (b *Bot) personaFor(key string) string {
	if p := b.st.get(personas, key); p != "" {
		return p
	}
	return b.cfg.Live.SystemInstruction
}

// canManageGuild reports whether the invoker has Manage Server (or is an
// administrator) where the command ran, from the interaction's resolved
// permissions.
func canManageGuild(ia *interaction) bool {
	if ia.Member == nil {
		return false
	}
	p := ia.Member.Permissions
	return p&discordgo.PermissionAdministrator != 0 || p&discordgo.PermissionManageGuild != 0
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
	if sub != "show" && !canManageGuild(ia) {
		msg := "🔒 Changing the persona needs the **Manage Server** permission: it changes what Gemini is told for everyone here."
		if text != "" {
			msg += "\nYour instruction, to pass on to someone who has it:\n" + quote(text)
		}
		b.respond(ia, clip(msg), true)
		return
	}
	key := convKey(ia.Interaction)
	switch sub {
	case "set":
		if text == "" || utf8.RuneCountInString(text) > maxPersona {
			b.respond(ia, fmt.Sprintf("✏️ The instruction must be 1 to %d characters.", maxPersona), true)
			return
		}
		if err := b.st.set(personasP, key, text); err != nil {
			log.Warn("could not save the persona", "err", err)
			b.respond(ia, clip("⚠️ I couldn't save the persona. Please try again.\nYour instruction:\n"+quote(text)), true)
			return
		}
		b.respond(ia, clip("🎭 Persona saved. It applies from the next question; the conversation keeps its history.\n"+quote(text)), true)
	case "clear":
		if err := b.st.set(personasP, key, ""); err != nil {
			log.Warn("could not clear the persona", "err", err)
			b.respond(ia, "⚠️ I couldn't clear the persona. Please try again.", true)
			return
		}
		b.respond(ia, "🎭 Persona cleared: the bot's default instruction applies from the next question.", true)
	default:
		p := b.st.get(personas, key)
		switch {
		case p != "":
			b.respond(ia, clip("🎭 This server's persona:\n"+quote(p)), true)
		case b.cfg.Live.SystemInstruction != "":
			b.respond(ia, clip("🎭 No persona set here; the bot's default instruction applies:\n"+quote(b.cfg.Live.SystemInstruction)), true)
		default:
			b.respond(ia, "🎭 No persona set here, and the bot has no default instruction.", true)
		}
	}
}
