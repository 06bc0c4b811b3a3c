package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"inkwell/internal/ratelimit"
)

func TestRateLimitsAndShedding(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := FromEnv(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.RateLimits, ratelimit.DefaultRules()) || c.RedisURL != "" || c.TrustedProxies != nil {
			t.Errorf("rate limit defaults: %+v, %q, %v", c.RateLimits, c.RedisURL, c.TrustedProxies)
		}
		if c.MaxInFlight != 3*c.DBMaxConns || c.QueueWait != 100*time.Millisecond {
			t.Errorf("shedding defaults: %d in flight (pool %d), wait %v", c.MaxInFlight, c.DBMaxConns, c.QueueWait)
		}
	})

	t.Run("values", func(t *testing.T) {
		c, err := FromEnv(env(map[string]string{
			"INKWELL_RATE_SIGNIN":       "10/1m",
			"INKWELL_RATE_SIGNUP_ADDR":  "off",
			"INKWELL_RATE_REFRESH_ADDR": "100/1h",
			"REDIS_URL":                 "redis://cache:6379/0",
			"INKWELL_TRUSTED_PROXIES":   "10.0.0.0/8, 192.168.1.7",
			"INKWELL_DB_MAX_CONNS":      "10",
			"INKWELL_QUEUE_WAIT":        "250ms",
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := ratelimit.DefaultRules()
		want[ratelimit.SignIn] = ratelimit.Rule{Account: ratelimit.Limit{N: 10, Per: time.Minute}, Address: want[ratelimit.SignIn].Address}
		want[ratelimit.SignUp] = ratelimit.Rule{Account: want[ratelimit.SignUp].Account}
		want[ratelimit.Refresh] = ratelimit.Rule{Account: want[ratelimit.Refresh].Account, Address: ratelimit.Limit{N: 100, Per: time.Hour}}
		if !reflect.DeepEqual(c.RateLimits, want) {
			t.Errorf("rules = %+v, want %+v", c.RateLimits, want)
		}
		proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}
		if c.RedisURL != "redis://cache:6379/0" || !reflect.DeepEqual(c.TrustedProxies, proxies) {
			t.Errorf("redis %q, proxies %v", c.RedisURL, c.TrustedProxies)
		}
		if c.MaxInFlight != 30 || c.QueueWait != 250*time.Millisecond {
			t.Errorf("in flight %d, wait %v; want 30 (three per connection), 250ms", c.MaxInFlight, c.QueueWait)
		}
		c, err = FromEnv(env(map[string]string{"INKWELL_MAX_IN_FLIGHT": "500"}))
		if err != nil || c.MaxInFlight != 500 {
			t.Errorf("INKWELL_MAX_IN_FLIGHT=500: %d, %v", c.MaxInFlight, err)
		}
	})

	t.Run("bad values are named", func(t *testing.T) {
		_, err := FromEnv(env(map[string]string{
			"INKWELL_RATE_SIGNIN":     "many",
			"INKWELL_RATE_REFRESH":    "5/0s",
			"INKWELL_TRUSTED_PROXIES": "everyone",
			"INKWELL_MAX_IN_FLIGHT":   "0",
			"INKWELL_QUEUE_WAIT":      "soon",
		}))
		for _, name := range []string{"INKWELL_RATE_SIGNIN", "INKWELL_RATE_REFRESH", "INKWELL_TRUSTED_PROXIES",
			"INKWELL_MAX_IN_FLIGHT", "INKWELL_QUEUE_WAIT"} {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("error %v does not name %s", err, name)
			}
		}
	})
}
