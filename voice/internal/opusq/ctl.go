package opusq

/*
// opus_encoder_ctl is defined by the libopus that layeh.com/gopus compiles
// into the same binary; this package declares it and builds no second copy.
// cgo cannot call a variadic function, hence the two fixed-arity shims. The
// request numbers are libopus's (opus_defines.h), checked by the tests.
extern int opus_encoder_ctl(void *st, int request, ...);
static int opusq_ctl_set(void *st, int request, int v) { return opus_encoder_ctl(st, request, v); }
static int opusq_ctl_get(void *st, int request, int *v) { return opus_encoder_ctl(st, request, v); }
extern int opus_encode(void *st, const short *pcm, int frame_size, unsigned char *data, int max_data_bytes);
*/
import "C"

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"unsafe"

	"layeh.com/gopus"
)

const (
	setComplexityRequest = 4010 // OPUS_SET_COMPLEXITY_REQUEST
	getComplexityRequest = 4011 // OPUS_GET_COMPLEXITY_REQUEST
	getLookaheadRequest  = 4027 // OPUS_GET_LOOKAHEAD_REQUEST
	setSignalRequest     = 4024 // OPUS_SET_SIGNAL_REQUEST
	getSignalRequest     = 4025 // OPUS_GET_SIGNAL_REQUEST
)

// Signal is the kind of audio an encoder is told to expect
// (OPUS_SET_SIGNAL). Without a hint libopus guesses, but only at
// complexity 7 and up, where it runs its speech/music analysis; below that
// the Audio application assumes music.
type Signal int

const (
	SignalAuto  Signal = -1000 // OPUS_AUTO
	SignalVoice Signal = 3001  // OPUS_SIGNAL_VOICE
	SignalMusic Signal = 3002  // OPUS_SIGNAL_MUSIC
)

// SetSignal tells e what it encodes. The player only ever speaks, so
// SignalVoice lets a cheap complexity pick the speech modes (SILK or hybrid
// at low bitrates) that the analysis would have picked.
func SetSignal(e *gopus.Encoder, s Signal) error {
	if s != SignalAuto && s != SignalVoice && s != SignalMusic {
		return fmt.Errorf("opusq: unknown signal %d", s)
	}
	st, err := encoderState(e)
	if err != nil {
		return err
	}
	return ctlErr("set signal", C.opusq_ctl_set(st, setSignalRequest, C.int(s)))
}

// SignalOf returns what e was told it encodes.
func SignalOf(e *gopus.Encoder) (Signal, error) {
	v, err := get(e, "get signal", getSignalRequest)
	return Signal(v), err
}

// encoderState returns the OpusEncoder* inside e. gopus keeps it in the
// unexported field cEncoder and offers no complexity setter, so this reads
// the field by reflection; TestComplexityControl fails if a gopus upgrade
// renames or retypes it.
func encoderState(e *gopus.Encoder) (unsafe.Pointer, error) {
	if e == nil {
		return nil, errors.New("opusq: nil encoder")
	}
	f := reflect.ValueOf(e).Elem().FieldByName("cEncoder")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, errors.New("opusq: gopus.Encoder has no cEncoder pointer (gopus changed?)")
	}
	return f.UnsafePointer(), nil
}

func ctlErr(what string, ret C.int) error {
	if ret == 0 {
		return nil
	}
	return fmt.Errorf("opusq: %s: libopus error %d", what, int(ret))
}

// SetComplexity sets e's computational complexity, 0 (cheapest) to 10
// (libopus's best; libopus 1.1 starts an encoder at 9).
func SetComplexity(e *gopus.Encoder, complexity int) error {
	if complexity < 0 || complexity > 10 {
		return fmt.Errorf("opusq: complexity %d outside 0–10", complexity)
	}
	st, err := encoderState(e)
	if err != nil {
		return err
	}
	return ctlErr("set complexity", C.opusq_ctl_set(st, setComplexityRequest, C.int(complexity)))
}

// Complexity returns e's computational complexity.
func Complexity(e *gopus.Encoder) (int, error) {
	return get(e, "get complexity", getComplexityRequest)
}

// Lookahead returns e's delay in samples at its sampling rate: decoded
// sample i+Lookahead corresponds to input sample i.
func Lookahead(e *gopus.Encoder) (int, error) {
	return get(e, "get lookahead", getLookaheadRequest)
}

func get(e *gopus.Encoder, what string, request C.int) (int, error) {
	st, err := encoderState(e)
	if err != nil {
		return 0, err
	}
	var v C.int
	if err := ctlErr(what, C.opusq_ctl_get(st, request, &v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// Encode encodes frameSize samples per channel of interleaved pcm with e
// into out[:cap(out)] and returns the packet: gopus's Encode, without the
// max-size packet it allocates per call (at hundreds of streams, most of a
// player's garbage).
func Encode(e *gopus.Encoder, pcm []int16, frameSize int, out []byte) ([]byte, error) {
	if len(pcm) == 0 || cap(out) == 0 {
		return nil, errors.New("opusq: encode: empty pcm or packet buffer")
	}
	st, err := encoderState(e)
	if err != nil {
		return nil, err
	}
	out = out[:cap(out)]
	n := C.opus_encode(st, (*C.short)(unsafe.Pointer(&pcm[0])), C.int(frameSize),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.int(len(out)))
	runtime.KeepAlive(e)
	if n < 0 {
		return nil, fmt.Errorf("opusq: encode: libopus error %d", int(n))
	}
	return out[:n], nil
}
