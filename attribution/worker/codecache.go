package worker

import (
	"sync"

	"github.com/attrib-engine/attrib/attribution"
	"github.com/attrib-engine/attrib/eventstore"
)

// codeCache remembers the code index's answers, per catalog partition,
// for as long as that partition's end offset does not move.
//
// A brand's catalog events, its codes' confirmations and revocations among
// them, are all on the catalog partition PartitionOf(brand) (see Lag
// safety in doc.go), and the index is a function of the catalog log. So an
// answer read while the index had applied every event of the partition up
// to its end offset E (its watermark, known before the read, at or past an
// E read after the batch began) is what the index answers at E, and stays
// the index's answer while the partition's end is still E: no event can
// have changed it. The first later batch that reads another end for the
// partition drops the partition's answers. The end offsets are read
// anyway for every batch with placements (lag safety), so a live catalog
// costs the cache nothing but misses, and a quiet one saves the lookups:
// about a fifth of the worker's Redis commands, one per distinct code of
// a batch.
//
// Answers without records (an unknown code) are kept too: they are the
// index's answer just the same. The records are shared read-only with the
// batches that use them (attribution.Decide only reads them).
type codeCache struct {
	mu    sync.Mutex
	parts map[int]*codePart // by catalog partition
	size  int               // keys held in all parts
	max   int
}

// codePart is the cached answers of one catalog partition, valid while the
// partition's end offset is end.
type codePart struct {
	end   int64
	codes map[attribution.CodeKey][]attribution.CodeRecord
}

// maxCachedCodes bounds the keys a codeCache holds (a key and its records
// take about 300 bytes): reaching it empties the cache, which fills again
// with the codes in use.
const maxCachedCodes = 200_000

func newCodeCache(max int) *codeCache {
	return &codeCache{parts: make(map[int]*codePart), max: max}
}

// get returns the cached answers of keys that were valid at the end
// offsets ends (index = catalog partition, n partitions): the records of
// those with records (hits), every key answered, with records or without,
// and the keys it has no answer for at those ends. ends may be nil (none
// known): every key is then missing.
func (c *codeCache) get(keys []attribution.CodeKey, ends []int64, n int) (hits attribution.CodeMap, answered, missing []attribution.CodeKey) {
	hits = make(attribution.CodeMap)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if part := c.valid(k, ends, n); part != nil {
			if recs, ok := part.codes[k]; ok {
				if len(recs) > 0 {
					hits[k] = recs
				}
				answered = append(answered, k)
				continue
			}
		}
		missing = append(missing, k)
	}
	return hits, answered, missing
}

// valid returns the part of k's catalog partition if it is valid at ends.
// c.mu is held.
func (c *codeCache) valid(k attribution.CodeKey, ends []int64, n int) *codePart {
	p := eventstore.PartitionOf(k.BrandID, n)
	part := c.parts[p]
	if part == nil || p >= len(ends) || part.end != ends[p] {
		return nil
	}
	return part
}

// stale returns those of keys (answered by get at the end offsets was)
// whose catalog partition's end is another in now: their answers may be
// out of date.
func (c *codeCache) stale(keys []attribution.CodeKey, was, now []int64, n int) []attribution.CodeKey {
	var out []attribution.CodeKey
	for _, k := range keys {
		p := eventstore.PartitionOf(k.BrandID, n)
		if p >= len(was) || p >= len(now) || was[p] != now[p] {
			out = append(out, k)
		}
	}
	return out
}

// put records the index's answers (got) to keys, read by a lookup that
// started after the watermarks wm were known, with ends read after the
// batch began. Only the partitions whose watermark had reached their end
// are recorded: for the others the answer may not be the one at ends.
func (c *codeCache) put(keys []attribution.CodeKey, got attribution.CodeMap, wm map[int]Watermark, ends []int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		p := eventstore.PartitionOf(k.BrandID, n)
		if p >= len(ends) || wm[p].Offset < ends[p] {
			continue
		}
		part := c.parts[p]
		if part == nil || part.end != ends[p] {
			if part != nil {
				c.size -= len(part.codes)
			}
			part = &codePart{end: ends[p], codes: make(map[attribution.CodeKey][]attribution.CodeRecord)}
			c.parts[p] = part
		}
		if _, ok := part.codes[k]; ok {
			continue
		}
		if c.size >= c.max {
			clear(c.parts)
			c.size = 0
			part = &codePart{end: ends[p], codes: make(map[attribution.CodeKey][]attribution.CodeRecord)}
			c.parts[p] = part
		}
		part.codes[k] = got[k]
		c.size++
	}
}
