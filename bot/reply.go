package bot

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/livecord/livecord/audio/ogg"
	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/live"
)

// maxContent is Discord's message content limit (characters).
const maxContent = 2000

// reply accumulates one turn's answer.
type reply struct {
	prompt      string
	userID      string
	limit       int    // attachment_size_limit
	transcript  string // the live.Turn's, read after each event
	pcm         []byte // the live.Turn's audio so far (not a copy)
	interrupted bool
	partial     bool   // the turn failed after it started
	failure     string // user-facing failure text ("" when it went fine)
	notes       []string
	tools       []string      // one line per tool call ("🔧 checked the time in UTC")
	sources     []live.Source // the web pages a grounded answer drew on
	start       time.Time
	elapsed     time.Duration
}

// header quotes the prompt and names the asker (a user mention renders the
// name; allowed_mentions keeps it from pinging).
func header(prompt, userID string) string {
	return fmt.Sprintf("<@%s> asked:\n%s", userID, quote(prompt))
}

// quote renders text as a Markdown block quote.
func quote(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}

func queuedText(prompt, userID string, pos int) string {
	return fmt.Sprintf("%s\n\n⏳ Waiting in line: you're **#%d**. I'll answer here when it's your turn.", header(prompt, userID), pos)
}

// errorText is a short error that echoes the prompt so it can be retried.
func errorText(msg, prompt string) string {
	return "⚠️ " + msg + "\nYour prompt, to try again:\n" + quote(prompt)
}

// streaming is the reply while the answer arrives: the prompt and the tail
// of the transcript so far, within one message.
func (r *reply) streaming() string {
	h := header(r.prompt, r.userID)
	t := r.transcript
	if t == "" {
		return h + "\n\n💭 *Thinking…*"
	}
	room := maxContent - utf8.RuneCountInString(h) - 6
	if room < 100 {
		return clip(h)
	}
	if n := utf8.RuneCountInString(t); n > room {
		rs := []rune(t)
		t = "…" + string(rs[n-room+1:])
	}
	return h + "\n\n" + t + " ▍"
}

// final returns the finished reply split into messages of at most 2000
// characters, and the audio attachment for the first one (none when there is
// no audio or it cannot fit under the limit).
func (r *reply) final() ([]string, []*discordgo.File, error) {
	if r.failure != "" && !r.partial && len(r.pcm) == 0 {
		return []string{clip(errorText(r.failure, r.prompt))}, nil, nil
	}
	var b strings.Builder
	b.WriteString(header(r.prompt, r.userID))
	b.WriteString("\n\n")
	if t := strings.TrimSpace(r.transcript); t != "" {
		b.WriteString(t)
	} else {
		b.WriteString("*(no transcript)*")
	}
	var files []*discordgo.File
	var encErr error
	var foot []string
	if len(r.pcm) > 0 {
		f, note, err := r.attachment()
		encErr = err
		if f != nil {
			files = append(files, f)
		}
		foot = append(foot, fmt.Sprintf("🔊 %s", formatDuration(live.AudioDuration(len(r.pcm)))))
		if note != "" {
			foot = append(foot, note)
		}
	}
	if r.interrupted {
		foot = append(foot, "✂️ interrupted")
	}
	b.WriteString(r.extras())
	b.WriteString("\n\n")
	if r.failure != "" {
		b.WriteString("⚠️ **The answer was cut off.** " + r.failure + "\n")
	}
	for _, n := range r.notes {
		b.WriteString("ℹ️ " + n + "\n")
	}
	if len(foot) > 0 {
		b.WriteString("-# " + strings.Join(foot, " · "))
	}
	return split(strings.TrimRight(b.String(), "\n"), maxContent), files, encErr
}

// attachment encodes the PCM as reply.wav, or as reply.ogg (Opus) when the
// WAV is over the interaction's upload limit, or nothing when both are.
func (r *reply) attachment() (*discordgo.File, string, error) {
	if wav.HeaderSize+len(r.pcm) <= r.limit {
		var buf bytes.Buffer
		if err := wav.Encode(&buf, live.SampleRate, 1, r.pcm); err != nil {
			return nil, "", fmt.Errorf("encode wav: %w", err)
		}
		return &discordgo.File{Name: "reply.wav", ContentType: "audio/wav", Reader: &buf}, "", nil
	}
	var buf bytes.Buffer
	if err := ogg.EncodeOpus(&buf, live.SampleRate, r.pcm); err != nil {
		return nil, "audio not attached (it could not be encoded)", fmt.Errorf("encode ogg: %w", err)
	}
	limit := fmt.Sprintf("%.1f MiB", float64(r.limit)/(1<<20))
	if buf.Len() > r.limit {
		return nil, "audio too long to attach here (over " + limit + ")", nil
	}
	return &discordgo.File{Name: "reply.ogg", ContentType: "audio/ogg", Reader: &buf},
		"attached as Ogg/Opus: the WAV was over this channel's " + limit + " upload limit", nil
}

func formatDuration(d time.Duration) string {
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// clip shortens s to maxContent characters.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxContent {
		return s
	}
	rs := []rune(s)
	return string(rs[:maxContent-1]) + "…"
}

// split cuts s into pieces of at most limit characters, preferring line
// breaks, then spaces.
func split(s string, limit int) []string {
	var out []string
	for utf8.RuneCountInString(s) > limit {
		rs := []rune(s)
		cut := limit
		head := string(rs[:cut])
		if i := strings.LastIndex(head, "\n"); i > len(head)/2 {
			head = head[:i]
		} else if i := strings.LastIndex(head, " "); i > len(head)/2 {
			head = head[:i]
		}
		out = append(out, head)
		s = strings.TrimLeft(s[len(head):], "\n ")
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}
