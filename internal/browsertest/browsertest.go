// Package browsertest starts headless Chromium for the browser tests and
// hands them chromedp contexts. A missing Chromium fails the test: it is
// never skipped (`make test` installs Debian's chromium through
// deploy/local/stack.sh install).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Path finds the browser: $ATTRIB_CHROMIUM when set, else the usual
// names on PATH; "" when there is none.
func Path() string {
	if p := os.Getenv("ATTRIB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Options are the browser's settings for one test.
type Options struct {
	// TimeZone is the browser's TZ (its default time zone); "" keeps the
	// process's.
	TimeZone string
	// Timeout bounds the whole browser session; 0 means 2 minutes.
	Timeout time.Duration
}

// Start launches one headless Chromium with a fresh profile under the
// test's temporary directory and returns the context of its first tab.
// Each chromedp.NewContext(ctx) made from it opens another tab with a
// sessionStorage of its own. The browser is stopped when the test ends.
func Start(t testing.TB, o Options) context.Context {
	t.Helper()
	bin := Path()
	if bin == "" {
		t.Fatal("Chromium not found: install it (Debian: apt-get install chromium, or bash deploy/local/stack.sh install) or set ATTRIB_CHROMIUM to its path")
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1280, 900),
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	if o.TimeZone != "" {
		opts = append(opts, chromedp.Env("TZ="+o.TimeZone))
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), o.Timeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", bin, err)
	}
	focused(t, bctx)
	return bctx
}

// Tab opens another tab of the browser that Start returned, with a
// sessionStorage of its own (a user signed in there is not signed in
// here); it is closed when the test ends.
func Tab(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	focused(t, ctx)
	return ctx
}

// focused makes the tab behave as the focused window: a headless tab
// otherwise never gets focus and blur events, nor matches :focus rules,
// so what a keyboard user meets could not be checked.
func focused(t testing.TB, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("emulate focus: %v", err)
	}
}

// Screenshot writes the tab's visible page as PNG to dir/name.png
// (dir is created), failing the test when it cannot.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ScreenshotDir is where the suites write their screenshots:
// $ATTRIB_LOCAL_DIR/screenshots, else .local/screenshots under root (the
// repository's top directory).
func ScreenshotDir(root string) string {
	if d := os.Getenv("ATTRIB_LOCAL_DIR"); d != "" {
		return filepath.Join(d, "screenshots")
	}
	return filepath.Join(root, ".local", "screenshots")
}
