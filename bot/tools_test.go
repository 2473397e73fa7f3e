package bot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecord/livecord/discordtest"
	"github.com/livecord/livecord/imagefit"
	"github.com/livecord/livecord/live/livetest"
	"github.com/livecord/livecord/tool"
	"github.com/livecord/livecord/voice/voicetest"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestGroundingSourcesPosted: the sources of a grounded answer are listed
// under the transcript as links whose embeds are suppressed; the audio is
// attached as before. Without GEMINI_GOOGLE_SEARCH the setup offers no
// search.
func TestGroundingSourcesPosted(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Live.GoogleSearch = true
	h.start()
	h.lv.Script(livetest.Reply{Transcript: "Lyon won two nil.", Grounding: &livetest.Grounding{
		Queries: []string{"lyon match score"},
		Sources: []livetest.Source{{URI: "https://example.com/match?id=1", Title: "Match *report*"}, {URI: "https://sport.example.org/", Title: ""}},
	}})
	m := answered(t, h.ask(h.alice, "What happened in today's match?"))
	for _, want := range []string{"Lyon won two nil.", "**Sources**", `1. [Match \*report\*](<https://example.com/match?id=1>)`, "2. <https://sport.example.org/>"} {
		if !strings.Contains(m.Content, want) {
			t.Errorf("answer lacks %q:\n%s", want, m.Content)
		}
	}
	if strings.Contains(m.Content, "(https://") || len(m.Attachments) != 1 || m.Attachments[0].Name != "reply.wav" {
		t.Errorf("a link would embed, or the audio is missing:\n%s %+v", m.Content, m.Attachments)
	}
	if !strings.Contains(string(h.lv.LastSetup()), `"googleSearch"`) {
		t.Errorf("setup without googleSearch: %s", h.lv.LastSetup())
	}
}

// toolsHarness is a harness whose bot has extra tools next to the
// built-ins.
func toolsHarness(t *testing.T, extra ...tool.Tool) *harness {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Tools = extra
	h.cfg.TimeZone = time.FixedZone("Test/Zone", 3600)
	return h
}

// TestToolRoundTrip: the built-in clock is declared, the model's call runs
// in the configured zone, its result reaches the model (the emulator's
// reply says what it was told) and the reply shows one 🔧 line.
func TestToolRoundTrip(t *testing.T) {
	h := toolsHarness(t)
	h.start()
	h.lv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{Name: "current_time"}}})
	m := answered(t, h.ask(h.alice, "What time is it?"))
	if !strings.Contains(m.Content, "🔧 checked the time in Test/Zone") || !strings.Contains(m.Content, `current_time said {"output":{`) ||
		!strings.Contains(m.Content, `\"timezone\":\"Test/Zone\"`) && !strings.Contains(m.Content, `"timezone":"Test/Zone"`) {
		t.Fatalf("answer:\n%s", m.Content)
	}
	var setup struct {
		Tools []struct {
			FunctionDeclarations []struct{ Name string }
		}
	}
	json.Unmarshal(h.lv.LastSetup(), &setup)
	var names []string
	for _, tl := range setup.Tools {
		for _, d := range tl.FunctionDeclarations {
			names = append(names, d.Name)
		}
	}
	if !strings.Contains(strings.Join(names, ","), "current_time") {
		t.Errorf("declared %v", names)
	}
}

// TestToolCancelled: a call the model withdraws is stopped (its context
// ends) and never answered; the turn goes on.
func TestToolCancelled(t *testing.T) {
	ended := make(chan error, 1)
	slow := tool.Tool{Name: "slow_lookup", Description: "Looks something up slowly.", Timeout: time.Minute,
		Handler: func(ctx context.Context, _ json.RawMessage) (any, error) {
			<-ctx.Done()
			ended <- ctx.Err()
			return nil, ctx.Err()
		}}
	h := toolsHarness(t, slow)
	h.start()
	h.lv.Script(livetest.Reply{Transcript: "Never mind that.", ToolCalls: []livetest.ToolCall{{Name: "slow_lookup", Cancel: true}}})
	m := answered(t, h.ask(h.alice, "Look it up"))
	if !strings.Contains(m.Content, "Never mind that.") || strings.Contains(m.Content, "slow_lookup") {
		t.Fatalf("answer:\n%s", m.Content)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the call ended with %v, want cancelled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled call is still running")
	}
	if res := h.lv.ToolResults(); len(res) != 0 {
		t.Fatalf("a withdrawn call was answered: %+v", res)
	}
}

