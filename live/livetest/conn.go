package livetest

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/livecord/livecord/internal/tasks"
	"github.com/livecord/livecord/live/internal/wire"
)

// emuConn is one client connection: a reader (run) and a generator that
// answers turns in order.
type emuConn struct {
	srv     *Server
	ws      *websocket.Conn
	info    ConnInfo
	authErr *rejection

	ctx      context.Context
	cancel   context.CancelFunc
	tasks    tasks.Group // generator, lifetime and goAway timers
	closeOne sync.Once
	// turnMu orders a reply's messages against the start of speech that
	// interrupts it: the generator checks for cancellation and sends under
	// it, the reader sends ACTIVITY_START and cancels under it.
	turnMu sync.Mutex

	// Fixed after setup.
	model      string
	modality   string
	outputTx   bool
	resumption bool
	resumed    bool
	sess       *session
	// seeding: the setup asked for initial history in clientContent and
	// no turn has started yet (the reader's own).
	seeding    bool
	inputTx    bool            // inputAudioTranscription
	manual     bool            // automatic activity detection disabled
	interrupts bool            // START_OF_ACTIVITY_INTERRUPTS
	vad        *vad            // used by the reader only
	audioIn    time.Duration   // audio time received; reader only
	functions  map[string]bool // declared function names
	search     bool            // googleSearch offered

	toolMu         sync.Mutex
	pendingCalls   map[string]string // call id → name, awaiting a response
	cancelledCalls map[string]bool
	toolResp       chan FunctionResult
}

// job is one turn waiting for or being generated.
type job struct {
	prompt string
	images []Image
	spoken bool   // the turn is speech that ended (realtime audio)
	heard  string // its transcription ("" if not recognised)
	// context is clientContent text sent without turnComplete before the
	// speech (text turns get it prepended to the prompt instead).
	context   string
	endOffset time.Duration // audio time at the end of the speech
	ctx       context.Context
	cancel    context.CancelFunc
}

const deadlineReason = "Deadline expired before operation could complete."

func (c *emuConn) run() {
	defer func() {
		c.cancel()
		c.tasks.Close()
		c.ws.CloseNow()
	}()
	_, data, err := c.ws.Read(c.ctx)
	if err != nil {
		return
	}
	if !c.setup(data) {
		return
	}
	if lt := c.srv.opts.Lifetime; lt > 0 {
		notice := min(lt/10, 50*time.Second)
		c.tasks.Go(func() {
			t := time.NewTimer(lt - notice)
			defer t.Stop()
			select {
			case <-t.C:
				c.goAway(notice)
			case <-c.ctx.Done():
			}
		})
	}
	jobs := make(chan *job, 64)
	c.tasks.Go(func() { c.generate(jobs) })
	defer close(jobs)
	var open []*job // turns not yet known to be finished
	pending := ""   // clientContent text without turnComplete
	var pendingImages []Image
	interrupt := func() {
		for _, j := range open {
			j.cancel()
		}
		open = open[:0]
	}
	enqueue := func(j *job) bool {
		j.ctx, j.cancel = context.WithCancel(c.ctx)
		open = append(open, j)
		select {
		case jobs <- j:
			return true
		case <-c.ctx.Done():
			j.cancel()
			return false
		}
	}
	ok := true
	emit := func(ev vadEvent, utt []int16) {
		switch ev {
		case vadStart:
			// Under turnMu, the reply being generated sends nothing more
			// after the start of speech but its interruption.
			c.turnMu.Lock()
			if !c.manual {
				c.send(map[string]any{"voiceActivity": map[string]string{"type": "ACTIVITY_START", "audioOffset": formatDuration(c.audioIn)}})
			}
			if c.interrupts {
				interrupt()
			}
			c.turnMu.Unlock()
		case vadEnd:
			text := c.srv.recognise(utt, c.vad.rate)
			ok = ok && enqueue(&job{prompt: text, spoken: true, heard: text, context: pending, endOffset: c.audioIn})
			pending = ""
		}
	}
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		norm, top, err := parseClientMessage(data, c.info.APIVersion)
		if err != nil {
			c.closeWith(1007, err.Error())
			return
		}
		prompt, isTurn := "", false
		var images []Image
		switch top {
		case "setup":
			c.closeWith(1007, "Request contains an invalid argument.")
			return
		case "clientContent":
			cc, _ := norm[top].(map[string]any)
			complete, _ := cc["turnComplete"].(bool)
			if !complete && c.seeding {
				if reason := c.seed(cc["turns"]); reason != "" {
					c.closeWith(1007, reason)
					return
				}
				continue
			}
			if hasModelTurn(cc["turns"]) {
				// History (model turns) only as initial history, announced
				// in the setup's historyConfig: 1007, as the service does.
				c.closeWith(1007, "Request contains an invalid argument.")
				return
			}
			c.seeding = false
			pending += contentText(cc["turns"])
			ims, reason := contentImages(cc["turns"])
			if reason != "" {
				c.closeWith(1007, reason)
				return
			}
			pendingImages = append(pendingImages, ims...)
			if complete {
				prompt, isTurn, pending = pending, true, ""
				images, pendingImages = pendingImages, nil
			}
		case "toolResponse":
			tr, _ := norm[top].(map[string]any)
			if reason := c.toolResponses(tr); reason != "" {
				c.closeWith(1007, reason)
				return
			}
		case "realtimeInput":
			if c.seeding {
				// The service waits for the initial history, which ends with
				// a clientContent carrying turnComplete, before realtime input.
				c.closeWith(1007, "Request contains an invalid argument.")
				return
			}
			ri, _ := norm[top].(map[string]any)
			if t, ok := ri["text"].(string); ok && t != "" {
				prompt, isTurn = t, true
			}
			if reason := c.realtime(ri, emit); reason != "" {
				c.closeWith(1007, reason)
				return
			}
			if !ok {
				return
			}
		}
		if !isTurn {
			continue
		}
		// A new turn interrupts whatever is still being generated.
		interrupt()
		if !enqueue(&job{prompt: prompt, images: images}) {
			return
		}
	}
}

