//go:build soxr

// Package soxrbench measures the resample package against libsoxr, the
// reference resampler behind SoX, in the same process. It needs cgo and
// Debian's libsoxr-dev, so it only builds with the soxr tag:
//
//	apt-get install -y libsoxr-dev
//	go test -tags soxr -run TestTable -v ./resample/soxrbench
package soxrbench

/*
#cgo LDFLAGS: -lsoxr
#include <stdlib.h>
#include <soxr.h>

static soxr_t newSoxr(double in, double out, unsigned ch, int custom, double prec, double pass, double stop, char const **err) {
	soxr_io_spec_t io = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I);
	io.flags |= SOXR_NO_DITHER;
	soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
	if (custom) {
		q.precision = prec;
		q.passband_end = pass;
		q.stopband_begin = stop;
	}
	soxr_runtime_spec_t rt = soxr_runtime_spec(1);
	soxr_error_t e = 0;
	soxr_t s = soxr_create(in, out, ch, &e, &io, &q, &rt);
	*err = e;
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Soxr is a libsoxr stream resampler with int16 interleaved input and output
// and dither disabled (the resample package does not dither either).
type Soxr struct {
	s        C.soxr_t
	channels int
}

// Spec selects a custom soxr quality; the zero Spec means the SOXR_HQ preset.
type Spec struct {
	PrecisionBits float64 // stopband attenuation ≈ 6.02·bits dB
	PassbandEnd   float64 // fraction of the lower Nyquist frequency
	StopbandBegin float64
}

// NewSoxr creates a soxr stream resampler.
func NewSoxr(inRate, outRate, channels int, spec Spec) (*Soxr, error) {
	var e *C.char
	custom := C.int(0)
	if spec != (Spec{}) {
		custom = 1
	}
	s := C.newSoxr(C.double(inRate), C.double(outRate), C.uint(channels), custom,
		C.double(spec.PrecisionBits), C.double(spec.PassbandEnd), C.double(spec.StopbandBegin), &e)
	if e != nil {
		return nil, fmt.Errorf("soxr: create: %s", C.GoString(e))
	}
	return &Soxr{s: s, channels: channels}, nil
}

// Clear resets the stream for reuse with the same configuration.
func (s *Soxr) Clear() error {
	if e := C.soxr_clear(s.s); e != nil {
		return fmt.Errorf("soxr: clear: %s", C.GoString(e))
	}
	return nil
}

// Close frees the resampler.
func (s *Soxr) Close() { C.soxr_delete(s.s) }

// Process appends the output for src (interleaved) to dst; dst must have
// spare capacity for it (soxr writes at most cap-len). A nil src flushes.
func (s *Soxr) Process(dst, src []int16) ([]int16, error) {
	ch := s.channels
	var in unsafe.Pointer
	if src != nil {
		if len(src) == 0 {
			return dst, nil
		}
		in = unsafe.Pointer(&src[0])
	}
	for {
		space := (cap(dst) - len(dst)) / ch
		if space == 0 {
			return dst, errors.New("soxr: output buffer full")
		}
		out := dst[len(dst):cap(dst)]
		var idone, odone C.size_t
		e := C.soxr_process(s.s, C.soxr_in_t(in), C.size_t(len(src)/ch), &idone,
			C.soxr_out_t(unsafe.Pointer(&out[0])), C.size_t(space), &odone)
		if e != nil {
			return dst, fmt.Errorf("soxr: process: %s", C.GoString(e))
		}
		dst = dst[:len(dst)+int(odone)*ch]
		if src != nil {
			src = src[int(idone)*ch:]
			if len(src) == 0 {
				return dst, nil
			}
			in = unsafe.Pointer(&src[0])
			continue
		}
		if int(odone) < space {
			return dst, nil // flush drained
		}
	}
}

// Delay returns soxr's current delay in output samples.
func (s *Soxr) Delay() float64 { return float64(C.soxr_delay(s.s)) }
