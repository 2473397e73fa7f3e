package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/imagefit"
	"github.com/livecord/livecord/live"
)

// imageFetchTimeout bounds one attachment download, start to last byte.
const imageFetchTimeout = 20 * time.Second

func imageOption() *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionAttachment, Name: "image",
		Description: "A picture for Gemini to look at (JPEG, PNG, WebP or GIF)"}
}

// askAttachment returns /ask's image attachment (nil if none) or, when
// what Discord tells of it already rules it out (size, type), the message
// for the asker; the bytes are checked again when downloaded.
func (b *Bot) askAttachment(ia *interaction) (*discordgo.MessageAttachment, string) {
	data := ia.ApplicationCommandData()
	var id string
	for _, o := range data.Options {
		if o.Name == "image" {
			id, _ = o.Value.(string)
		}
	}
	if id == "" {
		return nil, ""
	}
	var att *discordgo.MessageAttachment
	if data.Resolved != nil {
		att = data.Resolved.Attachments[id]
	}
	opt := b.cfg.Image
	if att == nil || att.URL == "" {
		return nil, "🖼️ I couldn't get that attachment from Discord. Please attach it again."
	}
	if err := opt.CheckSize(int64(att.Size)); err != nil {
		return nil, "🖼️ " + imageMessage(err)
	}
	return att, ""
}

// fetchImage downloads an attachment with a bounded client (the declared
// length checked before reading, the body read to the cap at most) and
// prepares it for Live.
func (b *Bot) fetchImage(ctx context.Context, att *discordgo.MessageAttachment) (live.Image, error) {
	opt := b.cfg.Image
	ctx, cancel := context.WithTimeout(ctx, imageFetchTimeout)
	defer cancel()
	u, err := url.Parse(att.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return live.Image{}, fmt.Errorf("attachment URL %q: not http(s)", att.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, att.URL, nil)
	if err != nil {
		return live.Image{}, fmt.Errorf("image: %w", err)
	}
	resp, err := b.imageClient().Do(req)
	if err != nil {
		return live.Image{}, fmt.Errorf("image: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return live.Image{}, fmt.Errorf("image: download: %s", resp.Status)
	}
	if resp.ContentLength > 0 {
		if err := opt.CheckSize(resp.ContentLength); err != nil {
			return live.Image{}, err
		}
	}
	data, err := imagefit.ReadLimited(resp.Body, opt)
	if err != nil {
		return live.Image{}, err
	}
	img, err := imagefit.Prepare(data, opt)
	if err != nil {
		return live.Image{}, err
	}
	return live.Image{MIMEType: img.MIMEType, Data: img.Data}, nil
}

// imageClient is Config.ImageClient or a client whose every wait is
// bounded.
func (b *Bot) imageClient() *http.Client {
	if b.cfg.ImageClient != nil {
		return b.cfg.ImageClient
	}
	b.imgOnce.Do(func() {
		b.img = &http.Client{Timeout: imageFetchTimeout, Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConns:          2,
			IdleConnTimeout:       30 * time.Second,
		}}
	})
	return b.img
}

// imageMessage is what the asker reads about an image that was refused:
// imagefit's plain sentence naming the accepted formats and limits, or a
// download failure.
func imageMessage(err error) string {
	var fe *imagefit.Error
	if errors.As(err, &fe) {
		return fe.UserMessage()
	}
	return "I couldn't download that image from Discord. Please try again. I can read " + imagefit.Options{}.Describe() + "."
}

// attachImage downloads and prepares /ask's image into j; on failure it
// tells the asker why (formats, limits, their prompt), withdraws j and
// returns false.
func (b *Bot) attachImage(ia *interaction, c *conversation, j *job, att *discordgo.MessageAttachment, log *slog.Logger) bool {
	img, err := b.fetchImage(b.ctx, att)
	if err == nil {
		j.images = []live.Image{img}
		return true
	}
	log.Info("image refused", "err", err, "kind", imagefit.KindOf(err))
	if err := b.edit(ia, clip(errorText(imageMessage(err), j.prompt))); err != nil {
		b.log.Warn("could not report the refused image", "err", err)
	}
	c.cancel(j)
	return false
}