// hasModelTurn reports whether clientContent turns hold a "model" turn.
func hasModelTurn(turns any) bool {
	arr, _ := turns.([]any)
	for _, t := range arr {
		if tm, _ := t.(map[string]any); tm["role"] == "model" {
			return true
		}
	}
	return false
}

// seed takes initial history (clientContent before the first turn, with
// historyConfig.initialHistoryInClientContent): every turn needs the role
// user or model and text. The turns join the session's context, user
// then model making one Exchange, and are recorded for Seeded. It returns
// the close reason of a malformed history ("" when accepted).
func (c *emuConn) seed(turns any) string {
	arr, _ := turns.([]any)
	if len(arr) == 0 {
		return "Request contains an invalid argument."
	}
	var got []SeedTurn
	for _, t := range arr {
		tm, _ := t.(map[string]any)
		role, _ := tm["role"].(string)
		if role != "user" && role != "model" {
			return "Request contains an invalid argument."
		}
		got = append(got, SeedTurn{Role: role, Text: contentText([]any{t})})
	}
	c.sess.mu.Lock()
	for _, t := range got {
		n := len(c.sess.history)
		switch {
		case t.Role == "user":
			c.sess.history = append(c.sess.history, Exchange{Prompt: t.Text})
		case n > 0 && c.sess.history[n-1].Transcript == "":
			c.sess.history[n-1].Transcript = t.Text
		default:
			c.sess.history = append(c.sess.history, Exchange{Transcript: t.Text})
		}
	}
	c.sess.mu.Unlock()
	s := c.srv
	s.mu.Lock()
	i := len(s.seeded) - 1
	if i < 0 || s.seeded[i].conn != c {
		s.seeded = append(s.seeded, seeding{conn: c})
		i++
	}
	s.seeded[i].turns = append(s.seeded[i].turns, got...)
	s.mu.Unlock()
	return ""
}

