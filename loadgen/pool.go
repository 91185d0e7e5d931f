package loadgen

import (
	"sync"
	"sync/atomic"
)

// pool holds the tokens of the live sessions the workers act on, one per
// slot; slot i has Zipf rank i. Validations read slots without locking;
// a revoke takes its token out of the slot before revoking it, so no
// validation picks it afterwards; a create fills an empty slot (the one
// freed most recently) or, when none is free, replaces a random slot's
// token (that session stays valid, it is only no longer used).
type pool struct {
	slots []atomic.Pointer[string]

	mu   sync.Mutex
	free []int // empty slots, most recently freed last
}

func newPool(n int) *pool { return &pool{slots: make([]atomic.Pointer[string], n)} }

// set puts a token in slot i (setup only).
func (p *pool) set(i int, tok string) { p.slots[i].Store(&tok) }

// pick returns the token at slot i, or at the next non-empty slot after
// it; -1 when the pool is empty.
func (p *pool) pick(i int) (int, *string) {
	n := len(p.slots)
	for k := range n {
		j := (i + k) % n
		if t := p.slots[j].Load(); t != nil {
			return j, t
		}
	}
	return -1, nil
}

// holds reports whether slot i still holds exactly tok: false once tok was
// taken for a revoke or replaced.
func (p *pool) holds(i int, tok *string) bool { return p.slots[i].Load() == tok }

// take removes and returns the token at slot i or the next non-empty slot
// after it; -1 when the pool is empty.
func (p *pool) take(i int) (int, *string) {
	for {
		j, t := p.pick(i)
		if t == nil {
			return -1, nil
		}
		if p.slots[j].CompareAndSwap(t, nil) {
			return j, t
		}
	}
}

// release marks slot i free for a later create.
func (p *pool) release(i int) {
	p.mu.Lock()
	p.free = append(p.free, i)
	p.mu.Unlock()
}

// add stores a new token in a free slot, or in slot fallback when no slot
// is free.
func (p *pool) add(tok string, fallback int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.free) > 0 {
		i := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		if p.slots[i].CompareAndSwap(nil, &tok) {
			return
		}
	}
	p.slots[fallback].Store(&tok)
}
