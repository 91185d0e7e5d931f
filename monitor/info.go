package monitor

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Info is a parsed INFO reply: section name (lower-case, "" for lines
// before any header) → key → raw value.
//
// ParseInfo accepts any text. A "# Name" line starts a section (repeated
// headers merge); a "key:value" line is split at its first colon; blank
// lines, lines without a colon, empty keys and keys containing white space
// are ignored; a repeated key keeps its last value. Lines may end in "\r\n"
// or "\n", and surrounding white space is trimmed.
type Info map[string]map[string]string

// ParseInfo parses the text of an INFO reply. It never fails and never
// panics: malformed lines are skipped.
func ParseInfo(text string) Info {
	info := Info{}
	section := ""
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			if name := strings.TrimSpace(line[1:]); name != "" {
				section = asciiLower(name)
			}
			continue
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		key := line[:i]
		if strings.IndexFunc(key, unicode.IsSpace) >= 0 {
			continue
		}
		m := info[section]
		if m == nil {
			m = map[string]string{}
			info[section] = m
		}
		m[key] = line[i+1:]
	}
	return info
}

// asciiLower lower-cases ASCII letters only, so that it is idempotent on
// any input, valid UTF-8 or not.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Get returns the value of key in section.
func (in Info) Get(section, key string) (string, bool) {
	v, ok := in[section][key]
	return v, ok
}

// Int returns the value of key in section as an integer; ok is false when
// the key is missing or not an integer.
func (in Info) Int(section, key string) (int64, bool) {
	v, ok := in[section][key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// Float returns the value of key in section as a number.
func (in Info) Float(section, key string) (float64, bool) {
	v, ok := in[section][key]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// ParseFields splits a "k1=v1,k2=v2" value (keyspace, replica and
// errorstat lines) into a map. Parts without "=" or with an empty key are
// skipped.
func ParseFields(v string) map[string]string {
	m := map[string]string{}
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			continue
		}
		m[k] = val
	}
	return m
}

// KeyspaceDB is one "dbN:keys=…,expires=…,avg_ttl=…" line.
type KeyspaceDB struct {
	DB      int   `json:"db"`
	Keys    int64 `json:"keys"`
	Expires int64 `json:"expires"`
	AvgTTL  int64 `json:"avg_ttl_ms"`
}

// Keyspace returns the databases of the keyspace section, by number. A line
// whose name is not db<N> or whose keys field is not an integer is skipped;
// other missing fields read as 0.
func (in Info) Keyspace() []KeyspaceDB {
	var dbs []KeyspaceDB
	for k, v := range in["keyspace"] {
		rest, ok := strings.CutPrefix(k, "db")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			continue
		}
		f := ParseFields(v)
		keys, err := strconv.ParseInt(f["keys"], 10, 64)
		if err != nil {
			continue
		}
		exp, _ := strconv.ParseInt(f["expires"], 10, 64)
		ttl, _ := strconv.ParseInt(f["avg_ttl"], 10, 64)
		dbs = append(dbs, KeyspaceDB{DB: n, Keys: keys, Expires: exp, AvgTTL: ttl})
	}
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].DB < dbs[j].DB })
	return dbs
}

// Replicas returns the replicas listed by a master's replication section
// ("slaveN:ip=…,port=…,state=…,offset=…,lag=…", or "replicaN:…"), in N
// order. A line without ip or a numeric port is skipped; a missing or
// malformed offset or lag reads as 0 (lag -1 when absent, as Redis reports
// an unknown lag).
func (in Info) Replicas() []Replica {
	type numbered struct {
		n int
		r Replica
	}
	var rs []numbered
	for k, v := range in["replication"] {
		rest, ok := strings.CutPrefix(k, "slave")
		if !ok {
			if rest, ok = strings.CutPrefix(k, "replica"); !ok {
				continue
			}
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 {
			continue
		}
		f := ParseFields(v)
		port, err := strconv.Atoi(f["port"])
		if f["ip"] == "" || err != nil || port <= 0 || port > 65535 {
			continue
		}
		r := Replica{Addr: net.JoinHostPort(f["ip"], strconv.Itoa(port)), State: f["state"], LagSeconds: -1}
		r.Offset, _ = strconv.ParseInt(f["offset"], 10, 64)
		if lag, err := strconv.ParseInt(f["lag"], 10, 64); err == nil {
			r.LagSeconds = lag
		}
		rs = append(rs, numbered{n, r})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n < rs[j].n })
	out := make([]Replica, len(rs))
	for i, r := range rs {
		out[i] = r.r
	}
	return out
}

// ErrorStats returns the errorstats section as error prefix → count
// ("errorstat_ERR:count=3" → "ERR": 3). Malformed lines are skipped.
func (in Info) ErrorStats() map[string]int64 {
	m := map[string]int64{}
	for k, v := range in["errorstats"] {
		name, ok := strings.CutPrefix(k, "errorstat_")
		if !ok || name == "" {
			continue
		}
		n, err := strconv.ParseInt(ParseFields(v)["count"], 10, 64)
		if err != nil {
			continue
		}
		m[name] = n
	}
	return m
}
