package config

import "testing"

func TestFromEnvCaches(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.EntityCacheMB != 1 || c.ResponseCacheMB != 32 || c.DBPreparedStatements != 128 {
		t.Fatalf("defaults: entity cache %d MB, response cache %d MB, prepared statements %d; want 1, 32 and 128",
			c.EntityCacheMB, c.ResponseCacheMB, c.DBPreparedStatements)
	}
	c, err = FromEnv(env(map[string]string{"INKWELL_ENTITY_CACHE_MB": "0", "INKWELL_RESPONSE_CACHE_MB": "0", "INKWELL_DB_PREPARED_STATEMENTS": "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EntityCacheMB != 0 || c.ResponseCacheMB != 0 || c.DBPreparedStatements != 0 {
		t.Fatalf("0 turns them off: got %d, %d and %d", c.EntityCacheMB, c.ResponseCacheMB, c.DBPreparedStatements)
	}
	for _, bad := range []map[string]string{
		{"INKWELL_ENTITY_CACHE_MB": "-1"},
		{"INKWELL_ENTITY_CACHE_MB": "lots"},
		{"INKWELL_RESPONSE_CACHE_MB": "-1"},
		{"INKWELL_RESPONSE_CACHE_MB": "70000"},
		{"INKWELL_DB_PREPARED_STATEMENTS": "-1"},
		{"INKWELL_DB_PREPARED_STATEMENTS": "5000"},
	} {
		if _, err := FromEnv(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
