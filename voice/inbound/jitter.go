package inbound

import "time"

// window is how many sequence numbers the reorder buffer spans from the next
// frame to release: 32 packets, 640 ms of 20 ms frames. A packet further
// ahead than that means the sender restarted or a long outage; the buffer
// then restarts at it rather than conceal more than a window.
const window = 32

// action says what the speaker decodes next.
type action uint8

const (
	actNone action = iota
	actPlay        // a packet, in order
	actFEC         // a lost frame, rebuilt from the next packet's in-band FEC
	actPLC         // a lost frame with nothing to rebuild it from: conceal
)

// pushResult classifies an arriving packet.
type pushResult uint8

const (
	pushOK        pushResult = iota
	pushDuplicate            // already held, or already released
	pushLate                 // arrived after its frame was concealed
	pushRestart              // too far from the stream: drain, then restart
)

type slot struct {
	ext     int64 // extended sequence number
	payload []byte
	samples int // per channel at 48 kHz
	arrival time.Time
	full    bool
}

// jitter is a reorder buffer over extended RTP sequence numbers. It
// releases packets in sequence order as soon as they are contiguous (nothing
// is delayed when nothing is missing: the audio goes to a recogniser, not a
// loudspeaker, so there is no playout clock to smooth), and gives up on a
// missing packet when a later one has waited depth, or when maxHeld later
// packets are waiting. design.go explains the numbers.
type jitter struct {
	started bool
	next    int64 // extended sequence number of the next frame to release
	held    int   // full slots
	slots   [window]slot
	// concealed[e%window] == e when frame e was given up on, so a packet
	// that turns up afterwards is told apart from a duplicate.
	concealed [window]int64

	base, depth, maxDepth time.Duration
	raised                time.Time // when depth last grew

	// A packet far behind the stream is usually a stray; two in a row,
	// consecutive, mean the sender restarted with lower numbers.
	stray      int64
	strayValid bool
}

func newJitter(base, maxDepth time.Duration) jitter {
	j := jitter{base: base, depth: base, maxDepth: maxDepth}
	for i := range j.concealed {
		j.concealed[i] = -1
	}
	return j
}

// restart makes seq the next frame to release. The buffer must be empty.
func (j *jitter) restart(seq uint16) {
	j.started = true
	// Offset by 2^16 so extended numbers (at most 2^15 below next) stay
	// positive and index the ring without a sign check.
	j.next = int64(seq) + 1<<16
	j.strayValid = false
	for i := range j.concealed {
		j.concealed[i] = -1
	}
}

// push stores a packet (copying payload). On pushRestart nothing is stored:
// the caller drains the buffer with force, calls restart and pushes again.
func (j *jitter) push(seq uint16, payload []byte, samples int, now time.Time) pushResult {
	if !j.started {
		j.restart(seq)
	}
	ext := j.next + int64(int16(seq-uint16(j.next)))
	switch {
	case ext < j.next-window:
		if j.strayValid && ext > j.stray && ext-j.stray <= 3 {
			j.strayValid = false
			return pushRestart
		}
		j.stray, j.strayValid = ext, true
		return pushLate
	case ext < j.next:
		if j.concealed[ext%window] == ext {
			// We gave up too early: wait longer from now on.
			j.depth = min(j.depth+depthStep, j.maxDepth)
			j.raised = now
			return pushLate
		}
		return pushDuplicate
	case ext >= j.next+window:
		return pushRestart
	}
	j.strayValid = false
	s := &j.slots[ext%window]
	if s.full {
		return pushDuplicate // the only full slot for ext is ext's own
	}
	s.ext, s.samples, s.arrival, s.full = ext, samples, now, true
	s.payload = append(s.payload[:0], payload...)
	j.held++
	return pushOK
}

// pop returns the next thing to decode, or actNone when the next frame is
// still worth waiting for (or nothing is held). force gives up on missing
// frames at once (the speaker paused or is going away). payload is only
// valid until the next push.
func (j *jitter) pop(now time.Time, force bool) (act action, payload []byte, samples int) {
	if j.held == 0 {
		return actNone, nil, 0
	}
	if !j.raised.IsZero() && j.depth > j.base && now.Sub(j.raised) >= depthDecay {
		j.depth = max(j.depth-depthStep, j.base)
		j.raised = now
	}
	if s := &j.slots[j.next%window]; s.full {
		s.full = false
		j.held--
		j.next++
		return actPlay, s.payload, s.samples
	}
	if !force && j.held < maxHeld && now.Sub(j.oldest()) < j.depth {
		return actNone, nil, 0
	}
	j.concealed[j.next%window] = j.next
	j.next++
	if s := &j.slots[j.next%window]; s.full {
		return actFEC, s.payload, s.samples
	}
	return actPLC, nil, 0
}

// oldest is the arrival time of the longest-waiting held packet.
func (j *jitter) oldest() time.Time {
	var t time.Time
	for i := range j.slots {
		if s := &j.slots[i]; s.full && (t.IsZero() || s.arrival.Before(t)) {
			t = s.arrival
		}
	}
	return t
}

// deadline is when pop would next give up on a missing frame, or zero.
func (j *jitter) deadline() time.Time {
	if j.held == 0 || j.slots[j.next%window].full {
		return time.Time{}
	}
	return j.oldest().Add(j.depth)
}

// clear drops everything held; the next push restarts the sequence.
func (j *jitter) clear() {
	for i := range j.slots {
		j.slots[i].full = false
	}
	j.held = 0
	j.started = false
}
