package speech

import (
	"math"
	"os"
	"strings"
	"testing"
)

func TestPhrases(t *testing.T) {
	ps, err := Phrases()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(texts) {
		t.Fatalf("%d phrases, want %d", len(ps), len(texts))
	}
	for _, p := range ps {
		secs := float64(len(p.PCM)) / Rate
		if secs < 1 || secs > 4 {
			t.Errorf("%s: %.2f s long, want 1–4 s", p.Name, secs)
		}
		// Speech, not silence or clipping: peak near the -3 dBFS the files
		// were normalised to, and a sensible RMS.
		peak, sum := 0.0, 0.0
		for _, v := range p.PCM {
			peak = max(peak, math.Abs(float64(v)))
			sum += float64(v) * float64(v)
		}
		rms := math.Sqrt(sum / float64(len(p.PCM)))
		if db := 20 * math.Log10(peak/32768); db < -6 || db > -1 {
			t.Errorf("%s: peak %.1f dBFS, want about -3", p.Name, db)
		}
		if db := 20 * math.Log10(rms/32768); db < -35 || db > -8 {
			t.Errorf("%s: RMS %.1f dBFS", p.Name, db)
		}
	}
	if _, err := Lookup("hello"); err != nil {
		t.Error(err)
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup of an unknown phrase succeeded")
	}
}

func TestReadmeListsPhrases(t *testing.T) {
	b, err := os.ReadFile("phrases/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range texts {
		row := "| `" + p.name + ".wav` | " + p.text + " |"
		if !strings.Contains(string(b), row) {
			t.Errorf("phrases/README.md lacks the row %q", row)
		}
	}
}