// TestToolFailingAndSlow: a tool that fails and one that overruns its
// timeout (ignoring its context) both give the model an error result and
// the turn ends; the reply says which failed.
func TestToolFailingAndSlow(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	broken := tool.Tool{Name: "broken_tool", Description: "Fails.",
		Handler: func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("the disk is on fire") }}
	slow := tool.Tool{Name: "slow_tool", Description: "Hangs.", Timeout: 300 * time.Millisecond,
		Handler: func(context.Context, json.RawMessage) (any, error) { <-release; return "late", nil }}
	h := toolsHarness(t, broken, slow)
	h.start()
	h.lv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{Name: "broken_tool"}, {Name: "slow_tool"}}})
	m := answered(t, h.ask(h.alice, "Try both"))
	res := h.lv.ToolResults()
	if len(res) != 2 || !strings.Contains(string(res[0].Response), "the disk is on fire") || !strings.Contains(string(res[1].Response), `"error"`) {
		t.Fatalf("tool results %+v", res)
	}
	if !strings.Contains(m.Content, "🔧 broken_tool failed") || !strings.Contains(m.Content, "🔧 slow_tool failed") {
		t.Fatalf("answer:\n%s", m.Content)
	}
}

// The test binary doubles as a stdio MCP server (see TestMain).
const mcpEnv = "LIVECORD_BOT_TEST_MCP"

// TestMCPServersReachTheModel: tools of an MCP server the test starts over
// stdio (this binary re-executed) and of one over streamable HTTP are
// offered to Live through the bot, called, and their results reach the
// model.
func TestMCPServersReachTheModel(t *testing.T) {
	hs := httptest.NewServer(mcpHTTPHandler())
	defer hs.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{
		"notes": map[string]any{"command": self, "args": []string{"-test.run=^$"}, "env": map[string]string{mcpEnv: "stdio"}, "allow": []string{"lookup"}},
		"web":   map[string]any{"url": hs.URL, "allow": []string{"lookup"}},
	}})
	cfg, err := tool.ParseMCPConfig(conf, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := tool.ConnectMCP(ctx, cfg, tool.MCPOptions{})
	defer m.Close()
	if f := m.Failures(); len(f) > 0 {
		t.Fatalf("MCP: %v", f)
	}
	h := toolsHarness(t, m.Tools()...)
	h.start()
	h.lv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{
		{Name: "notes__lookup", Args: json.RawMessage(`{"q":"tea"}`)}, {Name: "web__lookup", Args: json.RawMessage(`{"q":"coffee"}`)}}})
	msg := answered(t, h.ask(h.alice, "Look up tea and coffee"))
	for _, want := range []string{"stdio found tea", "http found coffee"} {
		if !strings.Contains(msg.Content, want) {
			t.Errorf("answer lacks %q:\n%s", want, msg.Content)
		}
	}
	if strings.Count(msg.Content, "🔧") != 2 {
		t.Errorf("want two tool lines:\n%s", msg.Content)
	}
	h.stop()
}

// servedImage serves data as an attachment's CDN URL and counts requests.
type servedImage struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
}

