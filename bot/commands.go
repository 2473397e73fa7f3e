package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/store"
)

// Voices are the 30 prebuilt Gemini Live voices /voice offers.
var Voices = []string{
	"Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe",
	"Charon", "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore",
	"Laomedeia", "Leda", "Orus", "Pulcherrima", "Puck", "Rasalgethi", "Sadachbia",
	"Sadaltager", "Schedar", "Sulafat", "Umbriel", "Vindemiatrix", "Zephyr", "Zubenelgenubi",
}

// canonicalVoice returns the voice's proper spelling, or "" if unknown.
func canonicalVoice(name string) string {
	for _, v := range Voices {
		if strings.EqualFold(v, strings.TrimSpace(name)) {
			return v
		}
	}
	return ""
}

// commandDefs returns the slash commands. /ask, /reset, /voice and /help
// also work in DMs with the bot (text and WAV only); /join and /leave need a
// guild. All require the bot to be installed in a guild.
func (b *Bot) commandDefs() []*discordgo.ApplicationCommand {
	guildOnly := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	anywhere := &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild, discordgo.InteractionContextBotDM}
	install := &[]discordgo.ApplicationIntegrationType{discordgo.ApplicationIntegrationGuildInstall}
	maxLen := b.cfg.MaxPromptLength
	// /reset and /voice change what the whole guild shares: hidden from
	// members without Manage Server unless a guild admin grants them in
	// Server Settings → Integrations (the bot checks again when they run).
	manage := new(int64(discordgo.PermissionManageGuild))
	return []*discordgo.ApplicationCommand{
		{Name: "ask", Description: "Ask Gemini; the answer is spoken in your voice channel and posted here",
			Contexts: anywhere, IntegrationTypes: install,
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: "prompt", Description: "What to ask",
				Required: true, MinLength: new(1), MaxLength: maxLen,
			}, imageOption()}},
		{Name: "join", Description: "Join your voice channel", Contexts: guildOnly, IntegrationTypes: install},
		{Name: "leave", Description: "Leave the voice channel", Contexts: guildOnly, IntegrationTypes: install},
		{Name: "talk", Description: "Talk with Gemini in your voice channel (run again to stop)", Contexts: guildOnly, IntegrationTypes: install},
		{Name: "reset", Description: "Start a fresh conversation (forget the context)", Contexts: anywhere, IntegrationTypes: install,
			DefaultMemberPermissions: manage},
		{Name: "voice", Description: "Choose the voice Gemini speaks with here", Contexts: anywhere, IntegrationTypes: install,
			DefaultMemberPermissions: manage,
			Options: []*discordgo.ApplicationCommandOption{{
				Type: discordgo.ApplicationCommandOptionString, Name: "name", Description: "One of the 30 prebuilt voices",
				Required: true, Autocomplete: true,
			}}},
		{Name: "help", Description: "How to use this bot", Contexts: anywhere, IntegrationTypes: install},
		usageCommand(guildOnly, install),
		forgetCommand(guildOnly, install),
		personaCommand(),
	}
}

// registerCommands bulk-overwrites the commands (in cfg.GuildID, or
// globally) unless the same definitions were registered there before and
// are still present: each overwrite counts against Discord's 200 creates a
// day per guild.
func (b *Bot) registerCommands(ctx context.Context) error {
	defs := b.commandDefs()
	raw, err := json.Marshal(defs)
	if err != nil {
		return fmt.Errorf("bot: encode commands: %w", err)
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:])
	scope := "global"
	if b.cfg.GuildID != "" {
		scope = "guild:" + b.cfg.GuildID
	}
	scope += "@" + b.appID
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	had, err := b.st.CommandsHash(rctx, scope)
	if err != nil {
		b.log.Warn("could not read the registered commands' hash; registering them", "err", err)
	}
	if had == hash {
		have, err := b.dg.ApplicationCommands(b.appID, b.cfg.GuildID, discordgo.WithContext(rctx))
		if err == nil && sameNames(have, defs) {
			b.log.Info("commands unchanged, not re-registered", "scope", scope)
			return nil
		}
	}
	if _, err := b.dg.ApplicationCommandBulkOverwrite(b.appID, b.cfg.GuildID, defs, discordgo.WithContext(rctx)); err != nil {
		return fmt.Errorf("bot: register commands: %w", err)
	}
	b.log.Info("commands registered", "scope", scope, "count", len(defs))
	if err := b.st.SetCommandsHash(rctx, scope, hash); err != nil {
		b.log.Warn("could not remember the registered commands", "err", err)
	}
	return nil
}

