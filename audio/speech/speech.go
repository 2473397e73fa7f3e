// Package speech provides a few short recorded English phrases (rendered by
// espeak-ng, see phrases/README.md) as 48 kHz mono PCM, the real speech that
// tests and emulators use wherever a synthetic tone would not do: voice onset
// detection, voice-channel members that speak, phrase recognition.
package speech

import (
	"embed"
	"fmt"
	"sync"

	"github.com/livecord/livecord/audio/wav"
	"github.com/livecord/livecord/resample"
)

// Rate is the sample rate of [Phrase.PCM].
const Rate = 48000

// Phrase is one recording.
type Phrase struct {
	Name string  // file name without .wav, e.g. "hello"
	Text string  // what is said, as written
	PCM  []int16 // 48 kHz mono; shared, do not modify
}

//go:embed phrases/*.wav
var files embed.FS

// texts lists the phrases in a fixed order; phrases/README.md has the same
// table (TestReadmeListsPhrases keeps them in step).
var texts = []struct{ name, text string }{
	{"hello", "Hello, can you hear me?"},
	{"weather", "What is the weather like in Paris today?"},
	{"interrupt", "Wait, stop. I have another question."},
	{"name", "My name is Alice, and this is Bob."},
	{"count", "One, two, three, four, five."},
	{"thanks", "Thank you, that was really helpful."},
}

var (
	once    sync.Once
	loaded  []Phrase
	loadErr error
)

// Phrases returns every phrase, decoded and converted to 48 kHz once per
// process. The slice and the PCM are shared: callers must not modify them.
func Phrases() ([]Phrase, error) {
	once.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

// Lookup returns the phrase called name.
func Lookup(name string) (Phrase, error) {
	ps, err := Phrases()
	if err != nil {
		return Phrase{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return Phrase{}, fmt.Errorf("speech: no phrase %q", name)
}

func load() ([]Phrase, error) {
	out := make([]Phrase, 0, len(texts))
	for _, t := range texts {
		b, err := files.ReadFile("phrases/" + t.name + ".wav")
		if err != nil {
			return nil, fmt.Errorf("speech: %w", err)
		}
		f, err := wav.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("speech: %s: %w", t.name, err)
		}
		if f.Channels != 1 {
			return nil, fmt.Errorf("speech: %s: %d channels, want mono", t.name, f.Channels)
		}
		r, err := resample.New(f.SampleRate, Rate, 1)
		if err != nil {
			return nil, fmt.Errorf("speech: %s: %w", t.name, err)
		}
		in := f.Samples()
		pcm := r.Process(make([]int16, 0, r.OutLen(len(in))+r.FlushLen()), in)
		pcm = r.Flush(pcm)
		// Drop the filter's delay so sample k is input instant k.
		d := r.Delay()
		pcm = pcm[min(d, len(pcm)):min(d+len(in)*Rate/f.SampleRate, len(pcm))]
		out = append(out, Phrase{Name: t.name, Text: t.text, PCM: pcm})
	}
	return out, nil
}