func serveImage(t *testing.T, data []byte) *servedImage {
	s := &servedImage{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
		w.Write(data)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *servedImage) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func testPNG(w, hgt int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, hgt))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(1, 1, color.RGBA{200, 0, 0, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// bombPNG is a valid PNG signature and IHDR declaring w×h pixels (the rest
// would be a tiny compressed stream of zeros; a header check must refuse it
// first).
func bombPNG(w, h uint32) []byte {
	b := testPNG(1, 1)
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func (h *harness) askImage(prompt string, a discordtest.Attachment) *discordtest.Interaction {
	h.t.Helper()
	ia, err := h.dc.Invoke(h.ctx(), discordtest.Invocation{GuildID: h.guild.ID, ChannelID: h.text.ID, User: h.alice,
		Command: "ask", Options: map[string]any{"prompt": prompt}, Attachments: map[string]discordtest.Attachment{"image": a}})
	if err != nil {
		h.t.Fatal(err)
	}
	return ia
}

// TestAskImage: an attached picture is downloaded, prepared and sent in
// the turn beside the prompt; a file of the wrong type, one too big, and a
// decompression bomb are refused with a message naming the accepted
// formats and limits, and the prompt echoed; none reaches Live.
func TestAskImage(t *testing.T) {
	h := newHarness(t, discordtest.Options{}, livetest.Options{Speed: 50})
	h.cfg.Image = imagefit.Options{MaxBytes: 64 << 10, MaxPixels: 4_000_000}
	var mu sync.Mutex
	var got []livetest.Request
	h.lv.Respond(func(r livetest.Request) livetest.Reply {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		return livetest.Reply{Transcript: "A white square with a red dot."}
	})
	h.start()

	pic := testPNG(40, 30)
	ok := serveImage(t, pic)
	m := answered(t, h.askImage("What is this?", discordtest.Attachment{Filename: "dot.png", ContentType: "image/png", URL: ok.srv.URL + "/dot.png", Size: len(pic)}))
	if !strings.Contains(m.Content, "A white square with a red dot.") {
		t.Fatalf("answer:\n%s", m.Content)
	}
	mu.Lock()
	if len(got) != 1 || got[0].Prompt != "What is this?" || len(got[0].Images) != 1 {
		t.Fatalf("Live got %+v", got)
	}
	sent, err := png.DecodeConfig(bytes.NewReader(got[0].Images[0].Data))
	mu.Unlock()
	if err != nil || sent.Width != 40 || sent.Height != 30 {
		t.Fatalf("image sent: %v %+v", err, sent)
	}

	big := append(testPNG(8, 8), make([]byte, 70<<10)...)
	for _, tc := range []struct {
		name    string
		data    []byte
		size    int // as Discord declares it
		want    string
		fetched bool
	}{
		{"wrong type", []byte("%PDF-1.7 not a picture"), 22, "this file is PDF", true},
		{"too big, declared", big, len(big), "this file is", false},
		{"too big, lied about", big, 100, "larger than", true},
		{"bomb", bombPNG(30000, 30000), 60, "30000×30000", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveImage(t, tc.data)
			prompt := "Describe " + tc.name
			ia := h.askImage(prompt, discordtest.Attachment{Filename: "x.png", ContentType: "image/png", URL: srv.srv.URL + "/x", Size: tc.size})
			var text string
			if tc.fetched {
				text = answered(t, ia).Content
			} else {
				text = ephemeral(t, ia)
			}
			for _, want := range []string{tc.want, "JPEG, PNG, WebP", "> " + prompt} {
				if !strings.Contains(text, want) {
					t.Errorf("refusal lacks %q:\n%s", want, text)
				}
			}
			if n := srv.count(); (n > 0) != tc.fetched {
				t.Errorf("downloaded %d times", n)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("refused images reached Live: %d turns", len(got))
	}
}

type lookupIn struct {
	Q string `json:"q"`
}

// mcpServer has one tool, lookup, answering "<via> found <q>".
func mcpServer(via string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-" + via, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "lookup", Description: "Look something up."},
		func(_ context.Context, _ *mcp.CallToolRequest, in lookupIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: via + " found " + in.Q}}}, nil, nil
		})
	return s
}

func mcpHTTPHandler() http.Handler {
	s := mcpServer("http")
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

// serveMCPStdio runs the stdio MCP server in a re-executed test binary.
func serveMCPStdio() {
	if err := mcpServer("stdio").Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// TestVoiceToolsAloud: the built-in tools act on the guild's real voice
// state: who is in the channel, stop speaking (the rest of the reply is not
// played, the text and WAV are still posted), and leave once the goodbye
// has been heard.
func TestVoiceToolsAloud(t *testing.T) {
	h, vt := newVoiceHarness(t, discordtest.Options{}, livetest.Options{Speed: 10})
	h.dc.SetVoiceState(h.guild.ID, h.bob.ID, h.vc.ID)
	h.start()
	botID := h.dc.AppID()
	voiced := func() (n int) {
		for _, f := range vt.Frames(botID) {
			if !f.IsSilence() {
				n++
			}
		}
		return n
	}

	h.lv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{Name: "list_voice_members"}}})
	m := answered(t, h.ask(h.alice, "Who is here?"))
	if !strings.Contains(m.Content, `"name":"alice"`) || !strings.Contains(m.Content, `"name":"bob"`) || !strings.Contains(m.Content, "🔧 checked who is here (2)") {
		t.Fatalf("answer:\n%s", m.Content)
	}

	// The first reply is heard to its silence tail before the next.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := vt.WaitFrames(ctx, botID, func(fs []voicetest.Frame) bool {
		return len(fs) >= 5 && fs[len(fs)-1].IsSilence() && fs[len(fs)-5].IsSilence()
	}); err != nil {
		t.Fatal(err)
	}
	before := voiced()
	h.lv.Script(livetest.Reply{Transcript: "Okay, I will stop talking now and not say anything else at all.",
		ToolCalls: []livetest.ToolCall{{Name: "stop_speaking"}}})
	m = answered(t, h.ask(h.alice, "Shut up"))
	if len(m.Attachments) != 1 || !strings.Contains(m.Content, "🔧 stopped speaking") {
		t.Fatalf("answer:\n%s", m.Content)
	}
	if n := voiced() - before; n > 0 {
		t.Fatalf("%d frames of the reply were played after stop_speaking", n)
	}

	h.lv.Script(livetest.Reply{Transcript: "Bye!", ToolCalls: []livetest.ToolCall{{Name: "leave_voice_channel"}}})
	before = voiced()
	m = answered(t, h.ask(h.alice, "Please leave"))
	if !strings.Contains(m.Content, "Bye!") {
		t.Fatalf("answer:\n%s", m.Content)
	}
	if err := h.dc.WaitVoiceChannel(ctx, h.guild.ID, botID, ""); err != nil {
		t.Fatalf("the bot did not leave: %v", err)
	}
	if n := voiced() - before; n == 0 {
		t.Fatal("the goodbye was not played before leaving")
	}
}