func sameNames(have, want []*discordgo.ApplicationCommand) bool {
	names := func(l []*discordgo.ApplicationCommand) []string {
		var out []string
		for _, c := range l {
			out = append(out, c.Name)
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(names(have), names(want))
}

func (b *Bot) onCommand(ia *interaction) {
	data := ia.ApplicationCommandData()
	user := userOf(ia.Interaction)
	log := b.log.With("command", data.Name, "guild", ia.GuildID, "user", user.ID)
	if msg := b.denied(ia); msg != "" {
		log.Info("access denied")
		b.respond(ia, msg+promptEcho(ia), true)
		return
	}
	switch data.Name {
	case "ask":
		b.onAsk(ia, log)
	case "join":
		b.onJoin(ia, log)
	case "leave":
		b.onLeave(ia, log)
	case "talk":
		b.onTalk(ia, log)
	case "reset":
		b.onReset(ia, log)
	case "voice":
		b.onVoice(ia, log)
	case "usage":
		b.onUsage(ia, log)
	case "forget":
		b.onForget(ia, log)
	case "help":
		b.respond(ia, b.helpText(), true)
	case "persona":
		b.onPersona(ia, log)
	default:
		b.respond(ia, "I don't know that command any more; it may be a leftover from an older version.", true)
	}
}

// denied returns why the invoker may not use the bot ("" when allowed).
func (b *Bot) denied(ia *interaction) string {
	if len(b.cfg.AllowedGuilds) == 0 && len(b.cfg.AllowedRoles) == 0 {
		return ""
	}
	if ia.GuildID == "" {
		return "🚫 This bot only answers in its servers, not in DMs."
	}
	if len(b.cfg.AllowedGuilds) > 0 && !slices.Contains(b.cfg.AllowedGuilds, ia.GuildID) {
		return "🚫 This bot isn't enabled in this server."
	}
	if len(b.cfg.AllowedRoles) > 0 {
		if ia.Member == nil || !slices.ContainsFunc(ia.Member.Roles, func(r string) bool {
			return slices.Contains(b.cfg.AllowedRoles, r)
		}) {
			return "🚫 You need one of the roles allowed to use this bot."
		}
	}
	return ""
}

// promptEcho repeats an /ask prompt under an error so it can be retried.
func promptEcho(ia *interaction) string {
	if ia.ApplicationCommandData().Name != "ask" {
		return ""
	}
	p := optionString(ia, "prompt")
	if p == "" {
		return ""
	}
	return "\nYour prompt, to try again:\n" + quote(p)
}

func optionString(ia *interaction, name string) string {
	for _, o := range ia.ApplicationCommandData().Options {
		if o.Name == name {
			if s, ok := o.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// onAsk acknowledges first: the defer waits behind no lock shared with
// other guilds, no conversation and no disk (Discord drops an interaction
// not acknowledged within 3 s). Only what needs nothing shared is checked
// before it (an empty prompt, the asker's cooldown, read without a lock) and
// refused with an ephemeral message; the queue is looked at after it, and a
// full queue or a shutdown edits the deferred reply.
func (b *Bot) onAsk(ia *interaction, log *slog.Logger) {
	prompt := strings.TrimSpace(optionString(ia, "prompt"))
	user := userOf(ia.Interaction)
	if prompt == "" {
		b.respond(ia, "✏️ The prompt is empty: tell me what to ask Gemini.", true)
		return
	}
	if wait := b.cooldownLeft(user.ID); wait > 0 {
		b.respond(ia, fmt.Sprintf("⏱️ Slow down: you can ask again in %s.%s", roundUp(wait), promptEcho(ia)), true)
		return
	}
	// The attachment's declared size is checked from the interaction itself
	// (no I/O); it is downloaded after the defer.
	att, refusal := b.askAttachment(ia)
	if refusal != "" {
		b.respond(ia, clip(refusal+promptEcho(ia)), true)
		return
	}
	if err := b.deferReply(ia, false); err != nil {
		log.Warn("could not acknowledge /ask", "err", err)
		b.met.failed("discord")
		return
	}
	b.met.deferred(time.Since(ia.received))
	deferMS := time.Since(ia.received).Milliseconds()
	b.touchCooldown(user.ID)
	j := &job{ia: ia, prompt: prompt, userID: user.ID, userName: displayName(ia.Interaction), ready: make(chan struct{})}
	c, pos, err := b.enqueue(ia, j)
	if err != nil {
		msg := fmt.Sprintf("🚦 Too many questions are waiting here (%d). Please try again in a minute.", b.cfg.QueueCap)
		if errors.Is(err, errShuttingDown) {
			msg = "🔌 I'm restarting right now, so I can't take this one. Please ask again in a minute."
		}
		log.Info("ask refused", "err", err, "defer_ms", deferMS)
		if err := b.edit(ia, msg+promptEcho(ia)); err != nil {
			log.Warn("could not tell the asker", "err", err)
		}
		return
	}
	log.Info("ask queued", "position", pos, "defer_ms", deferMS)
	// Looked up after the defer: it may take a REST call. The worker reads
	// it only after j.ready is closed.
	if ia.GuildID != "" && b.cfg.Voice != nil {
		j.voiceChannel = b.userVoiceChannel(ia.GuildID, user.ID)
	}
	if att != nil && !b.attachImage(ia, c, j, att, log) {
		return
	}
	if pos > 0 {
		j.shownPos = pos
		if err := b.edit(ia, queuedText(prompt, user.ID, pos)); err != nil {
			log.Warn("could not show queue position", "err", err)
		}
	}
	close(j.ready)
}

func roundUp(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", s)
}

// cooldownLeft reads the asker's last accepted /ask without taking a lock
// (it runs before the defer).
func (b *Bot) cooldownLeft(userID string) time.Duration {
	if b.cfg.Cooldown < 0 {
		return 0
	}
	last, ok := b.lastAsk.Load(userID)
	if !ok {
		return 0
	}
	return b.cfg.Cooldown - time.Since(last.(time.Time))
}

func (b *Bot) touchCooldown(userID string) {
	if b.cfg.Cooldown < 0 {
		return
	}
	now := time.Now()
	b.lastAsk.Store(userID, now)
	// Keep the map small: sweep at most once per cooldown.
	if last := b.cooldownSwept.Load(); now.UnixNano()-last > int64(b.cfg.Cooldown) && b.cooldownSwept.CompareAndSwap(last, now.UnixNano()) {
		b.lastAsk.Range(func(u, t any) bool {
			if now.Sub(t.(time.Time)) > b.cfg.Cooldown {
				b.lastAsk.CompareAndDelete(u, t)
			}
			return true
		})
	}
}

// mayManage reports whether the invoker may change what the whole guild
// shares (/reset, /voice): Manage Server (Administrator implies it) in the
// interaction's member permissions, or one of Config.AdminRoles. In DMs the
// conversation is the user's own.
func (b *Bot) mayManage(ia *interaction) bool {
	if ia.GuildID == "" {
		return true
	}
	if ia.Member == nil {
		return false
	}
	if ia.Member.Permissions&(discordgo.PermissionManageGuild|discordgo.PermissionAdministrator) != 0 {
		return true
	}
	return slices.ContainsFunc(ia.Member.Roles, func(r string) bool { return slices.Contains(b.cfg.AdminRoles, r) })
}

// notManager is the refusal for /reset and /voice without Manage Server.
func (b *Bot) notManager(what string) string {
	who := "the **Manage Server** permission"
	if len(b.cfg.AdminRoles) > 0 {
		who += " or one of the bot's admin roles"
	}
	return "🔒 " + what + " changes it for everyone in this server, so it needs " + who + "."
}

func (b *Bot) onVoice(ia *interaction, log *slog.Logger) {
	name := canonicalVoice(optionString(ia, "name"))
	if name == "" {
		b.respond(ia, fmt.Sprintf("🎙️ %q isn't one of the voices. Pick one from the list: %s.",
			optionString(ia, "name"), strings.Join(Voices, ", ")), true)
		return
	}
	if !b.mayManage(ia) {
		log.Info("voice refused: not a server manager")
		b.respond(ia, b.notManager("/voice"), true)
		return
	}
	// Acknowledged first: the database is not touched before the ack.
	if err := b.deferReply(ia, false); err != nil {
		log.Warn("could not acknowledge /voice; nothing changed", "err", err)
		return
	}
	ctx, cancel := stateCtx()
	defer cancel()
	msg := fmt.Sprintf("🎙️ Voice set to **%s**. The next /ask starts a fresh conversation with it.", name)
	if _, err := b.st.UpdateSettings(ctx, convKey(ia.Interaction), func(s *store.Settings) { s.Voice = name }); err != nil {
		log.Warn("could not save the voice", "err", err)
		msg = "⚠️ I couldn't save that setting (the bot's database isn't answering), so the voice is unchanged. Please try again."
	} else if err := b.resetConversation(ctx, ia); err != nil {
		log.Warn("could not reset the conversation after a voice change", "err", err)
		msg = fmt.Sprintf("🎙️ Voice set to **%s**, but I couldn't clear the conversation's memory (the bot's database isn't answering): the next /ask may still remember earlier questions.", name)
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /voice", "err", err)
	}
}

// onReset acknowledges, then forgets the conversation's history and
// handle; a failure is said plainly and claims nothing.
// onReset acknowledges, then resets: a replay Discord refuses (40060) or a
// late one (10062) changes nothing.
func (b *Bot) onReset(ia *interaction, log *slog.Logger) {
	if !b.mayManage(ia) {
		log.Info("reset refused: not a server manager")
		b.respond(ia, b.notManager("/reset"), true)
		return
	}
	if err := b.deferReply(ia, false); err != nil {
		log.Warn("could not acknowledge /reset; nothing reset", "err", err)
		return
	}
	ctx, cancel := stateCtx()
	defer cancel()
	msg := "🧹 Started a fresh conversation: Gemini has forgotten what was said before."
	if err := b.resetConversation(ctx, ia); err != nil {
		log.Warn("could not reset the conversation", "err", err)
		msg = "⚠️ I couldn't reset the conversation (the bot's database isn't answering), so Gemini still remembers it. Please try again in a minute."
	}
	if err := b.edit(ia, msg); err != nil {
		log.Warn("could not report /reset", "err", err)
	}
}

func (b *Bot) onAutocomplete(ia *interaction) {
	data := ia.ApplicationCommandData()
	typed := ""
	for _, o := range data.Options {
		if o.Focused {
			typed, _ = o.Value.(string)
		}
	}
	var choices []*discordgo.ApplicationCommandOptionChoice
	if data.Name == "voice" {
		for _, v := range matchVoices(typed) {
			choices = append(choices, &discordgo.ApplicationCommandOptionChoice{Name: v, Value: v})
		}
	}
	ctx, cancel := b.restCtx()
	defer cancel()
	err := b.dg.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
		Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: choices}}, discordgo.WithContext(ctx))
	if err != nil {
		b.log.Warn("autocomplete reply failed", "err", scrub(err, ia.Token))
	}
}

// matchVoices returns up to 25 voices: prefix matches first, then the rest
// that contain what was typed.
func matchVoices(typed string) []string {
	t := strings.ToLower(strings.TrimSpace(typed))
	var pre, mid []string
	for _, v := range Voices {
		l := strings.ToLower(v)
		switch {
		case strings.HasPrefix(l, t):
			pre = append(pre, v)
		case strings.Contains(l, t):
			mid = append(mid, v)
		}
	}
	out := append(pre, mid...)
	if len(out) > 25 {
		out = out[:25]
	}
	return out
}

func (b *Bot) helpText() string {
	v := "enabled"
	if b.cfg.Voice == nil {
		v = "not set up on this bot: replies come as text and a WAV file"
	}
	return strings.Join([]string{
		"**livecord** answers with Google's Gemini Live.",
		"• `/ask prompt:…` asks a question. If you're in a voice channel, the answer is spoken there; " +
			"the text appears here as it is spoken, with the whole answer attached as `reply.wav`.",
		"• The conversation remembers earlier questions in this server (or in your DMs). `/reset` starts afresh.",
		"• `/talk` in a voice channel: I listen and answer aloud, with a transcript here; `/talk` again stops.",
		"• `/voice name:…` picks one of 30 voices for this server. `/join` and `/leave` move the bot in and out of voice.",
		"• In a server, `/reset` and `/voice` change things for everyone, so they need the Manage Server permission.",
		"• Server managers: `/usage` shows this server's Gemini tokens and estimated cost; `/forget` erases its remembered history.",
		"• Attach a picture with `/ask prompt:… image:…` and Gemini looks at it. Answers drawn from Google Search list their sources.",
		"• Gemini can use tools: ask it to stop talking, leave, change its voice, say who is here or what time it is.",
		"• `/persona` (Manage Server) sets how Gemini behaves in this server.",
		fmt.Sprintf("• Questions run one at a time; up to %d can wait in line. Voice playback: %s.", b.cfg.QueueCap, v),
	}, "\n")
}
