package bot

import "github.com/bwmarrin/discordgo"

// manageServer is default_member_permissions for commands that change or
// read what a whole guild shares: hidden from members without Manage
// Server unless a guild admin grants them (Server Settings → Integrations),
// so the bot checks again when they run (requireManageServer).
func manageServer() *int64 {
	p := int64(discordgo.PermissionManageGuild)
	return &p
}

// requireManageServer reports whether the invoker has Manage Server
// (Administrator implies it) in the interaction's resolved member
// permissions; if not, it refuses the command with an ephemeral message.
// A guild may have granted the command to anyone, so this run-time check
// is what holds.
// A role in Config.AdminRoles counts as Manage Server (mayManage).
func (b *Bot) requireManageServer(ia *interaction) bool {
	if ia.Member != nil && b.mayManage(ia) {
		return true
	}
	msg := "🔒 /" + ia.ApplicationCommandData().Name + " is for server managers: it needs the **Manage Server** permission"
	if len(b.cfg.AdminRoles) > 0 {
		msg += " or one of the bot's admin roles"
	}
	b.respond(ia, msg+".", true)
	return false
}
