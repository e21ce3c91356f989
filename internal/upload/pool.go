package upload

import (
	"context"
	"sync"
)

// parkedMax bounds the uploads that wait for a Retry-After outside the
// pool (see pool) beside the pool's own: at a Retry-After of 1 s, as many
// refusals a second as that can be waited out.
const parkedMax = 1024

// pool bounds the uploads of a run: at most size send at once (the
// --batch-size the service sees). An upload refused by a service whose
// refusals do not follow the rate waits for its Retry-After outside it
// (retry.Slot), so that the others go on; up to parkedMax wait so, beyond
// which no new upload starts.
type pool struct {
	active chan struct{} // a place to send
	all    chan struct{} // a place in the run: sending, or waiting outside
}

func newPool(size int) *pool {
	return &pool{active: make(chan struct{}, size), all: make(chan struct{}, size+parkedMax)}
}

// take waits for a place for a new upload and returns its slot.
func (p *pool) take() *slot {
	p.all <- struct{}{}
	p.active <- struct{}{}
	return &slot{p: p, held: true}
}

// slot is one upload's place; retry.Slot.
type slot struct {
	p    *pool
	mu   sync.Mutex
	held bool // it holds a place to send
}

// Release gives the place to send back while the upload waits.
func (s *slot) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		s.held = false
		<-s.p.active
	}
}

// Acquire takes a place to send again.
func (s *slot) Acquire(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.p.active <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave ends the upload: its places go back.
func (s *slot) leave() {
	s.Release()
	<-s.p.all
}
