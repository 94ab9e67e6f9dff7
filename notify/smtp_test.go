package notify_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/notify"
)

func TestNewSMTPSenderURL(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		wantErr  string
		wantFrom string
	}{
		{name: "plain", url: "smtp://mail.example.com:587?from=noreply@example.com", wantFrom: "<noreply@example.com>"},
		{name: "with user and display name", url: "smtp://bot:s3cret@mail.example.com?from=Attrib%20%3Cnoreply@example.com%3E", wantFrom: `"Attrib" <noreply@example.com>`},
		{name: "implicit TLS", url: "smtps://mail.example.com?from=noreply@example.com", wantFrom: "<noreply@example.com>"},
		{name: "require STARTTLS", url: "smtp://mail.example.com?from=a@b.c&starttls=require", wantFrom: "<a@b.c>"},
		{name: "no from", url: "smtp://mail.example.com:25", wantErr: "no sender: add ?from="},
		{name: "bad from", url: "smtp://mail.example.com?from=nobody", wantErr: `from="nobody"`},
		{name: "wrong scheme", url: "http://mail.example.com?from=a@b.c", wantErr: `scheme "http"`},
		{name: "no host", url: "smtp://?from=a@b.c", wantErr: "no host"},
		{name: "no scheme", url: "mail.example.com:25", wantErr: "want smtp:// or smtps://"},
		{name: "typo in a parameter", url: "smtp://h?from=a@b.c&startls=false", wantErr: `unknown parameter "startls"`},
		{name: "bad starttls", url: "smtp://h?from=a@b.c&starttls=maybe", wantErr: `starttls="maybe"`},
		{name: "starttls on smtps", url: "smtps://h?from=a@b.c&starttls=false", wantErr: "starttls applies to smtp://"},
		{name: "path", url: "smtp://h/inbox?from=a@b.c", wantErr: `unexpected path "/inbox"`},
		{name: "bad port, password not echoed", url: "smtp://bot:s3cret@h:port?from=a@b.c", wantErr: "invalid port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := notify.NewSMTPSender(notify.SMTPConfig{URL: tc.url})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if got := s.From(); got.String() != tc.wantFrom {
				t.Errorf("from %q, want %q", got.String(), tc.wantFrom)
			}
		})
	}
}

func testMessage(eventID string) notify.Message {
	return notify.Message{
		EventID: eventID,
		To:      mail.Address{Name: "Анна", Address: "anna@example.com"},
		Subject: "Тест",
		Body:    "Привет!\n",
		Date:    time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
	}
}

func TestSMTPSender(t *testing.T) {
	cert, roots := selfSigned(t)
	clientTLS := &tls.Config{RootCAs: roots}
	users := map[string]string{"bot": "s3cret"}
	tests := []struct {
		name      string
		server    mailServerOptions
		scheme    string
		userinfo  string
		query     string
		wantErr   string
		permanent bool
	}{
		{name: "plain, no auth", scheme: "smtp"},
		{name: "auth over plain TCP to localhost", server: mailServerOptions{users: users}, scheme: "smtp", userinfo: "bot:s3cret"},
		{name: "STARTTLS then auth", server: mailServerOptions{users: users, cert: &cert}, scheme: "smtp", userinfo: "bot:s3cret", query: "&starttls=require"},
		{name: "implicit TLS then auth", server: mailServerOptions{users: users, cert: &cert, implicit: true}, scheme: "smtps", userinfo: "bot:s3cret"},
		{name: "STARTTLS required but not offered", scheme: "smtp", query: "&starttls=require", wantErr: "does not offer STARTTLS"},
		{name: "wrong password", server: mailServerOptions{users: users}, scheme: "smtp", userinfo: "bot:wrong", wantErr: "AUTH PLAIN as bot"},
		{name: "user given, server has no AUTH", scheme: "smtp", userinfo: "bot:s3cret", wantErr: "offers no AUTH"},
		{name: "server fails DATA with 451", server: mailServerOptions{failData: 1}, scheme: "smtp", wantErr: "451"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms := startMailServer(t, tc.server)
			s, err := notify.NewSMTPSender(notify.SMTPConfig{
				URL:       ms.url(tc.scheme, tc.userinfo, "noreply@attrib.test"+tc.query),
				TLSConfig: clientTLS,
				Timeout:   5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), testMessage("e1"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || isPermanent(err) != tc.permanent {
					t.Fatalf("Send: %v, want %q (permanent %v)", err, tc.wantErr, tc.permanent)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := ms.received()
			if len(got) != 1 || got[0].from != "noreply@attrib.test" || len(got[0].to) != 1 || got[0].to[0] != "anna@example.com" {
				t.Fatalf("received %+v", got)
			}
			if p := parseMessage(t, got[0].raw); p.subject != "Тест" || p.body != "Привет!\n" {
				t.Errorf("subject %q body %q", p.subject, p.body)
			}
		})
	}
}

func TestSMTPSenderServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s, err := notify.NewSMTPSender(notify.SMTPConfig{URL: "smtp://" + addr + "?from=a@b.c", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), testMessage("e1")); err == nil || isPermanent(err) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Send to a closed port: %v, want a transient error naming %s", err, addr)
	}
}

func TestSMTPSenderHonoursContext(t *testing.T) {
	// A server that accepts the connection and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	s, err := notify.NewSMTPSender(notify.SMTPConfig{URL: "smtp://" + l.Addr().String() + "?from=a@b.c"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Send(ctx, testMessage("e1")); err == nil {
		t.Fatal("Send to a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v after its context ended", d)
	}
}

func TestNewSender(t *testing.T) {
	s, err := notify.NewSender("smtp://mail.example.com?from=a@b.c", "/data")
	if _, ok := s.(*notify.SMTPSender); err != nil || !ok {
		t.Errorf("with a URL: %T, %v; want *SMTPSender", s, err)
	}
	s, err = notify.NewSender("", "/data")
	if fs, ok := s.(notify.FileSender); err != nil || !ok || fs.Dir != filepath.Join("/data", "mail") {
		t.Errorf("without a URL: %#v, %v; want FileSender under /data/mail", s, err)
	}
	if _, err := notify.NewSender("", ""); err == nil {
		t.Error("neither URL nor data dir: no error")
	}
	if _, err := notify.NewSender("smtp://h", "/data"); err == nil || !strings.Contains(err.Error(), "from=") {
		t.Errorf("URL without from: %v", err)
	}
}
