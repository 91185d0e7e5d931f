package sqlstore

// SchemaV1 is the first schema version of each dialect: what a database
// an older binary created holds, for the tests of what Open adds to one.
var SchemaV1 = map[string]string{"sqlite": sqliteMigrations[0], "postgres": pgMigrations[0]}

// PGIndexNames are the indexes Open builds in the background on
// PostgreSQL.
var PGIndexNames = func() []string {
	var out []string
	for _, ix := range pgIndexes {
		out = append(out, ix.name)
	}
	return out
}()
