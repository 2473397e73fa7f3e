package discordtest

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	apiPrefix = regexp.MustCompile(`^/api(/v\d+)?/`)
	filesPart = regexp.MustCompile(`^files\[(\d+)\]$`)
)

// SetRESTLatency makes every REST request wait d before it is served (0:
// none), as a slow or struggling Discord would; the gateway is unaffected.
func (s *Server) SetRESTLatency(d time.Duration) {
	s.mu.Lock()
	s.slow = d
	s.mu.Unlock()
}

// ServeHTTP routes the REST API and the gateway's WebSocket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/gateway-ws" || r.URL.Path == "/gateway-ws/" {
		s.checkGatewayVersion(r)
		s.serveGateway(w, r)
		return
	}
	if s.opts.Spec != nil {
		s.serveChecked(w, r)
		return
	}
	s.serveREST(w, r)
}

// serveREST serves the REST API.
func (s *Server) serveREST(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	slow := s.slow
	s.mu.Unlock()
	if slow > 0 {
		t := time.NewTimer(slow)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client gave up
			t.Stop()
			return
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
	loc := apiPrefix.FindStringIndex(r.URL.Path)
	if loc == nil {
		writeError(w, errNotFound())
		return
	}
	seg := strings.Split(strings.Trim(r.URL.Path[loc[1]:], "/"), "/")
	m := r.Method
	// Interaction and webhook-token routes authenticate by their token.
	switch {
	case len(seg) == 4 && seg[0] == "interactions" && seg[3] == "callback" && m == http.MethodPost:
		if s.take(w, "interaction:"+seg[1], 50, time.Second) {
			s.interactionCallback(w, r, seg[1], seg[2])
		}
		return
	case len(seg) >= 3 && seg[0] == "webhooks":
		if s.take(w, "webhook:"+seg[2], s.opts.WebhookLimit, s.opts.WebhookWindow) {
			s.webhook(w, r, seg[1:])
		}
		return
	}
	// Rate-limit headers come on every answer, a 401 included.
	route := m + " " + routeKey(seg)
	if !s.take(w, route, 50, time.Second) {
		return
	}
	if !s.checkAuth(r) {
		writeError(w, errUnauthorized())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case route == "GET gateway":
		writeJSON(w, 200, map[string]string{"url": s.GatewayURL()})
	case route == "GET gateway/bot":
		writeJSON(w, 200, map[string]any{"url": s.GatewayURL(), "shards": 1, "session_start_limit": map[string]int{
			"total": 1000, "remaining": 999, "reset_after": 86400000, "max_concurrency": 1}})
	case route == "GET users/@me":
		me := s.userJSONLocked(s.st.bot.ID)
		me["mfa_enabled"], me["locale"], me["verified"], me["email"] = false, "en-US", true, nil
		writeJSON(w, 200, me)
	case route == "GET users/:id":
		if _, ok := s.st.users[seg[1]]; !ok {
			writeError(w, errUnknown("User", 10013))
			return
		}
		writeJSON(w, 200, s.userJSONLocked(seg[1]))
	case route == "GET applications/@me":
		writeJSON(w, 200, s.applicationJSONLocked())
	case seg[0] == "applications" && (strings.HasSuffix(routeKey(seg), "commands") || strings.HasSuffix(routeKey(seg), "commands/:id")):
		s.commandsLocked(w, r, seg)
	case seg[0] == "guilds":
		s.guildLocked(w, r, seg)
	case seg[0] == "channels" && len(seg) >= 3 && seg[2] == "messages":
		s.channelMessagesLocked(w, r, seg)
	case route == "GET channels/:id":
		c := s.st.channels[seg[1]]
		if c == nil {
			writeError(w, errUnknown("Channel", 10003))
			return
		}
		writeJSON(w, 200, s.channelJSONLocked(c))
	default:
		writeError(w, errNotFound())
	}
}

// applicationJSONLocked is the bot's application as /applications/@me
// shows it to its owner (a user the emulator invents; no team).
func (s *Server) applicationJSONLocked() map[string]any {
	owner := map[string]any{"id": ownerID, "username": "livecord-owner", "discriminator": "0",
		"global_name": nil, "avatar": nil, "public_flags": 0, "flags": 0, "primary_guild": nil}
	return map[string]any{
		"id": s.st.bot.ID, "name": s.st.bot.Username, "icon": nil, "description": "", "type": nil,
		"bot_public": false, "bot_require_code_grant": false, "flags": 0, "flags_new": "0",
		"verify_key": verifyKey, "redirect_uris": []string{}, "interactions_endpoint_url": nil,
		"role_connections_verification_url": nil, "owner": owner, "team": nil,
		"approximate_guild_count": len(s.st.guilds), "approximate_user_install_count": 0,
		"approximate_user_authorization_count": 0, "explicit_content_filter": 0,
		"eligible_oauth2_scopes": []string{"bot", "applications.commands"}, "tags": []string{},
		"bot": s.userJSONLocked(s.st.bot.ID), "integration_types_config": map[string]any{"0": map[string]any{}},
	}
}

// ownerID and verifyKey are fixed: nothing the bot does depends on them.
const (
	ownerID   = "100000000000000001"
	verifyKey = "9a4c1a7a0c5c1a86e7d4a1b9f3e2c6d8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
)

// routeKey replaces IDs in a path with ":id" so rate-limit buckets and the
// router see one route.
func routeKey(seg []string) string {
	out := make([]string, len(seg))
	for i, p := range seg {
		if _, err := strconv.ParseUint(p, 10, 64); err == nil {
			p = ":id"
		}
		out[i] = p
	}
	return strings.Join(out, "/")
}

func (s *Server) checkAuth(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	return strings.HasPrefix(h, "Bot ") && s.checkToken(h)
}

// commandsLocked serves applications/{app}[/guilds/{g}]/commands[/{id}].
func (s *Server) commandsLocked(w http.ResponseWriter, r *http.Request, seg []string) {
	if seg[1] != s.st.bot.ID {
		writeError(w, &apiError{status: 403, Message: "Missing Access", Code: 50001})
		return
	}
	guild, rest := "", seg[2:]
	if len(rest) >= 3 && rest[0] == "guilds" {
		guild, rest = rest[1], rest[2:]
		if s.st.guilds[guild] == nil {
			writeError(w, errUnknown("Guild", 10004))
			return
		}
	}
	raws := func(list []Command) []json.RawMessage {
		out := make([]json.RawMessage, 0, len(list))
		for _, c := range list {
			out = append(out, c.Raw)
		}
		return out
	}
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		writeJSON(w, 200, raws(s.st.commands[guild]))
	case len(rest) == 1 && r.Method == http.MethodPut:
		var defs []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&defs); err != nil {
			writeError(w, errFormBody("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"))
			return
		}
		var list []Command
		for i, d := range defs {
			c, e := s.makeCommandLocked(guild, d, i)
			if e != nil {
				writeError(w, e)
				return
			}
			list = append(list, c)
		}
		s.st.commands[guild] = list
		s.st.overwrite++
		s.notifyLocked()
		writeJSON(w, 200, raws(list))
	case len(rest) == 1 && r.Method == http.MethodPost:
		var d json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			writeError(w, errFormBody("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"))
			return
		}
		c, e := s.makeCommandLocked(guild, d, 0)
		if e != nil {
			writeError(w, e)
			return
		}
		list := s.st.commands[guild][:0:0]
		for _, old := range s.st.commands[guild] {
			if old.Name != c.Name {
				list = append(list, old)
			}
		}
		s.st.commands[guild] = append(list, c)
		s.notifyLocked()
		writeJSON(w, 201, c.Raw)
	case len(rest) == 2 && r.Method == http.MethodDelete:
		list := s.st.commands[guild][:0:0]
		found := false
		for _, old := range s.st.commands[guild] {
			if old.ID == rest[1] {
				found = true
				continue
			}
			list = append(list, old)
		}
		if !found {
			writeError(w, errUnknown("application command", 10063))
			return
		}
		s.st.commands[guild] = list
		s.notifyLocked()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, &apiError{status: 405, Message: "405: Method Not Allowed", Code: 0})
	}
}

