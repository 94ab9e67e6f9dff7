package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
)

// DefaultFrom is the From of FileSender when none is set.
var DefaultFrom = mail.Address{Name: "attrib", Address: "noreply@localhost"}

// FileSender writes each message as "<Dir>/<event id>.eml" instead of
// sending it: the single-machine default when no SMTP server is configured.
// It is idempotent by itself: a file that exists means the message was
// sent, and it is never rewritten. Safe for concurrent use.
type FileSender struct {
	// Dir receives the files; it is created when missing.
	Dir string
	// From is the From header; default DefaultFrom.
	From mail.Address
}

// Path returns the file of message m.
func (s FileSender) Path(m Message) string { return filepath.Join(s.Dir, m.EventID+".eml") }

// Send implements Sender. The file appears atomically and complete: the
// message is written to a temporary file, synced, then hard-linked to its
// name, which fails (harmlessly) if the name exists, so neither a crash nor
// two concurrent senders can leave a partial or a second version.
func (s FileSender) Send(ctx context.Context, m Message) error {
	if !eventIDPattern.MatchString(m.EventID) {
		return &PermanentError{Err: fmt.Errorf("event id %q cannot name a file", m.EventID)}
	}
	path := s.Path(m)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	from := s.From
	if from.Address == "" {
		from = DefaultFrom
	}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(s.Dir, ".tmp-"+m.EventID+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // the link keeps the data under its name
	_, werr := tmp.Write(m.Format(from))
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", path, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Make the new name durable before the caller marks the message sent.
	if d, err := os.Open(s.Dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
