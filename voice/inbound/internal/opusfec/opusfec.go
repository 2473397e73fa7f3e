// Package opusfec turns on in-band forward error correction in a
// layeh.com/gopus encoder, which does not expose the two encoder controls
// needed. Tests use it to produce the FEC-carrying packets that Discord
// clients send; nothing in production encodes with it.
//
// The controls are called on libopus as compiled into gopus: the symbol is
// declared here and resolved when the final binary is linked (gopus is always
// linked with it), hence the linker flag for the package's own link check.
package opusfec

/*
#cgo LDFLAGS: -Wl,--unresolved-symbols=ignore-in-object-files
extern int opus_encoder_ctl(void *st, int request, ...);

// 4012 is OPUS_SET_INBAND_FEC_REQUEST, 4014 OPUS_SET_PACKET_LOSS_PERC_REQUEST.
static int livecord_opus_set_fec(void *st, int on, int lossPercent) {
	int r = opus_encoder_ctl(st, 4012, on);
	if (r != 0) return r;
	return opus_encoder_ctl(st, 4014, lossPercent);
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"layeh.com/gopus"
)

// encoderLayout mirrors gopus.Encoder's fields (data, cEncoder): the C state
// lives in data, which the struct owns.
type encoderLayout struct {
	data []byte
	c    unsafe.Pointer
}

// Enable turns in-band FEC on in enc and tells it to expect lossPercent %
// packet loss (libopus only spends bits on FEC when that is above zero).
func Enable(enc *gopus.Encoder, lossPercent int) error {
	l := (*encoderLayout)(unsafe.Pointer(enc))
	if l.c == nil || len(l.data) == 0 || unsafe.Pointer(&l.data[0]) != l.c {
		return fmt.Errorf("opusfec: gopus.Encoder layout changed")
	}
	if r := C.livecord_opus_set_fec(l.c, 1, C.int(lossPercent)); r != 0 {
		return fmt.Errorf("opusfec: opus_encoder_ctl: error %d", int(r))
	}
	return nil
}