// TestToolSchedulingByModel: a NON_BLOCKING tool's response carries its
// scheduling on gemini-3.8-live; on gemini-3.1, which takes blocking calls
// only, neither behavior nor scheduling is sent.
func TestToolSchedulingByModel(t *testing.T) {
	notify := tool.Tool{Name: "queue_note", Description: "Notes something in the background.", Behavior: tool.NonBlocking,
		Scheduling: tool.WhenIdle, Handler: func(context.Context, json.RawMessage) (any, error) { return "noted", nil }}
	for _, model := range []string{"gemini-3.8-live", "gemini-3.1-flash-live-preview"} {
		t.Run(model, func(t *testing.T) {
			h := toolsHarness(t, notify)
			h.cfg.Live.Model = model
			h.start()
			h.lv.Script(livetest.Reply{ToolCalls: []livetest.ToolCall{{Name: "queue_note"}}})
			answered(t, h.ask(h.alice, "note it"))
			res := h.lv.ToolResults()
			nb := model == "gemini-3.8-live"
			if len(res) != 1 || (res[0].Scheduling == "WHEN_IDLE") != nb ||
				strings.Contains(string(h.lv.LastSetup()), `"NON_BLOCKING"`) != nb {
				t.Fatalf("results %+v, setup %s", res, h.lv.LastSetup())
			}
		})
	}
}
