package ingest

// DedupeMaxBatch is the number of keys a dedupe pipeline takes before
// another worker is started for the rest.
const DedupeMaxBatch = dedupeMaxBatch

// Queued returns how many calls wait for a worker, so that a test can tell
// when its calls are all queued.
func (d *RedisDedupe) Queued() int { return len(d.ops) }

// Workers returns how many workers run.
func (d *RedisDedupe) Workers() int { return int(d.workers.Load()) }

// BucketOf returns the bucket that key's mark lives in.
func (d *RedisDedupe) BucketOf(key string) int { return d.slotOf(key).index }