// realtime applies realtimeInput audio and activity signals, reporting
// speech starts and ends through emit; a non-empty result is the 1007
// reason for a message the service would reject.
func (c *emuConn) realtime(ri map[string]any, emit func(vadEvent, []int16)) string {
	const invalid = "Request contains an invalid argument."
	_, start := ri["activityStart"]
	_, end := ri["activityEnd"]
	streamEnd, _ := ri["audioStreamEnd"].(bool)
	if (start || end) && !c.manual || streamEnd && c.manual {
		// activityStart/End only without automatic activity detection,
		// audioStreamEnd only with it (proto comments).
		return invalid
	}
	if start {
		c.vad.speaking, c.vad.utt = true, nil
		emit(vadStart, nil)
	}
	a, ok := ri["audio"].(map[string]any)
	if chunks, _ := ri["mediaChunks"].([]any); !ok && len(chunks) > 0 {
		// Deprecated form (the JS SDK's media:): only the first chunk
		// counts, as on the service; non-audio media is ignored.
		if m, _ := chunks[0].(map[string]any); m != nil {
			if mime, _ := m["mimeType"].(string); strings.HasPrefix(mime, "audio/") {
				a, ok = m, true
			}
		}
	}
	if ok {
		mime, _ := a["mimeType"].(string)
		rate := pcmRate(mime)
		if rate == 0 {
			return invalid
		}
		data, _ := a["data"].(string)
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			b, _ = base64.URLEncoding.DecodeString(data) // validated already
		}
		pcm := make([]int16, len(b)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		c.audioIn += time.Duration(len(pcm)) * time.Second / time.Duration(rate)
		if c.manual {
			if c.vad.speaking && c.vad.duration(len(c.vad.utt)) < maxUtterance {
				c.vad.rate = rate
				c.vad.utt = append(c.vad.utt, pcm...)
			}
		} else {
			c.vad.feed(pcm, rate, emit)
		}
	}
	if end || streamEnd {
		c.vad.end(emit)
	}
	return ""
}

// contentText joins the text parts of clientContent turns.
func contentText(turns any) string {
	var b strings.Builder
	arr, _ := turns.([]any)
	for _, t := range arr {
		tm, _ := t.(map[string]any)
		parts, _ := tm["parts"].([]any)
		for _, p := range parts {
			pm, _ := p.(map[string]any)
			if s, ok := pm["text"].(string); ok {
				b.WriteString(s)
			}
		}
	}
	return b.String()
}