var commandName = regexp.MustCompile(`^[-_\p{L}\p{N}]{1,32}$`)

func (s *Server) makeCommandLocked(guild string, raw json.RawMessage, i int) (Command, *apiError) {
	var def commandDef
	var m map[string]any
	if json.Unmarshal(raw, &def) != nil || json.Unmarshal(raw, &m) != nil {
		return Command{}, errFormBody(strconv.Itoa(i), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
	}
	if def.Type == 0 {
		def.Type = 1
	}
	if !commandName.MatchString(def.Name) || strings.ToLower(def.Name) != def.Name {
		return Command{}, errFormBody(strconv.Itoa(i)+".name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
	}
	if def.Type == 1 && (def.Description == "" || utf8.RuneCountInString(def.Description) > 100) {
		return Command{}, errFormBody(strconv.Itoa(i)+".description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
	}
	for j, o := range def.Options {
		if o.MaxLength != nil && (*o.MaxLength < 1 || *o.MaxLength > 6000) {
			return Command{}, errFormBody(strconv.Itoa(i)+".options."+strconv.Itoa(j)+".max_length", "NUMBER_TYPE_MAX", "int value should be less than or equal to 6000.")
		}
	}
	id := ""
	for _, old := range s.st.commands[guild] {
		if old.Name == def.Name {
			id = old.ID
		}
	}
	if id == "" {
		id = s.st.id()
	}
	// Discord stores what it understood, not the bot's JSON: absent and
	// null optional fields (options, choices, channel_types, ...) are
	// left out of what it returns.
	dropNulls(m)
	m["id"], m["application_id"], m["version"], m["type"] = id, s.st.bot.ID, s.st.id(), def.Type
	if guild != "" {
		m["guild_id"] = guild
	}
	if _, ok := m["default_member_permissions"]; !ok {
		m["default_member_permissions"] = nil
	}
	if _, ok := m["nsfw"]; !ok {
		m["nsfw"] = false
	}
	out, _ := json.Marshal(m)
	return Command{ID: id, GuildID: guild, Name: def.Name, Raw: out, def: def}, nil
}

// dropNulls removes null members of a command definition and of its
// options, recursively, except the ones Discord returns as null.
func dropNulls(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			if k != "default_member_permissions" && k != "name_localizations" && k != "description_localizations" {
				delete(m, k)
			}
		case []any:
			for _, e := range v {
				if o, ok := e.(map[string]any); ok {
					dropNulls(o)
				}
			}
		}
	}
}

// guildLocked serves guilds/{g}/...
func (s *Server) guildLocked(w http.ResponseWriter, r *http.Request, seg []string) {
	if len(seg) < 2 || r.Method != http.MethodGet {
		writeError(w, errNotFound())
		return
	}
	g := s.st.guilds[seg[1]]
	if g == nil {
		writeError(w, errUnknown("Guild", 10004))
		return
	}
	rest := seg[2:]
	switch {
	case len(rest) == 0:
		writeJSON(w, 200, s.guildJSONLocked(g))
	case len(rest) == 1 && rest[0] == "channels":
		out := []map[string]any{}
		for _, id := range g.channels {
			out = append(out, s.channelJSONLocked(s.st.channels[id]))
		}
		writeJSON(w, 200, out)
	case len(rest) == 1 && rest[0] == "roles":
		writeJSON(w, 200, s.rolesJSONLocked(g))
	case len(rest) == 2 && rest[0] == "members":
		if _, ok := g.members[rest[1]]; !ok {
			writeError(w, errUnknown("Member", 10007))
			return
		}
		writeJSON(w, 200, s.memberJSONLocked(g, rest[1]))
	case len(rest) == 2 && rest[0] == "voice-states":
		uid := rest[1]
		if uid == "@me" {
			uid = s.st.bot.ID
		}
		if g.voice[uid] == nil {
			writeError(w, errUnknown("Voice State", 10065))
			return
		}
		writeJSON(w, 200, s.voiceStateLocked(g, uid))
	default:
		writeError(w, errNotFound())
	}
}

// messagePayload is a message body (JSON, or multipart with payload_json and
// files[n]) with the keys it set.
type messagePayload struct {
	keys  map[string]json.RawMessage
	files map[int]File
}

func readMessagePayload(r *http.Request, limit int) (messagePayload, *apiError) {
	p := messagePayload{keys: map[string]json.RawMessage{}, files: map[int]File{}}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := io.LimitReader(r.Body, 64<<20)
	if mt != "multipart/form-data" {
		if err := json.NewDecoder(body).Decode(&p.keys); err != nil {
			return p, &apiError{status: 400, Message: "400: Bad Request", Code: 0}
		}
		return p, nil
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return p, &apiError{status: 400, Message: "400: Bad Request", Code: 0}
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return p, &apiError{status: 400, Message: "400: Bad Request", Code: 0}
		}
		name := part.FormName()
		switch {
		case name == "payload_json":
			if err := json.Unmarshal(data, &p.keys); err != nil {
				return p, errFormBody("payload_json", "JSON_TYPE_CONVERT", "Invalid JSON")
			}
		case filesPart.MatchString(name):
			n, _ := strconv.Atoi(filesPart.FindStringSubmatch(name)[1])
			if len(data) > limit {
				return p, &apiError{status: 413, Message: "Request entity too large", Code: 40005}
			}
			p.files[n] = File{Name: part.FileName(), ContentType: part.Header.Get("Content-Type"), Data: data}
		}
	}
	return p, nil
}

