package player

/*
// opus_encode and opus_encoder_ctl are defined by the libopus that
// layeh.com/gopus compiles into the same binary; this file declares them and
// builds no second copy. cgo cannot call a variadic function, hence the
// fixed-arity shim. Request numbers are libopus's (opus_defines.h).
extern int opus_encoder_ctl(void *st, int request, ...);
extern int opus_encode(void *st, const short *pcm, int frame_size, unsigned char *data, int max_data_bytes);
static int player_ctl_set(void *st, int request, int v) { return opus_encoder_ctl(st, request, v); }
static int player_ctl_get(void *st, int request, int *v) { return opus_encoder_ctl(st, request, v); }
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

// DefaultComplexity is the Opus complexity a Player uses unless
// Config.Complexity says otherwise: measured on speech against complexity 10
// (branch opus, voice/internal/opusq), 5 with the voice signal hint keeps the
// quality of speech and costs about half of libopus's default 9 per frame.
const DefaultComplexity = 5

const (
	setComplexityRequest = 4010 // OPUS_SET_COMPLEXITY_REQUEST
	getComplexityRequest = 4011 // OPUS_GET_COMPLEXITY_REQUEST
	setSignalRequest     = 4024 // OPUS_SET_SIGNAL_REQUEST
	signalVoice          = 3001 // OPUS_SIGNAL_VOICE
)

// opusEncoder is a gopus encoder driven through libopus directly: gopus
// offers no complexity or signal setter, and its Encode allocates a
// max-size packet per call, which at hundreds of streams is most of the
// garbage the player would make.
type opusEncoder struct {
	enc *gopus.Encoder // owns the state (freed by its finalizer)
	st  unsafe.Pointer // enc's OpusEncoder*
}

func newOpusEncoder(bitrate, complexity int) (*opusEncoder, error) {
	enc, err := gopus.NewEncoder(48000, 2, gopus.Audio)
	if err != nil {
		return nil, fmt.Errorf("player: opus encoder: %w", err)
	}
	enc.SetBitrate(bitrate)
	// gopus keeps the state in the unexported field cEncoder; TestComplexity
	// fails if a gopus upgrade renames or retypes it.
	f := reflect.ValueOf(enc).Elem().FieldByName("cEncoder")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil, errors.New("player: opus encoder: gopus.Encoder has no cEncoder pointer")
	}
	e := &opusEncoder{enc: enc, st: f.UnsafePointer()}
	if r := C.player_ctl_set(e.st, setComplexityRequest, C.int(complexity)); r != 0 {
		return nil, fmt.Errorf("player: opus complexity %d: libopus error %d", complexity, int(r))
	}
	// The player only ever speaks: the hint lets a cheap complexity pick the
	// speech modes that libopus's analysis (complexity ≥ 7 only) would.
	if r := C.player_ctl_set(e.st, setSignalRequest, signalVoice); r != 0 {
		return nil, fmt.Errorf("player: opus signal: libopus error %d", int(r))
	}
	return e, nil
}

// complexity reads the encoder's complexity back from libopus.
func (e *opusEncoder) complexity() int {
	var v C.int
	C.player_ctl_get(e.st, getComplexityRequest, &v)
	runtime.KeepAlive(e.enc)
	return int(v)
}

// encode encodes one frame of interleaved stereo into out (cap ≥
// opusMaxPacket) and returns the packet.
func (e *opusEncoder) encode(out []byte, pcm []int16) ([]byte, error) {
	n := C.opus_encode(e.st, (*C.short)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)/2),
		(*C.uchar)(unsafe.Pointer(&out[:1][0])), C.int(cap(out)))
	runtime.KeepAlive(e.enc)
	if n < 0 {
		return nil, fmt.Errorf("player: opus encode: libopus error %d", int(n))
	}
	return out[:n], nil
}
