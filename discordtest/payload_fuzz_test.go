package discordtest

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
)

func multipartBody(payload string, file []byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="payload_json"`)
	p, _ := mw.CreatePart(h)
	p.Write([]byte(payload))
	h = textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="files[0]"; filename="reply.wav"`)
	h.Set("Content-Type", "audio/wav")
	p, _ = mw.CreatePart(h)
	p.Write(file)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// FuzzMessagePayload feeds arbitrary request bodies (JSON and multipart) to
// the emulator's message parser and applies them to a message.
func FuzzMessagePayload(f *testing.F) {
	ct, body := multipartBody(`{"content":"hi","allowed_mentions":{"parse":[]},"attachments":[{"id":0}]}`, []byte("RIFF"))
	f.Add(ct, body)
	f.Add("application/json", []byte(`{"content":"x","flags":64,"embeds":[{}]}`))
	f.Add("application/json", []byte(`{"content":null}`))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"files[99]\"\r\n\r\nzz\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req, err := http.NewRequest(http.MethodPost, "http://x/", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", contentType)
		p, e := readMessagePayload(req, 1<<20)
		if e != nil {
			return
		}
		s := &Server{}
		s.st.init("bot")
		m := &Message{ID: "1", Attachments: []File{{ID: "5", Name: "old"}}}
		_ = s.applyLocked(m, p, true)
		if len([]rune(m.Content)) > 2000 {
			t.Fatalf("accepted %d characters", len([]rune(m.Content)))
		}
		_ = m.Pings()
	})
}
