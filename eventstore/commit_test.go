package eventstore

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestCommitterMerges: commits that arrive while one is in flight go out
// together in the next request, each partition's latest offset; every
// caller gets the error of the request that carried its offset.
func TestCommitterMerges(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sent []map[string]map[int]int64
	fail := errors.New("coordinator moved")
	c := &committer{commit: func(offsets map[string]map[int]int64) error {
		mu.Lock()
		sent = append(sent, offsets)
		n := len(sent)
		mu.Unlock()
		if n == 1 {
			<-release // the first request is in flight while the others arrive
			return nil
		}
		return fail
	}}
	first := make(chan error, 1)
	go func() { first <- c.Commit("t", 0, 10) }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) == 1 })

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() { errs[i] = c.Commit("t", i+1, int64(100+i)) })
	}
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.waiters) == 3 })
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first commit: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, fail) {
			t.Errorf("commit of partition %d: %v, want the second request's error", i+1, err)
		}
	}
	if len(sent) != 2 {
		t.Fatalf("%d requests, want 2: %v", len(sent), sent)
	}
	want := map[int]int64{1: 100, 2: 101, 3: 102}
	for p, o := range want {
		if sent[1]["t"][p] != o {
			t.Errorf("second request %v: partition %d at %d, want %d", sent[1], p, sent[1]["t"][p], o)
		}
	}
	if len(sent[1]["t"]) != 3 {
		t.Errorf("second request %v: want exactly partitions 1-3", sent[1])
	}
	// Idle again: the next commit is a request of its own.
	if err := c.Commit("t", 0, 11); !errors.Is(err, fail) || len(sent) != 3 {
		t.Errorf("third commit: %v after %d requests", err, len(sent))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
