package main

import (
	"github.com/attrib-engine/attrib/api"
)

// addEdgeSettings adds the bounds of the HTTP listener (api.EdgeConfig);
// the README's configuration table says why each default is what it is.
func addEdgeSettings(add func(setting)) {
	add(setting{flag: "http-read-header-timeout", env: "ATTRIB_HTTP_READ_HEADER_TIMEOUT", def: "10s", usage: "longest a request's headers may take to arrive"})
	add(setting{flag: "http-read-timeout", env: "ATTRIB_HTTP_READ_TIMEOUT", def: "60s", usage: "longest a whole request (headers and body) may take to arrive"})
	add(setting{flag: "http-write-timeout", env: "ATTRIB_HTTP_WRITE_TIMEOUT", def: "90s", usage: "longest from a request's headers to the end of its answer; the CSV export extends it while the client reads"})
	add(setting{flag: "http-idle-timeout", env: "ATTRIB_HTTP_IDLE_TIMEOUT", def: "120s", usage: "how long a keep-alive connection may wait for its next request"})
	add(setting{flag: "http-max-header-bytes", env: "ATTRIB_HTTP_MAX_HEADER_BYTES", def: "65536", usage: "largest request line and headers, in bytes"})
	add(setting{flag: "http-max-conns-per-client", env: "ATTRIB_HTTP_MAX_CONNS_PER_CLIENT", def: "256", usage: "most connections one client address (an IPv6 /64) may hold open; more are answered 429; 0: no cap (behind a proxy that caps)"})
}

// parseEdge reads the settings of addEdgeSettings, reporting each bad one
// through check.
func (c *config) parseEdge(check func(flagName string, err error)) api.EdgeConfig {
	return api.EdgeConfig{
		ReadHeaderTimeout: c.durationSetting("http-read-header-timeout", false, check),
		ReadTimeout:       c.durationSetting("http-read-timeout", false, check),
		WriteTimeout:      c.durationSetting("http-write-timeout", false, check),
		IdleTimeout:       c.durationSetting("http-idle-timeout", false, check),
		MaxHeaderBytes:    c.intSetting("http-max-header-bytes", 1024, "must be at least 1024 (a request line and a bearer token)", check),
		MaxConnsPerClient: c.intSetting("http-max-conns-per-client", 0, "must be 0 (no cap) or more", check),
	}
}