// applyLocked applies a payload to m (a new message or an edit).
func (s *Server) applyLocked(m *Message, p messagePayload, isNew bool) *apiError {
	if raw, ok := p.keys["content"]; ok {
		var c *string
		if err := json.Unmarshal(raw, &c); err != nil {
			return errFormBody("content", "BASE_TYPE_BAD_TYPE", "Must be a string.")
		}
		if c != nil {
			if utf8.RuneCountInString(*c) > 2000 {
				return errFormBody("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
			}
			m.Content = *c
		} else {
			m.Content = ""
		}
	}
	if raw, ok := p.keys["allowed_mentions"]; ok && string(raw) != "null" {
		m.AllowedMentions = append(json.RawMessage(nil), raw...)
	}
	if raw, ok := p.keys["flags"]; ok {
		var f int
		_ = json.Unmarshal(raw, &f)
		// Only new messages choose ephemerality; edits may toggle only
		// SUPPRESS_EMBEDS (1<<2) and SUPPRESS_NOTIFICATIONS (1<<12).
		settable := 1<<2 | 1<<12
		if isNew {
			settable |= FlagEphemeral
		}
		m.Flags = m.Flags&^settable | f&settable
	}
	if raw, ok := p.keys["embeds"]; ok {
		var e []json.RawMessage
		_ = json.Unmarshal(raw, &e)
		m.Embeds = e
	}
	keep := m.Attachments
	if raw, ok := p.keys["attachments"]; ok {
		var list []struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.Unmarshal(raw, &list)
		keep = nil
		for _, a := range m.Attachments {
			for _, l := range list {
				if strings.Trim(string(l.ID), `"`) == a.ID {
					keep = append(keep, a)
				}
			}
		}
	}
	m.Attachments = append([]File(nil), keep...)
	for i := 0; i < len(p.files)+16; i++ {
		f, ok := p.files[i]
		if !ok {
			continue
		}
		f.ID = s.st.id()
		if f.ContentType == "" {
			f.ContentType = "application/octet-stream"
		}
		m.Attachments = append(m.Attachments, f)
	}
	if len(p.files) > 10 {
		return errFormBody("files", "MAX_FILES", "Maximum number of attachments is 10.")
	}
	if m.Content == "" && len(m.Embeds) == 0 && len(m.Attachments) == 0 && m.Flags&FlagLoading == 0 {
		return &apiError{status: 400, Message: "Cannot send an empty message", Code: 50006}
	}
	m.At = time.Now()
	return nil
}

func messageJSON(m *Message, channelID string, ia *Interaction, bot map[string]any) map[string]any {
	atts := []map[string]any{}
	for _, a := range m.Attachments {
		atts = append(atts, map[string]any{"id": a.ID, "filename": a.Name, "size": len(a.Data),
			"content_type": a.ContentType, "url": "https://cdn.discordapp.invalid/attachments/" + a.ID + "/" + a.Name,
			"proxy_url": "https://media.discordapp.invalid/attachments/" + a.ID + "/" + a.Name})
	}
	embeds := m.Embeds
	if embeds == nil {
		embeds = []json.RawMessage{}
	}
	return map[string]any{
		"id": m.ID, "type": 20, "channel_id": channelID, "content": m.Content, "author": bot,
		"attachments": atts, "embeds": embeds, "mentions": []any{}, "mention_roles": []any{},
		"mention_everyone": false, "pinned": false, "tts": false, "flags": m.Flags,
		"timestamp": m.At.UTC().Format(time.RFC3339Nano), "edited_timestamp": nil, "components": []any{},
		"webhook_id": ia.s.st.bot.ID, "application_id": ia.s.st.bot.ID,
		"interaction_metadata": map[string]any{"id": ia.ID, "type": ia.Type, "user": ia.s.userJSONLocked(ia.UserID),
			"authorizing_integration_owners": ia.owners},
	}
}

func (s *Server) interactionCallback(w http.ResponseWriter, r *http.Request, id, token string) {
	arrived := time.Now()
	s.mu.Lock()
	ia := s.st.ias[id]
	s.mu.Unlock()
	if ia == nil || ia.Token != token || arrived.Sub(ia.Dispatched) > s.opts.CallbackWindow {
		writeError(w, errUnknown("interaction", 10062))
		return
	}
	p, e := readMessagePayload(r, ia.limit)
	if e != nil {
		writeError(w, e)
		return
	}
	var cb struct {
		Type int             `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	whole, _ := json.Marshal(p.keys)
	_ = json.Unmarshal(whole, &cb)
	data := messagePayload{keys: map[string]json.RawMessage{}, files: p.files}
	if len(cb.Data) > 0 {
		_ = json.Unmarshal(cb.Data, &data.keys)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ia.callback != nil {
		writeError(w, &apiError{status: 400, Message: "Interaction has already been acknowledged.", Code: 40060})
		return
	}
	res := Callback{Type: cb.Type, Latency: arrived.Sub(ia.Dispatched)}
	switch {
	case cb.Type == CallbackAutocomplete && ia.Type == InteractionAutocomplete:
		var d struct {
			Choices []Choice `json:"choices"`
		}
		_ = json.Unmarshal(cb.Data, &d)
		if len(d.Choices) > 25 {
			writeError(w, errFormBody("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."))
			return
		}
		res.Choices = d.Choices
	case (cb.Type == CallbackMessage || cb.Type == CallbackDeferred) && ia.Type == InteractionCommand:
		m := &Message{ID: s.st.id()}
		if cb.Type == CallbackDeferred {
			m.Flags = FlagLoading
		}
		if e := s.applyLocked(m, data, true); e != nil {
			writeError(w, e)
			return
		}
		ia.original = m
		ia.history = append(ia.history, cloneMessage(*m))
		res.Message = cloneMessage(*m)
	default:
		writeError(w, errFormBody("type", "BASE_TYPE_CHOICES", "Value must be one of valid interaction callback types."))
		return
	}
	ia.callback = &res
	s.notifyLocked()
	if r.URL.Query().Get("with_response") == "true" {
		resp := map[string]any{"interaction": map[string]any{"id": ia.ID, "type": ia.Type,
			"activity_instance_id": nil, "response_message_id": nil, "response_message_loading": cb.Type == CallbackDeferred,
			"response_message_ephemeral": res.Message.Flags&FlagEphemeral != 0}}
		if ia.original != nil {
			resp["resource"] = map[string]any{"type": cb.Type, "message": messageJSON(ia.original, ia.ChannelID, ia, s.userJSONLocked(s.st.bot.ID))}
		}
		writeJSON(w, 200, resp)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhook serves webhooks/{app}/{token}[/messages/{id}] for interactions.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request, seg []string) {
	s.mu.Lock()
	ia := s.st.byToken[seg[1]]
	s.mu.Unlock()
	if ia == nil || seg[0] != s.AppID() {
		writeError(w, errUnknown("Webhook", 10015))
		return
	}
	if time.Since(ia.Dispatched) > s.opts.TokenLifetime {
		writeError(w, &apiError{status: 401, Message: "Invalid Webhook Token", Code: 50027})
		return
	}
	var p messagePayload
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		var e *apiError
		if p, e = readMessagePayload(r, ia.limit); e != nil {
			writeError(w, e)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bot := s.userJSONLocked(s.st.bot.ID)
	if ia.callback == nil || ia.Type != InteractionCommand {
		writeError(w, errUnknown("Webhook", 10015))
		return
	}
	if len(seg) == 2 && r.Method == http.MethodPost {
		m := &Message{ID: s.st.id()}
		if e := s.applyLocked(m, p, true); e != nil {
			writeError(w, e)
			return
		}
		ia.followups = append(ia.followups, m)
		s.notifyLocked()
		if r.URL.Query().Get("wait") == "true" {
			writeJSON(w, 200, messageJSON(m, ia.ChannelID, ia, bot))
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if len(seg) != 4 || seg[2] != "messages" {
		writeError(w, errNotFound())
		return
	}
	var m *Message
	if seg[3] == "@original" {
		m = ia.original
	} else {
		for _, f := range ia.followups {
			if f.ID == seg[3] {
				m = f
			}
		}
	}
	if m == nil {
		writeError(w, errUnknown("Message", 10008))
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, 200, messageJSON(m, ia.ChannelID, ia, bot))
	case http.MethodPatch:
		edited := cloneMessage(*m)
		edited.Flags &^= FlagLoading
		if e := s.applyLocked(&edited, p, false); e != nil {
			writeError(w, e)
			return
		}
		*m = edited
		if m == ia.original {
			ia.history = append(ia.history, cloneMessage(edited))
		}
		s.notifyLocked()
		writeJSON(w, 200, messageJSON(m, ia.ChannelID, ia, bot))
	case http.MethodDelete:
		if m == ia.original {
			ia.original = nil
		} else {
			for i, f := range ia.followups {
				if f == m {
					ia.followups = append(ia.followups[:i], ia.followups[i+1:]...)
					break
				}
			}
		}
		s.notifyLocked()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, &apiError{status: 405, Message: "405: Method Not Allowed", Code: 0})
	}
}
