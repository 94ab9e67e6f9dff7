package ingest

// Queued returns how many calls wait for the worker, so that a test can
// tell when its calls are all queued.
func (d *RedisDedupe) Queued() int { return len(d.ops) }
