package main

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// mailbox is a real SMTP server on 127.0.0.1 that keeps every message.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []mail
}

type mail struct {
	to  []string
	raw string
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{mb: mb}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); _ = l.Close() })
	return mb
}

func (mb *mailbox) url() string {
	return "smtp://" + mb.addr + "?from=noreply@attrib.test&starttls=false"
}

// to returns the messages sent to addr.
func (mb *mailbox) to(addr string) []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []string
	for _, m := range mb.msgs {
		for _, rcpt := range m.to {
			if strings.EqualFold(rcpt, addr) {
				out = append(out, m.raw)
			}
		}
	}
	return out
}

func (mb *mailbox) count() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(mb.msgs)
}

// waitCount waits until the mailbox holds n messages, then checks that no
// more arrive for a moment.
func (mb *mailbox) waitCount(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for mb.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("mailbox holds %d messages after 30s, want %d", mb.count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if got := mb.count(); got != n {
		t.Fatalf("mailbox holds %d messages, want exactly %d (one per decision)", got, n)
	}
}

type mailboxSession struct {
	mb *mailbox
	to []string
}

func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailboxSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.msgs = append(s.mb.msgs, mail{to: append([]string(nil), s.to...), raw: string(raw)})
	return nil
}
func (s *mailboxSession) Reset()        { s.to = nil }
func (s *mailboxSession) Logout() error { return nil }
