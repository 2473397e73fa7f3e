package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
)

// restCtx bounds one REST call. It is detached from the bot's context so
// that goodbyes can still be posted while shutting down; then every call
// ends with the shutdown's grace period, so a slow Discord cannot hold the
// shutdown for long.
func (b *Bot) restCtx() (context.Context, context.CancelFunc) {
	if b.ctx != nil && b.ctx.Err() != nil {
		return context.WithCancel(b.goodbye)
	}
	return context.WithTimeout(context.Background(), 15*time.Second)
}

func (b *Bot) respond(ia *interaction, content string, ephemeral bool) {
	ctx, cancel := b.restCtx()
	defer cancel()
	data := &discordgo.InteractionResponseData{Content: clip(content), AllowedMentions: noMentions}
	if ephemeral {
		data.Flags = discordgo.MessageFlagsEphemeral
	}
	err := b.dg.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource, Data: data}, discordgo.WithContext(ctx))
	if err != nil {
		b.log.Warn("interaction reply failed", "err", scrub(err, ia.Token), "command", ia.ApplicationCommandData().Name)
	}
}

func (b *Bot) deferReply(ia *interaction, ephemeral bool) error {
	ctx, cancel := b.restCtx()
	defer cancel()
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
	if ephemeral {
		resp.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
	}
	if err := b.dg.InteractionRespond(ia.Interaction, resp, discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("defer reply: %w", scrub(err, ia.Token))
	}
	return nil
}

// edit replaces the original response's content (and adds files).
func (b *Bot) edit(ia *interaction, content string, files ...*discordgo.File) error {
	ctx, cancel := b.restCtx()
	defer cancel()
	c := clip(content)
	_, err := b.dg.InteractionResponseEdit(ia.Interaction, &discordgo.WebhookEdit{
		Content: &c, AllowedMentions: noMentions, Files: files}, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("edit reply: %w", scrub(err, ia.Token))
	}
	return nil
}

func (b *Bot) followup(ia *interaction, content string) error {
	ctx, cancel := b.restCtx()
	defer cancel()
	_, err := b.dg.FollowupMessageCreate(ia.Interaction, true, &discordgo.WebhookParams{
		Content: clip(content), AllowedMentions: noMentions}, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("follow-up: %w", scrub(err, ia.Token))
	}
	return nil
}

// scrub removes an interaction token from an error's text: transport
// errors quote the webhook URL, which carries it.
func scrub(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "[token]"))
}

// APITransport returns the transport for Discord REST: one that sends every
// request to apiURL's scheme and host (Config.APIURL), or a plain one when
// apiURL is empty. base is the underlying transport, whose idle connections
// a caller may close.
func APITransport(apiURL string) (rt http.RoundTripper, base *http.Transport, err error) {
	base = http.DefaultTransport.(*http.Transport).Clone()
	// A burst of interactions (hundreds of guilds at once) is answered on
	// as many connections: keep them for the next burst instead of the
	// default two, so a defer does not pay for a new connection (and TLS
	// handshake) while the others are closed behind it.
	base.MaxIdleConnsPerHost = 64
	if apiURL == "" {
		return withAPIv10(base), base, nil
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("bot: API URL %q is not an http(s) URL", apiURL)
	}
	return withAPIv10(hostRewriter{scheme: u.Scheme, host: u.Host, next: base}), base, nil
}

// hostRewriter sends every request to one host (Config.APIURL).
type hostRewriter struct {
	scheme, host string
	next         *http.Transport
}

func (h hostRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = h.scheme, h.host, h.host
	return h.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport at shutdown.
func (h hostRewriter) CloseIdleConnections() { h.next.CloseIdleConnections() }
