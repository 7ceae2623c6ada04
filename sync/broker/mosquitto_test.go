package broker

import (
	"net"
	"strings"
	"testing"

	"campusgate/sync/broker/mosquittotest"
)

// startMosquitto runs a real mosquitto with deploy/mosquitto's configuration
// and the test users (see mosquittotest).
func startMosquitto(t *testing.T) target {
	t.Helper()
	users := map[string]string{}
	for _, u := range testUsers {
		if u.acc.Role == RoleGate && u.acc.School != "hz" {
			continue // mosquitto's ACL is for one school
		}
		users[u.user] = u.pass
	}
	// A second campusd instance gets its own user, as the README says.
	mq := mosquittotest.Start(t, mosquittotest.Opts{School: "hz", Users: users, Log: testing.Verbose(),
		ExtraACL: "user campusd-2@hz\ntopic readwrite campusgate/v1/#\n"})
	// A listener option above the first `listener` line would open a default
	// listener on port 1883 of every interface.
	_, port, _ := net.SplitHostPort(mq.Addr)
	for _, l := range mq.Listens() {
		if !strings.HasSuffix(l, "port "+port+".") || !strings.HasPrefix(l, "ipv4") {
			t.Errorf("mosquitto with deploy/mosquitto's config opened %q; want only 127.0.0.1:%s", l, port)
		}
	}
	return target{addr: mq.Addr}
}

func TestMosquittoACL(t *testing.T) {
	checkACL(t, startMosquitto(t))
}

func TestMosquittoSharedSubscription(t *testing.T) {
	checkShared(t, startMosquitto(t))
}
