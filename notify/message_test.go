package notify_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/notify"
	"github.com/attrib-engine/attrib/schemas"
)

func TestDecisionOf(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	conf := confirmed(t, "req-1", "creator-1", "ANNA10", at)
	rej := rejected(t, "req-2", "creator-2", "Not a fit.", at)
	badID := conf
	badID.EventID = "../../etc/passwd"
	badPayload := conf
	badPayload.Payload = []byte(`{"code":5}`)
	tests := []struct {
		name    string
		env     schemas.Envelope
		want    notify.Decision
		wantOK  bool
		wantErr string
	}{
		{name: "confirmed", env: conf, wantOK: true, want: notify.Decision{
			EventID: conf.EventID, At: at, Confirmed: true, RequestID: "req-1", BrandID: brand, OfferID: "offer-1",
			CreatorID: "creator-1", Platform: "tiktok", Code: "ANNA10",
		}},
		{name: "rejected", env: rej, wantOK: true, want: notify.Decision{
			EventID: rej.EventID, At: at, RequestID: "req-2", BrandID: brand, OfferID: "offer-1",
			CreatorID: "creator-2", Reason: "Not a fit.",
		}},
		{name: "other type", env: offerPublished(t, at)},
		{name: "event id unusable as a name", env: badID, wantErr: "cannot name an email"},
		{name: "payload does not decode", env: badPayload, wantErr: "decode event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := notify.DecisionOf(tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != tc.wantOK || got != tc.want {
				t.Errorf("got %+v, %v, %v\nwant %+v, %v", got, ok, err, tc.want, tc.wantOK)
			}
		})
	}
}

func TestComposeAndFormat(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 30, 0, 0, time.FixedZone("MSK", 3*3600))
	to := mail.Address{Name: "Анна", Address: "anna@example.com"}
	from := mail.Address{Name: "Attrib", Address: "noreply@attrib.test"}
	long := strings.Repeat("Очень длинное название ", 20)
	tests := []struct {
		name        string
		d           notify.Decision
		offer       string
		subject     []string
		body        []string
		bodyMissing []string
	}{
		{
			name:    "confirmed",
			d:       notify.Decision{EventID: "e1", At: at, Confirmed: true, RequestID: "r1", Platform: "youtube", Code: "АННА10"},
			offer:   "Зима",
			subject: []string{"Brand confirmed", "АННА10"},
			body:    []string{"Hello, Анна!", "Your promo code: АННА10", `offer "Зима" on YouTube`, "Request r1"},
		},
		{
			name:        "rejected with a multi-line reason",
			d:           notify.Decision{EventID: "e2", At: at, RequestID: "r2", Reason: "Too few followers.\nTry again in a month."},
			offer:       "Зима",
			subject:     []string{"Brand declined", "Зима"},
			body:        []string{"has declined", "Too few followers.\nTry again in a month."},
			bodyMissing: []string{" on "},
		},
		{
			name:    "rejected without a reason, platform known",
			d:       notify.Decision{EventID: "e3", At: at, RequestID: "r3", Platform: "my_blog"},
			offer:   "Зима",
			subject: []string{"declined"},
			body:    []string{"did not give a reason", "on My Blog"},
		},
		{
			name:    "long offer name with a line break is cut in the subject",
			d:       notify.Decision{EventID: "e4", At: at, RequestID: "r4"},
			offer:   "Evil\r\nBcc: victim@example.com " + long,
			subject: []string{"Evil Bcc: victim@example.com", "…"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := notify.Compose(tc.d, to, tc.offer, "Brand")
			raw := m.Format(from)
			if !bytes.Equal(raw, m.Format(from)) {
				t.Error("Format is not deterministic")
			}
			p := parseMessage(t, raw)
			if got := p.header.Get("Message-ID"); got != "<"+tc.d.EventID+"@attrib>" {
				t.Errorf("Message-ID %q", got)
			}
			if got, err := p.header.Date(); err != nil || !got.Equal(at) {
				t.Errorf("Date %v (%v), want %v", got, err, at)
			}
			if p.header.Get("Bcc") != "" || len(p.header["Bcc"]) > 0 {
				t.Errorf("a name injected a header: %v", p.header)
			}
			if got := p.header.Get("Content-Type"); got != `text/plain; charset="utf-8"` {
				t.Errorf("Content-Type %q", got)
			}
			for _, s := range tc.subject {
				if !strings.Contains(p.subject, s) {
					t.Errorf("subject %q lacks %q", p.subject, s)
				}
			}
			if n := len([]rune(p.subject)); n > 200 {
				t.Errorf("subject is %d runes long", n)
			}
			for _, s := range tc.body {
				if !strings.Contains(p.body, s) {
					t.Errorf("body lacks %q:\n%s", s, p.body)
				}
			}
			for _, s := range tc.bodyMissing {
				if strings.Contains(p.body, s) {
					t.Errorf("body has %q:\n%s", s, p.body)
				}
			}
			for _, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line of %d octets exceeds RFC 5322's limit", len(line))
				}
			}
		})
	}
}

func TestPlatformName(t *testing.T) {
	for in, want := range map[string]string{"tiktok": "TikTok", "vk": "VK", "instagram": "Instagram", "my_blog": "My Blog", "": ""} {
		if got := notify.PlatformName(in); got != want {
			t.Errorf("PlatformName(%q) = %q, want %q", in, got, want)
		}
	}
}
