package ratelimit

// Len is how many keys have a bucket.
func (p *PerKey) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buckets)
}