// setup validates the first frame and answers setupComplete; false means
// the connection was closed.
func (c *emuConn) setup(data []byte) bool {
	s := c.srv
	norm, top, err := parseClientMessage(data, c.info.APIVersion)
	if err != nil {
		c.closeWith(1007, err.Error())
		return false
	}
	if top != "setup" {
		c.closeWith(1007, "Request contains an invalid argument.")
		return false
	}
	if c.authErr != nil {
		c.closeWith(c.authErr.code, c.authErr.reason)
		return false
	}
	var st wire.Setup
	b, _ := json.Marshal(norm["setup"])
	if err := json.Unmarshal(b, &st); err != nil {
		c.closeWith(1007, "Request contains an invalid argument.")
		return false
	}
	s.mu.Lock()
	var rej *rejection
	if len(s.rejects) > 0 {
		rej = &s.rejects[0]
		s.rejects = s.rejects[1:]
	}
	if st.SessionResumption != nil && st.SessionResumption.Handle != "" {
		s.seen = append(s.seen, st.SessionResumption.Handle)
	}
	s.mu.Unlock()
	if rej != nil && rej.stall {
		<-c.ctx.Done()
		return false
	}
	if rej != nil {
		c.closeWith(rej.code, rej.reason)
		return false
	}
	model, ok := strings.CutPrefix(st.Model, "models/")
	if !ok || model == "" {
		c.closeWith(1007, "Request contains an invalid argument.")
		return false
	}
	allowed, ok := s.opts.Models[model]
	if !ok {
		c.closeWith(1008, fmt.Sprintf("models/%s is not found for API version %s, or is not supported for bidiGenerateContent. Call ListModels to see the list of available models and their supported methods.", model, c.info.APIVersion))
		return false
	}
	c.modality = allowed
	if gc := st.GenerationConfig; gc != nil && len(gc.ResponseModalities) > 0 {
		if len(gc.ResponseModalities) > 1 {
			c.closeWith(1007, "Request contains an invalid argument.")
			return false
		}
		c.modality = gc.ResponseModalities[0]
	}
	if c.modality != allowed {
		if allowed == "AUDIO" {
			c.closeWith(1007, "Cannot extract voices from a non-audio request.")
		} else {
			c.closeWith(1007, "Request contains an invalid argument.")
		}
		return false
	}
	names, search, reason := checkTools(norm["setup"].(map[string]any))
	if reason != "" {
		c.closeWith(1007, reason)
		return false
	}
	c.functions, c.search = names, search
	c.pendingCalls, c.cancelledCalls = map[string]string{}, map[string]bool{}
	c.toolResp = make(chan FunctionResult, 64)
	c.model = model
	c.seeding = st.HistoryConfig != nil && st.HistoryConfig.InitialHistoryInClientContent
	c.outputTx = st.OutputAudioTranscription != nil
	c.inputTx = st.InputAudioTranscription != nil
	c.interrupts = true
	var aad *wire.AutomaticActivityDetection
	if ric := st.RealtimeInputConfig; ric != nil {
		aad = ric.AutomaticActivityDetection
		c.interrupts = ric.ActivityHandling != "NO_INTERRUPTION"
	}
	c.manual = aad != nil && aad.Disabled
	c.vad = newVAD(aad)
	c.resumption = st.SessionResumption != nil
	c.sess = &session{}
	if st.SessionResumption != nil && st.SessionResumption.Handle != "" {
		s.mu.Lock()
		sess, ok := s.sessions[st.SessionResumption.Handle]
		s.mu.Unlock()
		if ok {
			sess.mu.Lock()
			ok = !sess.expired
			sess.mu.Unlock()
		}
		if !ok {
			c.closeWith(1008, "BidiGenerateContent session not found")
			return false
		}
		c.sess, c.resumed = sess, true
	}
	setupJSON, _ := json.Marshal(norm["setup"])
	s.mu.Lock()
	s.lastSetup = setupJSON
	s.mu.Unlock()
	s.opts.Logger.Info("livetest: setup", "model", model, "modality", c.modality, "resumed", c.resumed, "path", c.info.Path)
	return c.send(wire.ServerMessage{SetupComplete: &emptyObject}) == nil
}

var emptyObject = json.RawMessage(`{}`)

// send writes one server message the way the service does: a binary frame
// of pretty-printed JSON.
func (c *emuConn) send(m any) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("livetest: encode: %w", err)
	}
	b = append(b, '\n')
	return c.ws.Write(c.ctx, websocket.MessageBinary, b)
}

// closeWith closes the connection once with code and a reason cut to 123
// bytes.
func (c *emuConn) closeWith(code int, reason string) {
	c.closeOne.Do(func() {
		c.srv.opts.Logger.Info("livetest: closing", "code", code, "reason", reason)
		c.ws.Close(websocket.StatusCode(code), truncate(reason))
		c.cancel()
	})
}

// goAway announces the end of the connection and closes it after timeLeft.
func (c *emuConn) goAway(timeLeft time.Duration) {
	if c.ctx.Err() != nil {
		return
	}
	if c.send(map[string]any{"goAway": map[string]string{"timeLeft": formatDuration(timeLeft)}}) != nil {
		return
	}
	c.tasks.Go(func() {
		t := time.NewTimer(timeLeft)
		defer t.Stop()
		select {
		case <-t.C:
			c.closeWith(1011, deadlineReason)
		case <-c.ctx.Done():
		}
	})
}

// generate answers jobs in order until jobs is closed or the connection ends.
func (c *emuConn) generate(jobs <-chan *job) {
	for j := range jobs {
		c.answer(j)
		j.cancel()
		if c.ctx.Err() != nil {
			// Drain so the reader never blocks on a dead connection.
			for j := range jobs {
				j.cancel()
			}
			return
		}
	}
}

