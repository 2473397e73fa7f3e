//go:build linux

package imagefit

import (
	"bytes"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"

	"golang.org/x/image/draw"
	"golang.org/x/sys/unix"
)

// The reference for every Prepare benchmark is the standard library decoding
// the same bytes alone (BenchmarkStdlibDecode*), measured in the same run:
// BENCHMARKS.md reports Prepare as a ratio to it. Besides wall time each
// reports cpu-ns/op, the CPU time of the benchmark's own (locked) thread,
// which a machine busy with other work disturbs far less.

// cpuLoop runs f b.N times on a locked thread and reports its CPU time.
func cpuLoop(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU(b)
	n := 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(threadCPU(b)-start)/float64(n), "cpu-ns/op")
}

func threadCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func benchPhoto(b *testing.B) []byte {
	b.Helper()
	return encJPEG(b, photo(4032, 3024)) // a 12 MP phone photo
}

func benchScreenshot(b *testing.B) []byte {
	b.Helper()
	return encPNG(b, halves(1920, 1080, red, blue))
}

func benchPrepare(b *testing.B, data []byte, opt Options) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpuLoop(b, func() {
		if _, err := Prepare(data, opt); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkPrepareJPEG12MPCatmullRom(b *testing.B) {
	benchPrepare(b, benchPhoto(b), Options{Scaler: draw.CatmullRom})
}

func BenchmarkPrepareJPEG12MPApproxBiLinear(b *testing.B) {
	benchPrepare(b, benchPhoto(b), Options{Scaler: draw.ApproxBiLinear})
}

func BenchmarkStdlibDecodeJPEG12MP(b *testing.B) {
	data := benchPhoto(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpuLoop(b, func() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkPreparePNG1080pCatmullRom(b *testing.B) {
	benchPrepare(b, benchScreenshot(b), Options{Scaler: draw.CatmullRom})
}

func BenchmarkPreparePNG1080pApproxBiLinear(b *testing.B) {
	benchPrepare(b, benchScreenshot(b), Options{Scaler: draw.ApproxBiLinear})
}

func BenchmarkStdlibDecodePNG1080p(b *testing.B) {
	data := benchScreenshot(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpuLoop(b, func() {
		if _, err := png.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRefuseBomb: refusing a 16384×16384 WebP costs a header read.
func BenchmarkRefuseBomb(b *testing.B) {
	data := encWebP(16384, 16384, red, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Prepare(data, Options{}); KindOf(err) != TooManyPixels {
			b.Fatal(err)
		}
	}
}
