package notify_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/attrib-engine/attrib/notify"
)

func TestFileSender(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	s := notify.FileSender{Dir: dir}
	ctx := context.Background()
	first := testMessage("e1")
	if err := s.Send(ctx, first); err != nil {
		t.Fatalf("Send: %v", err)
	}
	raw, err := os.ReadFile(s.Path(first))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	p := parseMessage(t, raw)
	if p.header.Get("Message-ID") != "<e1@attrib>" || p.header.Get("From") != `"attrib" <noreply@localhost>` || p.body != "Привет!\n" {
		t.Errorf("file holds %v %q", p.header, p.body)
	}

	// Sending again, even a different rendering, leaves the file alone.
	changed := first
	changed.Subject = "changed"
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Send(ctx, changed); err != nil {
				t.Errorf("Send again: %v", err)
			}
		}()
	}
	wg.Wait()
	again, _ := os.ReadFile(s.Path(first))
	if string(again) != string(raw) {
		t.Error("a second Send rewrote the file")
	}

	// Concurrent first sends of one message: one file, complete, no temp left.
	second := testMessage("e2")
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Send(ctx, second); err != nil {
				t.Errorf("concurrent Send: %v", err)
			}
		}()
	}
	wg.Wait()
	if files := emlFiles(t, dir); len(files) != 2 {
		t.Errorf("files %v, want e1.eml and e2.eml", files)
	}
	parseMessage(t, mustRead(t, s.Path(second)))

	if err := s.Send(ctx, testMessage("../escape")); err == nil || !isPermanent(err) {
		t.Errorf("event id with a path: %v, want a permanent error", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
