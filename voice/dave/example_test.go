package dave_test

import (
	"fmt"
	"log"

	"github.com/livecord/livecord/voice/dave"
)

// A voice connection hands every gateway message to the session and sends
// back what it returns: binary messages as op byte ‖ payload, JSON ones as
// {"op":N,"d":payload}. Audio goes through Encrypt and Decrypt.
func ExampleSession() {
	s, err := dave.NewSession(dave.Config{UserID: 158049329150427136, ChannelID: 1189187449416429608})
	if err != nil {
		log.Fatal(err)
	}
	// Session Description (op 4) selects DAVE v1: the session answers with its key package.
	out, err := s.HandleOp(4, []byte(`{"mode":"aead_aes256_gcm_rtpsize","secret_key":[],"dave_protocol_version":1}`))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range out {
		fmt.Printf("send op %d (binary %v)\n", m.Op, m.Binary)
	}
	// No group yet: nothing may go out, not even in clear...
	_, err = s.Encrypt(nil, []byte{0xfc, 0x01, 0x02})
	fmt.Println(err)
	// ...except Opus silence, which DAVE never encrypts.
	silence, _ := s.Encrypt(nil, []byte{0xf8, 0xff, 0xfe})
	fmt.Printf("%x\n", silence)
	// Output:
	// send op 26 (binary true)
	// dave: no group key yet
	// f8fffe
}