// answer streams one reply, applying its fault.
func (c *emuConn) answer(j *job) {
	s := c.srv
	c.sess.mu.Lock()
	hist := append([]Exchange(nil), c.sess.history...)
	c.sess.mu.Unlock()
	if j.spoken {
		// The speech this turn answers ended: say so, and what was heard.
		if !c.manual && c.send(map[string]any{"voiceActivity": map[string]string{"type": "ACTIVITY_END", "audioOffset": formatDuration(j.endOffset)}}) != nil {
			return
		}
		if c.inputTx && j.heard != "" && c.send(map[string]any{"serverContent": map[string]any{"inputTranscription": map[string]string{"text": j.heard}}}) != nil {
			return
		}
	}
	req := Request{Prompt: j.prompt, History: hist, Model: c.model, Modality: c.modality, Resumed: c.resumed, Spoken: j.spoken, Context: j.context,
		Images: j.images, GoogleSearch: c.search}
	for name := range c.functions {
		req.Tools = append(req.Tools, name)
	}
	slices.Sort(req.Tools)
	r := s.nextReply(req)
	transcript, pcm := r.Transcript, r.PCM
	if len(r.ToolCalls) > 0 {
		results, ok := c.callTools(j, r.ToolCalls)
		if !ok {
			if c.ctx.Err() == nil {
				c.interrupted(j, "")
			}
			return
		}
		if transcript == "" && pcm == nil {
			transcript = toolTranscript(results)
		}
	}
	if transcript == "" && pcm == nil {
		pcm, transcript = Speak(j.prompt)
	} else if pcm == nil {
		pcm = Say(transcript)
	}
	if r.Duration > 0 {
		pcm = Loop(pcm, r.Duration)
	}
	chunk := r.ChunkBytes
	if chunk <= 0 {
		chunk = 11520
	}
	var audio []byte
	if c.modality == "AUDIO" {
		audio = make([]byte, 2*len(pcm))
		for i, v := range pcm {
			binary.LittleEndian.PutUint16(audio[2*i:], uint16(v))
		}
	}
	frags := fragments(transcript)
	if c.resumption {
		// While generating there is no resumable state.
		if c.send(map[string]any{"sessionResumptionUpdate": map[string]any{}}) != nil {
			return
		}
	}
	fault := r.Fault
	faultAt := func(i int) bool { return fault.Kind != FaultNone && fault.AfterChunks == i }
	nchunks := (len(audio) + chunk - 1) / chunk
	if c.modality == "TEXT" {
		nchunks = (len(frags) + 2) / 3
	}
	sentFrags, sentText := 0, strings.Builder{}
	pause := time.Duration(float64(time.Duration(chunk)*time.Second/48000) / s.opts.Speed)
	for i := 0; i < nchunks; i++ {
		if faultAt(i) && !c.fault(fault) {
			return
		}
		c.turnMu.Lock()
		if j.ctx.Err() != nil {
			c.turnMu.Unlock()
			c.interrupted(j, sentText.String())
			return
		}
		var sc map[string]any
		if c.modality == "TEXT" {
			end := min(sentFrags+3, len(frags))
			text := strings.Join(frags[sentFrags:end], "")
			sentFrags = end
			sentText.WriteString(text)
			sc = map[string]any{"modelTurn": map[string]any{"parts": []any{map[string]any{"text": text}}}}
		} else {
			lo, hi := i*chunk, min((i+1)*chunk, len(audio))
			sc = map[string]any{"modelTurn": map[string]any{"parts": []any{map[string]any{
				"inlineData": map[string]any{"mimeType": "audio/pcm;rate=24000", "data": audio[lo:hi]}}}}}
			// Transcript fragments in proportion to the audio sent so far.
			want := int(math.Ceil(float64(len(frags)) * float64(hi) / float64(len(audio))))
			if want > sentFrags {
				// Spoken so far; sent as transcription only if asked for.
				text := strings.Join(frags[sentFrags:want], "")
				sentFrags = want
				sentText.WriteString(text)
				if c.outputTx {
					sc["outputTranscription"] = map[string]any{"text": text}
				}
			}
		}
		err := c.send(map[string]any{"serverContent": sc})
		c.turnMu.Unlock()
		if err != nil {
			return
		}
		if !c.sleep(j.ctx, pause) {
			if c.ctx.Err() != nil {
				return
			}
			c.interrupted(j, sentText.String())
			return
		}
	}
	if fault.Kind != FaultNone && fault.AfterChunks >= nchunks && !c.fault(fault) {
		return
	}
	respTokens := max(1, len(pcm)*25/SampleRate) // audio is ~25 tokens/s
	mod := "AUDIO"
	if c.modality == "TEXT" {
		respTokens, mod = max(1, len(frags)), "TEXT"
	}
	promptTokens := 8 + len(strings.Fields(j.prompt))
	for _, e := range hist {
		promptTokens += len(strings.Fields(e.Prompt)) + len(strings.Fields(e.Transcript))
	}
	usage := wire.UsageMetadata{PromptTokenCount: promptTokens, ResponseTokenCount: respTokens,
		TotalTokenCount:       promptTokens + respTokens,
		PromptTokensDetails:   []wire.ModalityTokenCount{{Modality: "TEXT", TokenCount: promptTokens}},
		ResponseTokensDetails: []wire.ModalityTokenCount{{Modality: mod, TokenCount: respTokens}}}
	// The end of the reply is not cut by speech starting meanwhile: under
	// turnMu, it is either all sent or interrupted.
	c.turnMu.Lock()
	if j.ctx.Err() != nil {
		c.turnMu.Unlock()
		c.interrupted(j, sentText.String())
		return
	}
	err := func() error {
		defer c.turnMu.Unlock()
		if c.modality == "AUDIO" && sentFrags < len(frags) && c.outputTx {
			text := strings.Join(frags[sentFrags:], "")
			if err := c.send(map[string]any{"serverContent": map[string]any{"outputTranscription": map[string]any{"text": text}}}); err != nil {
				return err
			}
		}
		if g := r.Grounding; g != nil && c.search {
			if err := c.send(map[string]any{"serverContent": map[string]any{"groundingMetadata": groundingJSON(g)}}); err != nil {
				return err
			}
		}
		if err := c.send(map[string]any{"serverContent": map[string]any{"generationComplete": true}}); err != nil {
			return err
		}
		return c.send(map[string]any{"serverContent": map[string]any{"turnComplete": true}, "usageMetadata": usage})
	}()
	if err != nil {
		return
	}
	c.finish(j.prompt, transcript, false)
	if fault.Kind != FaultNone && fault.AfterChunks < 0 {
		c.fault(fault)
	}
}

