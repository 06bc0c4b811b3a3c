package oauthtest

import "time"

// SetNow replaces the provider's clock, so tests can age codes and tokens.
func SetNow(p *Provider, now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}
