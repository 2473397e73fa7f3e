package bot

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
)

// onEvent receives every gateway dispatch raw, which keeps fields discordgo
// lacks (attachment_size_limit) and keeps discordgo's own voice code idle.
func (b *Bot) onEvent(_ *discordgo.Session, e *discordgo.Event) {
	switch e.Type {
	case "INTERACTION_CREATE", "VOICE_STATE_UPDATE", "VOICE_SERVER_UPDATE":
	default:
		return
	}
	if b.ctx.Err() != nil || !b.tasks.Enter() {
		return // shutting down
	}
	defer b.tasks.Leave()
	switch e.Type {
	case "INTERACTION_CREATE":
		b.onInteraction(e.RawData)
	case "VOICE_STATE_UPDATE":
		b.onVoiceState(e.RawData)
	case "VOICE_SERVER_UPDATE":
		b.onVoiceServer(e.RawData)
	}
}

// interaction is an interaction with the raw fields discordgo drops.
type interaction struct {
	*discordgo.Interaction
	// attachLimit is attachment_size_limit (bytes per file).
	attachLimit int
	received    time.Time
}

// decodeInteraction parses an INTERACTION_CREATE payload, keeping
// attachment_size_limit.
func decodeInteraction(raw json.RawMessage) (*interaction, error) {
	ia := &interaction{Interaction: &discordgo.Interaction{}, received: time.Now()}
	if err := json.Unmarshal(raw, ia.Interaction); err != nil {
		return nil, fmt.Errorf("decode interaction: %w", err)
	}
	var extra struct {
		AttachmentSizeLimit int `json:"attachment_size_limit"`
	}
	_ = json.Unmarshal(raw, &extra)
	ia.attachLimit = extra.AttachmentSizeLimit
	if ia.attachLimit <= 0 {
		ia.attachLimit = 10 << 20 // Discord's default
	}
	return ia, nil
}

func (b *Bot) onInteraction(raw json.RawMessage) {
	ia, err := decodeInteraction(raw)
	if err != nil {
		b.log.Warn("undecodable interaction", "err", err)
		return
	}
	if !b.seen.first(ia.ID, ia.received) {
		b.log.Info("replayed interaction ignored", "interaction", ia.ID)
		return
	}
	switch ia.Type {
	case discordgo.InteractionApplicationCommand:
		b.onCommand(ia)
	case discordgo.InteractionApplicationCommandAutocomplete:
		b.onAutocomplete(ia)
	}
}

// userOf returns the invoking user (member in guilds, user in DMs).
func userOf(ia *discordgo.Interaction) *discordgo.User {
	if ia.Member != nil && ia.Member.User != nil {
		return ia.Member.User
	}
	if ia.User != nil {
		return ia.User
	}
	return &discordgo.User{}
}

// convKey names the conversation an interaction belongs to.
func convKey(ia *discordgo.Interaction) string {
	if ia.GuildID != "" {
		return "guild:" + ia.GuildID
	}
	return "dm:" + userOf(ia).ID
}

// interactionLifetime is how long an interaction can be answered (its token
// lives 15 minutes); a replay after that could not act anyway.
const interactionLifetime = 15 * time.Minute

// onceIDs remembers the interaction ids handled within interactionLifetime,
// so that an INTERACTION_CREATE delivered twice (a gateway resume replaying
// it) acts once. Sharded so that a burst of interactions never queues on one
// lock before its defer.
type onceIDs struct {
	seed   maphash.Seed
	init   sync.Once
	shards [32]onceShard
}

type onceShard struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	pruned time.Time
}

// first records id and reports whether it is new.
func (o *onceIDs) first(id string, now time.Time) bool {
	o.init.Do(func() { o.seed = maphash.MakeSeed() })
	sh := &o.shards[maphash.String(o.seed, id)%uint64(len(o.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, dup := sh.seen[id]; dup {
		return false
	}
	if sh.seen == nil {
		sh.seen = map[string]time.Time{}
	}
	if now.Sub(sh.pruned) > time.Minute {
		for k, t := range sh.seen {
			if now.Sub(t) > interactionLifetime {
				delete(sh.seen, k)
			}
		}
		sh.pruned = now
	}
	sh.seen[id] = now
	return true
}
