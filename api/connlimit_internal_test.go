package api

import (
	"net"
	"testing"
)

func TestClientOf(t *testing.T) {
	key := func(ip string) string {
		p, ok := clientOf(&net.TCPAddr{IP: net.ParseIP(ip), Port: 443})
		if !ok {
			t.Fatalf("no key for %s", ip)
		}
		return p.String()
	}
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"one IPv4 address", "192.0.2.7", "192.0.2.7", true},
		{"two IPv4 addresses", "192.0.2.7", "192.0.2.8", false},
		{"IPv4 mapped into IPv6", "::ffff:192.0.2.7", "192.0.2.7", true},
		{"one IPv6 /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"two IPv6 /64s", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a, b := key(tc.a), key(tc.b); (a == b) != tc.same {
				t.Errorf("key(%s) = %s, key(%s) = %s; same client: %v", tc.a, a, tc.b, b, tc.same)
			}
		})
	}
	if _, ok := clientOf(&net.UnixAddr{Name: "/tmp/sock", Net: "unix"}); ok {
		t.Error("a Unix socket address has a client key")
	}
}
