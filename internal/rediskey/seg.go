// Package rediskey builds and clears the Redis keys of a component: it
// escapes ids into key components (Seg, Unseg) and deletes every key under
// a prefix on every node of a client (DropPrefix), on a single server, a
// Cluster or a Ring alike.
package rediskey

import "strings"

// special are the bytes Seg escapes: ':' separates key components, braces
// would make a Redis Cluster hash tag, and '%' starts an escape.
const special = "%:{}"

var (
	escaper   = strings.NewReplacer("%", "%25", ":", "%3A", "{", "%7B", "}", "%7D")
	unescaper = strings.NewReplacer("%25", "%", "%3A", ":", "%7B", "{", "%7D", "}")
)

// Seg escapes an id for use as one component of a key: the result holds
// no ':', '{' or '}', and Unseg returns the id. An id with none of
// "%:{}" is returned as it is, without allocating.
func Seg(s string) string {
	if !strings.ContainsAny(s, special) {
		return s
	}
	return escaper.Replace(s)
}

// Unseg returns the id that Seg escaped into s. A string without '%' is
// returned as it is, without allocating.
func Unseg(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	return unescaper.Replace(s)
}