// finish records the exchange and issues a fresh resumption handle.
func (c *emuConn) finish(prompt, transcript string, interrupted bool) {
	c.sess.mu.Lock()
	c.sess.history = append(c.sess.history, Exchange{Prompt: prompt, Transcript: transcript, Interrupted: interrupted})
	c.sess.mu.Unlock()
	if c.resumption {
		h := c.srv.newHandle(c.sess)
		c.send(map[string]any{"sessionResumptionUpdate": wire.SessionResumptionUpdate{NewHandle: h, Resumable: true}})
	}
}

// interrupted ends a turn cut short by a newer one: no generationComplete.
func (c *emuConn) interrupted(j *job, sent string) {
	if c.send(map[string]any{"serverContent": map[string]any{"interrupted": true}}) != nil {
		return
	}
	if c.send(map[string]any{"serverContent": map[string]any{"turnComplete": true}}) != nil {
		return
	}
	c.finish(j.prompt, sent, true)
}

// fault applies f; false means the turn must stop (the connection is gone
// or stalled).
func (c *emuConn) fault(f Fault) bool {
	switch f.Kind {
	case FaultClose:
		code, reason := f.Code, f.Reason
		if code == 0 {
			code, reason = 1011, "Internal error encountered."
		}
		c.closeWith(code, reason)
		return false
	case FaultDrop:
		c.ws.CloseNow()
		c.cancel()
		return false
	case FaultStall:
		<-c.ctx.Done()
		return false
	case FaultGoAway:
		tl := f.TimeLeft
		if tl <= 0 {
			tl = 100 * time.Millisecond
		}
		c.goAway(tl)
	}
	return true
}

// sleep waits d unless ctx ends first.
func (c *emuConn) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 || math.IsInf(c.srv.opts.Speed, 1) {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// fragments splits a transcript into word fragments that concatenate back
// to it exactly, spaces leading, as the service streams them.
func fragments(s string) []string {
	var out []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] == ' ' && s[i-1] != ' ' {
			out = append(out, s[start:i])
			start = i
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
