// Package web is the product in the browser: a static page (HTML, CSS and
// JavaScript, no build step, no outside assets) embedded in the binary and
// served at "/". It signs in with a creator's, a brand's or an analyst's
// bearer token (pasted, or from a sign-in link <base>/#token=<token>; kept
// in the tab's sessionStorage until Sign out; the role is asked of the API,
// not guessed from the token) and calls the public endpoints of the API,
// so it shows exactly what the API shows that token. A creator finds
// brands and their offers, asks for promo codes and follows the requests;
// a brand publishes and changes offers, moderates requests, revokes codes
// and rotates its credentials; everyone with reports gets the orders with
// every filter, sort and cursor paging, the totals per currency, the CSV
// export, the earnings by group and a chart of earnings per day; analysts
// also the summary, the unattributed orders and the explanation of one
// order.
//
// Money stays the decimal string the API sent: the page never turns it
// into a JavaScript number and never adds amounts up in floating point
// (the totals are the API's; bars are scaled with BigInt). The browser
// tests drive the page in headless Chromium: browser_test.go against a
// fake API for the error states, cmd/attrib/browser_test.go against the
// real engine.
package web

import (
	"embed"
	"net/http"
)

//go:embed static
var static embed.FS

// Files are the dashboard's URL paths, with the embedded file served at
// each and its content type.
var Files = map[string]struct{ Name, ContentType string }{
	"/":              {"static/index.html", "text/html; charset=utf-8"},
	"/dashboard.js":  {"static/dashboard.js", "text/javascript; charset=utf-8"},
	"/product.js":    {"static/product.js", "text/javascript; charset=utf-8"},
	"/dashboard.css": {"static/dashboard.css", "text/css; charset=utf-8"},
	"/favicon.ico":   {"static/icon.svg", "image/svg+xml"},
}

// Register adds the dashboard's routes to mux (GET only; the API's own
// routes are all under /v1/ and the operations paths, which it leaves
// alone).
func Register(mux interface {
	Handle(pattern string, h http.Handler)
}) {
	for path, f := range Files {
		pattern := "GET " + path
		if path == "/" {
			pattern += "{$}" // only the root, not every unknown path
		}
		mux.Handle(pattern, file(f.Name, f.ContentType))
	}
}

func file(name, contentType string) http.Handler {
	body, err := static.ReadFile(name)
	if err != nil {
		panic("web: missing embedded file " + name)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		// The page loads nothing from elsewhere and talks only to this
		// origin's API.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(body)
	})
}
