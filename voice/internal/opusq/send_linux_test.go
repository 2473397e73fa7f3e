//go:build linux

package opusq_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// endpoints is how many voice-server addresses the packets of one slot go
// to in the send benchmark (Discord spreads guilds over many servers).
const endpoints = 4

// sink is a set of loopback sockets standing in for voice servers, each
// drained by a goroutine the sink owns, so the kernel delivers (not drops)
// what the benchmark sends.
type sink struct {
	conns []*net.UDPConn
	addrs []netip.AddrPort
	wg    sync.WaitGroup
}

func newSink(tb testing.TB) *sink {
	s := &sink{}
	for range endpoints {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		c.SetReadBuffer(4 << 20)
		s.conns = append(s.conns, c)
		s.addrs = append(s.addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
		s.wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				if _, err := c.Read(buf); errors.Is(err, net.ErrClosed) {
					return
				}
			}
		})
	}
	tb.Cleanup(func() {
		for _, c := range s.conns {
			c.Close()
		}
		s.wg.Wait()
	})
	return s
}

// threadCPU is the calling thread's user+system time from getrusage.
func threadCPU(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSendSlot sends the packets of one 20 ms slot, one per stream
// (~120 bytes: a sealed speech frame at 32–64 kb/s), to loopback voice
// servers three ways: today's (each stream its own connected socket, one
// write each: the reference), one unconnected socket with one sendto per
// packet, and one unconnected socket with ipv4.PacketConn.WriteBatch
// (sendmmsg: the whole slot in one system call). One op is one slot;
// CPU is the sending thread's getrusage time, which on loopback includes
// the kernel's delivery to the receiving socket (same for all three).
func BenchmarkSendSlot(b *testing.B) {
	payload := make([]byte, 120)
	for _, n := range []int{50, 100, 150, 200} {
		b.Run(fmt.Sprintf("packets=%d/connected-write", n), func(b *testing.B) {
			s := newSink(b)
			conns := make([]*net.UDPConn, n)
			for i := range conns {
				c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(s.addrs[i%endpoints]))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			runSlots(b, n, func() {
				for _, c := range conns {
					if _, err := c.Write(payload); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(fmt.Sprintf("packets=%d/unconnected-writeto", n), func(b *testing.B) {
			s := newSink(b)
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			runSlots(b, n, func() {
				for i := range n {
					if _, err := c.WriteToUDPAddrPort(payload, s.addrs[i%endpoints]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run(fmt.Sprintf("packets=%d/writebatch", n), func(b *testing.B) {
			s := newSink(b)
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			pc := ipv4.NewPacketConn(c)
			msgs := make([]ipv4.Message, n)
			for i := range msgs {
				msgs[i] = ipv4.Message{Buffers: [][]byte{payload}, Addr: net.UDPAddrFromAddrPort(s.addrs[i%endpoints])}
			}
			calls := 0
			runSlots(b, n, func() {
				for off := 0; off < n; {
					k, err := pc.WriteBatch(msgs[off:], 0)
					if err != nil {
						b.Fatal(err)
					}
					off += k
					calls++
				}
			})
			b.ReportMetric(float64(calls)/float64(b.N), "syscalls/slot")
		})
	}
}

// runSlots runs slot b.N times on a locked thread and reports CPU and wall
// time per packet.
func runSlots(b *testing.B, n int, slot func()) {
	runtimeLock(b)
	cpu0, wall0 := threadCPU(b), time.Now()
	for b.Loop() {
		slot()
	}
	cpu, wall := threadCPU(b)-cpu0, time.Since(wall0)
	pkts := float64(b.N * n)
	b.ReportMetric(float64(cpu.Nanoseconds())/pkts, "cpu-ns/pkt")
	b.ReportMetric(float64(wall.Nanoseconds())/pkts, "wall-ns/pkt")
}
