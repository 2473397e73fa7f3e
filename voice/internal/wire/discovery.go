package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// IP discovery packet layout: type u16 ‖ length u16 (70) ‖ SSRC u32 ‖ address
// (64 bytes, NUL-padded ASCII) ‖ port u16, all big-endian.
const (
	discoverySize     = 74
	discoveryRequest  = 0x0001
	discoveryResponse = 0x0002
)

// Discovery is an IP discovery request (Response false, Addr empty) or response.
type Discovery struct {
	Response bool
	SSRC     uint32
	Addr     netip.AddrPort
}

var errDiscovery = errors.New("voice: ip discovery")

// Marshal encodes d as the 74-byte packet.
func (d Discovery) Marshal() ([]byte, error) {
	b := make([]byte, discoverySize)
	binary.BigEndian.PutUint16(b, discoveryRequest)
	binary.BigEndian.PutUint16(b[2:], discoverySize-4)
	binary.BigEndian.PutUint32(b[4:], d.SSRC)
	if d.Response {
		binary.BigEndian.PutUint16(b, discoveryResponse)
		ip := d.Addr.Addr().Unmap().String()
		if len(ip) >= 64 {
			return nil, fmt.Errorf("%w: address %q too long", errDiscovery, ip)
		}
		copy(b[8:72], ip)
		binary.BigEndian.PutUint16(b[72:], d.Addr.Port())
	}
	return b, nil
}

// Unmarshal decodes a 74-byte discovery packet.
func (d *Discovery) Unmarshal(b []byte) error {
	if len(b) != discoverySize {
		return fmt.Errorf("%w: %d bytes, want %d", errDiscovery, len(b), discoverySize)
	}
	if n := binary.BigEndian.Uint16(b[2:]); n != discoverySize-4 {
		return fmt.Errorf("%w: length field %d", errDiscovery, n)
	}
	*d = Discovery{SSRC: binary.BigEndian.Uint32(b[4:])}
	switch binary.BigEndian.Uint16(b) {
	case discoveryRequest:
		return nil
	case discoveryResponse:
		d.Response = true
	default:
		return fmt.Errorf("%w: type %#04x", errDiscovery, binary.BigEndian.Uint16(b))
	}
	field := b[8:72]
	if i := bytes.IndexByte(field, 0); i >= 0 {
		field = field[:i]
	}
	ip, err := netip.ParseAddr(string(field))
	if err != nil {
		return fmt.Errorf("%w: address: %v", errDiscovery, err)
	}
	d.Addr = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[72:]))
	return nil
}
