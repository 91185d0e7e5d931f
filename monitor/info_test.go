package monitor

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata files are real INFO replies (redis-server 7.0.15, CRLF line
// ends) of a master with one online replica and of that replica.
func TestParseInfoMaster(t *testing.T) {
	in := ParseInfo(readTestdata(t, "info_master_7.0.txt"))
	for _, s := range infoSections {
		if len(in[s]) == 0 {
			t.Errorf("section %q missing or empty", s)
		}
	}
	if v, _ := in.Get("server", "redis_version"); v != "7.0.15" {
		t.Errorf("redis_version = %q", v)
	}
	if v, ok := in.Int("clients", "maxclients"); !ok || v != 10000 {
		t.Errorf("maxclients = %d, %v", v, ok)
	}
	if v, _ := in.Get("memory", "maxmemory_policy"); v != "noeviction" {
		t.Errorf("maxmemory_policy = %q", v)
	}
	if v, ok := in.Int("memory", "used_memory"); !ok || v <= 0 {
		t.Errorf("used_memory = %d, %v", v, ok)
	}
	if v, ok := in.Float("stats", "instantaneous_input_kbps"); !ok || v < 0 {
		t.Errorf("instantaneous_input_kbps = %v, %v", v, ok)
	}
	if v, ok := in.Int("stats", "total_commands_processed"); !ok || v <= 0 {
		t.Errorf("total_commands_processed = %d, %v", v, ok)
	}
	if v, _ := in.Get("replication", "role"); v != "master" {
		t.Errorf("role = %q", v)
	}
	// Values keep everything after the first colon.
	if v, _ := in.Get("server", "os"); !strings.HasPrefix(v, "Linux") {
		t.Errorf("os = %q", v)
	}
	wantKS := []KeyspaceDB{{DB: 0, Keys: 3, Expires: 1, AvgTTL: 0}, {DB: 3, Keys: 1}}
	ks := in.Keyspace()
	if len(ks) != 2 || ks[0].DB != 0 || ks[0].Keys != wantKS[0].Keys || ks[0].Expires != 1 || ks[0].AvgTTL <= 0 || ks[1] != wantKS[1] {
		t.Errorf("Keyspace = %+v", ks)
	}
	wantRep := []Replica{{Addr: "127.0.0.1:16380", State: "online", Offset: 281, LagSeconds: 1}}
	if got := in.Replicas(); !reflect.DeepEqual(got, wantRep) {
		t.Errorf("Replicas = %+v, want %+v", got, wantRep)
	}
	if got, want := in.ErrorStats(), map[string]int64{"ERR": 1, "WRONGTYPE": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("ErrorStats = %v, want %v", got, want)
	}
}

func TestParseInfoReplica(t *testing.T) {
	in := ParseInfo(readTestdata(t, "info_replica_7.0.txt"))
	for k, want := range map[string]string{"role": "slave", "master_host": "127.0.0.1", "master_port": "16379", "master_link_status": "up"} {
		if v, _ := in.Get("replication", k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if r := in.Replicas(); len(r) != 0 {
		t.Errorf("a replica lists replicas: %+v", r)
	}
	if e := in.ErrorStats(); len(e) != 0 {
		t.Errorf("ErrorStats = %v", e)
	}
}

// Malformed lines are skipped; the good lines around them still parse.
func TestParseInfoMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       Info
	}{
		{"empty", "", Info{}},
		{"only blank lines", "\r\n\n  \n", Info{}},
		{"no colon", "# S\r\nnocolon\r\nk:v\r\n", Info{"s": {"k": "v"}}},
		{"empty key", "# S\r\n:v\r\nk:v\r\n", Info{"s": {"k": "v"}}},
		{"key with space", "# S\r\nbad key:v\r\nk:v\r\n", Info{"s": {"k": "v"}}},
		{"empty value kept", "# S\r\nk:\r\n", Info{"s": {"k": ""}}},
		{"value with colons", "# S\r\naddr:[::1]:6379\r\n", Info{"s": {"addr": "[::1]:6379"}}},
		{"header without name keeps section", "# S\r\n#\r\n#   \r\nk:v\r\n", Info{"s": {"k": "v"}}},
		{"line before any header", "k:v\r\n# S\r\nj:w", Info{"": {"k": "v"}, "s": {"j": "w"}}},
		{"repeated header merges", "# S\r\na:1\r\n# T\r\nb:2\r\n# s\r\nc:3\r\n", Info{"s": {"a": "1", "c": "3"}, "t": {"b": "2"}}},
		{"repeated key keeps last", "# S\nk:1\nk:2\n", Info{"s": {"k": "2"}}},
		{"bare LF and trailing spaces", "# Server  \n  k:v  \n", Info{"server": {"k": "v"}}},
		{"no final newline", "# S\r\nk:v", Info{"s": {"k": "v"}}},
		{"binary garbage", "\x00\xff:\x01\r\n# \xfe\r\n\x00:x", Info{"": {"\x00\xff": "\x01"}, "\xfe": {"\x00": "x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseInfo(tc.text); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseInfo(%q) = %#v, want %#v", tc.text, got, tc.want)
			}
		})
	}
}

