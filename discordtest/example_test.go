package discordtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/discordtest"
)

// Example connects a discordgo bot to the emulator, registers a command,
// and has a user run it.
func Example() {
	srv, err := discordtest.New(discordtest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	g := srv.AddGuild("example")
	general := srv.AddChannel(g.ID, "general", discordtest.ChannelText)
	alice := srv.AddUser("alice")
	srv.AddMember(g.ID, alice)

	dg, _ := discordgo.New("Bot " + srv.Token())
	dg.Client = srv.HTTPClient() // REST and the /gateway lookup go to the emulator
	dg.AddHandler(func(s *discordgo.Session, ia *discordgo.InteractionCreate) {
		_ = s.InteractionRespond(ia.Interaction, &discordgo.InteractionResponse{
			Type: discordgo.InteractionResponseChannelMessageWithSource,
			Data: &discordgo.InteractionResponseData{Content: "pong"},
		})
	})
	if err := dg.Open(); err != nil {
		panic(err)
	}
	defer dg.Close()
	appID := dg.State.User.ID
	if _, err := dg.ApplicationCommandBulkOverwrite(appID, g.ID, []*discordgo.ApplicationCommand{
		{Name: "ping", Description: "Replies pong"},
	}); err != nil {
		panic(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ia, err := srv.Invoke(ctx, discordtest.Invocation{GuildID: g.ID, ChannelID: general.ID, User: alice, Command: "ping"})
	if err != nil {
		panic(err)
	}
	cb, err := ia.WaitCallback(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(cb.Type, cb.Message.Content, cb.Latency < 3*time.Second)
	// Output: 4 pong true
}
