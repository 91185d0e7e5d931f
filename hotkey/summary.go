package hotkey

// summary is one Space-Saving summary (Metwally, Agrawal, El Abbadi 2005)
// over one time bucket of one shard: at most m monitored keys, each with a
// count and the error it inherited when it replaced the minimum.
//
// Guarantees, with N observations in the bucket: a monitored key's true
// count c satisfies count-err <= c <= count, err <= min <= N/m; a key that
// is not monitored has c <= floor() (0 while fewer than m keys were seen).
//
// It allocates nothing after newSummary: keys are copied into a fixed slab
// (the first keyBytes bytes, for display only), the index is an
// open-addressing table with linear probing and backward-shift deletion,
// and the minimum is kept by a binary min-heap holding the counts. A key
// is identified by its 64-bit xxhash and its length: two keys of one
// shard and bucket would have to collide on both to share a counter
// (probability about m²/2⁶⁵, ~10⁻¹⁵ for m = 256), and comparing hashes
// keeps the slab out of the cache on the hot path.
type summary struct {
	bucket int64 // the time bucket the counts belong to; -1: none yet
	n      int32 // entries in use
	total  uint64
	ent    []entry
	keys   []byte  // len(ent)*keyBytes
	heap   []hnode // min-heap by count
	table  []int32 // entry index+1; 0 is empty
	mask   uint64
}

type entry struct {
	hash uint64
	err  uint32
	klen uint32 // the key's full length
	hpos int32  // position in heap
}

type hnode struct {
	count uint32
	idx   int32 // entry index
}

// keyBytes is how much of a key a summary stores. Session keys
// ("studio:s:" + 64 hex) are 73 bytes.
const keyBytes = 96

func newSummary(m int) summary {
	size := 1
	for size < 2*m {
		size <<= 1
	}
	return summary{
		bucket: -1,
		ent:    make([]entry, m),
		keys:   make([]byte, m*keyBytes),
		heap:   make([]hnode, m),
		table:  make([]int32, size),
		mask:   uint64(size - 1),
	}
}

// bytes is the summary's fixed memory.
func (s *summary) bytes() int {
	return len(s.ent)*24 + len(s.keys) + len(s.heap)*8 + len(s.table)*4
}

func (s *summary) reset(bucket int64) {
	s.bucket = bucket
	s.n = 0
	s.total = 0
	clear(s.table)
}

// floor bounds the count of every key the summary does not monitor.
func (s *summary) floor() uint64 {
	if int(s.n) < len(s.ent) {
		return 0
	}
	return uint64(s.heap[0].count)
}

func (s *summary) stored(i int32) []byte {
	off := int(i) * keyBytes
	return s.keys[off : off+min(int(s.ent[i].klen), keyBytes)]
}

func (s *summary) add(key string, h uint64) {
	s.total++
	i := h & s.mask
	for {
		x := s.table[i]
		if x == 0 {
			break
		}
		e := &s.ent[x-1]
		if e.hash == h && int(e.klen) == len(key) {
			p := e.hpos
			if s.heap[p].count < ^uint32(0) {
				s.heap[p].count++
			}
			s.down(p)
			return
		}
		i = (i + 1) & s.mask
	}
	if int(s.n) < len(s.ent) {
		idx := s.n
		s.n++
		s.table[i] = idx + 1
		s.ent[idx] = entry{hash: h, klen: uint32(len(key)), hpos: idx}
		copy(s.keys[int(idx)*keyBytes:], key[:min(len(key), keyBytes)])
		s.heap[idx] = hnode{count: 1, idx: idx}
		s.up(idx)
		return
	}
	// Replace the minimum: the newcomer inherits its count as error.
	idx := s.heap[0].idx
	s.remove(idx)
	e := &s.ent[idx]
	m := s.heap[0].count
	e.hash, e.err, e.klen = h, m, uint32(len(key))
	if m < ^uint32(0) {
		s.heap[0].count = m + 1
	}
	copy(s.keys[int(idx)*keyBytes:], key[:min(len(key), keyBytes)])
	j := h & s.mask
	for s.table[j] != 0 {
		j = (j + 1) & s.mask
	}
	s.table[j] = idx + 1
	s.down(0)
}

// remove deletes entry idx from the table (backward-shift deletion keeps
// every probe sequence unbroken without tombstones).
func (s *summary) remove(idx int32) {
	i := s.ent[idx].hash & s.mask
	for s.table[i] != idx+1 {
		i = (i + 1) & s.mask
	}
	j := i
	for {
		j = (j + 1) & s.mask
		x := s.table[j]
		if x == 0 {
			break
		}
		k := s.ent[x-1].hash & s.mask // x's home slot
		// x may move to the hole at i unless its home lies cyclically in (i, j].
		if (i <= j && (k <= i || k > j)) || (i > j && k <= i && k > j) {
			s.table[i] = x
			i = j
		}
	}
	s.table[i] = 0
}

func (s *summary) less(a, b int32) bool {
	return s.heap[a].count < s.heap[b].count
}

func (s *summary) swap(a, b int32) {
	s.heap[a], s.heap[b] = s.heap[b], s.heap[a]
	s.ent[s.heap[a].idx].hpos = a
	s.ent[s.heap[b].idx].hpos = b
}

func (s *summary) up(p int32) {
	for p > 0 {
		q := (p - 1) / 2
		if !s.less(p, q) {
			return
		}
		s.swap(p, q)
		p = q
	}
}

func (s *summary) down(p int32) {
	n := s.n
	for {
		c := 2*p + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && s.less(r, c) {
			c = r
		}
		if !s.less(c, p) {
			return
		}
		s.swap(p, c)
		p = c
	}
}