// Typed readers skip lines whose fields are malformed.
func TestInfoFieldsMalformed(t *testing.T) {
	in := ParseInfo(strings.Join([]string{
		"# Keyspace",
		"db0:keys=5,expires=1,avg_ttl=10",
		"db1:keys=x,expires=1",        // keys not a number: skipped
		"dbx:keys=1",                  // not db<N>: skipped
		"db-2:keys=1",                 // negative: skipped
		"db4:expires=1",               // no keys: skipped
		"db5:keys=2,expires=,junk,=3", // empty fields read as 0
		"other:keys=9",
		"# Replication",
		"slave0:ip=10.0.0.1,port=6380,state=online,offset=7,lag=2",
		"slave1:ip=10.0.0.2,port=x,state=online",    // bad port: skipped
		"slave2:port=6381,state=online",             // no ip: skipped
		"slave3:ip=::1,port=6382,state=wait_bgsave", // IPv6, no offset/lag
		"slave10:ip=10.0.0.3,port=70000",            // port out of range: skipped
		"slavex:ip=10.0.0.4,port=6383",              // not slave<N>: skipped
		"replica4:ip=10.0.0.5,port=6384,lag=y",      // newer name, bad lag
		"# Errorstats",
		"errorstat_ERR:count=4",
		"errorstat_:count=1",           // no name: skipped
		"errorstat_OOM:count=many",     // bad count: skipped
		"errorstat_BUSY:nocount",       // no count: skipped
		"stat_ERR:count=1",             // wrong prefix: skipped
		"errorstat_NOAUTH:count=2,x=1", // extra fields ignored
	}, "\r\n"))
	if got, want := in.Keyspace(), []KeyspaceDB{{DB: 0, Keys: 5, Expires: 1, AvgTTL: 10}, {DB: 5, Keys: 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keyspace = %+v, want %+v", got, want)
	}
	want := []Replica{
		{Addr: "10.0.0.1:6380", State: "online", Offset: 7, LagSeconds: 2},
		{Addr: "[::1]:6382", State: "wait_bgsave", LagSeconds: -1},
		{Addr: "10.0.0.5:6384", LagSeconds: -1},
	}
	if got := in.Replicas(); !reflect.DeepEqual(got, want) {
		t.Errorf("Replicas = %+v, want %+v", got, want)
	}
	if got, want := in.ErrorStats(), map[string]int64{"ERR": 4, "NOAUTH": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("ErrorStats = %v, want %v", got, want)
	}
	if _, ok := in.Int("keyspace", "db0"); ok {
		t.Error("Int of a non-number succeeded")
	}
	if _, ok := in.Int("nosuch", "k"); ok {
		t.Error("Int of a missing section succeeded")
	}
	if _, ok := in.Float("keyspace", "missing"); ok {
		t.Error("Float of a missing key succeeded")
	}
}

func TestParseLatencyLatest(t *testing.T) {
	got := parseLatencyLatest([]any{
		[]any{"command", int64(1700000000), int64(20), int64(25)},
		[]any{"fork", "1700000001", "3", "4"},         // strings are accepted
		[]any{"short", int64(1)},                      // too short
		"not an array",                                // wrong type
		[]any{int64(1), int64(1), int64(1), int64(1)}, // event not a string
		[]any{"bad", int64(1), "x", int64(1)},         // latest not a number
		[]any{"", int64(1), int64(1), int64(1)},       // empty event
	})
	if len(got) != 2 || got[0].Event != "command" || got[0].LatestMS != 20 || got[0].MaxMS != 25 || got[0].At.Unix() != 1700000000 ||
		got[1].Event != "fork" || got[1].MaxMS != 4 {
		t.Errorf("parseLatencyLatest = %+v", got)
	}
	if got := parseLatencyLatest(nil); len(got) != 0 {
		t.Errorf("nil reply: %+v", got)
	}
}

// formatInfo writes in back as INFO text (the "" section first), for the
// round-trip property of the fuzz target.
func formatInfo(in Info) string {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if n != "" {
			b.WriteString("# " + n + "\r\n")
		}
		for k, v := range in[n] {
			b.WriteString(k + ":" + v + "\r\n")
		}
	}
	return b.String()
}

func FuzzParseInfo(f *testing.F) {
	for _, name := range []string{"info_master_7.0.txt", "info_replica_7.0.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n# Replication\r\nslave0:ip=::1,port=1,state=online,offset=1,lag=0\r\n# Errorstats\r\nerrorstat_ERR:count=1\r\n")
	f.Add("k:v\n#\n# \xff\n:\n a b:c\r\r\n")
	f.Fuzz(func(t *testing.T, text string) {
		in := ParseInfo(text)
		for s, m := range in {
			if strings.ContainsAny(s, "\n") || strings.TrimSpace(s) != s {
				t.Fatalf("section %q not clean", s)
			}
			for k, v := range m {
				if k == "" || strings.ContainsAny(k, ":\n") || strings.ContainsAny(v, "\n") {
					t.Fatalf("bad entry %q:%q in %q", k, v, s)
				}
			}
		}
		// The typed readers never panic and return what they promise.
		for _, db := range in.Keyspace() {
			if db.DB < 0 {
				t.Fatalf("negative db %d", db.DB)
			}
		}
		for _, r := range in.Replicas() {
			if r.Addr == "" {
				t.Fatal("replica without address")
			}
		}
		_ = in.ErrorStats()
		// Parsing is a fixed point: what it keeps parses back to itself.
		if again := ParseInfo(formatInfo(in)); !reflect.DeepEqual(again, in) {
			t.Fatalf("round trip changed the parse:\n%#v\n%#v", in, again)
		}
	})
}
