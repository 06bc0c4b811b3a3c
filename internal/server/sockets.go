package server

import (
	"net/netip"
	"sync"

	"inkwell/internal/apperr"
)

// codeTooManyConnections refuses a WebSocket from an address that holds its share.
const codeTooManyConnections = string(apperr.CodeTooManyConnections)

// socketCount bounds the open WebSockets, in all and per client address (IPv6 by /64,
// as the rate limits count): a socket costs memory for hours, and 100 anonymous
// sockets from one address once held 2,000 subscriptions.
type socketCount struct {
	mu      sync.Mutex
	total   int
	perAddr map[netip.Addr]int
	max     int
	maxAddr int
}

func newSocketCount(max, maxAddr int) *socketCount {
	return &socketCount{perAddr: map[netip.Addr]int{}, max: max, maxAddr: maxAddr}
}

// group is the address a socket counts against.
func group(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a.Unmap()
}

// open counts a socket from addr, or reports why it may not open: "" when it may,
// else the error code.
func (s *socketCount) open(addr netip.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max {
		return codeOverloaded
	}
	if addr.IsValid() {
		g := group(addr)
		if s.perAddr[g] >= s.maxAddr {
			return codeTooManyConnections
		}
		s.perAddr[g]++
	}
	s.total++
	return ""
}

// close uncounts a socket opened from addr.
func (s *socketCount) close(addr netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if addr.IsValid() {
		g := group(addr)
		if s.perAddr[g]--; s.perAddr[g] <= 0 {
			delete(s.perAddr, g)
		}
	}
}
