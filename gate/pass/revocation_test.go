package pass

import (
	"strings"
	"testing"
	"time"
)

func TestRevocations(t *testing.T) {
	var r Revocations
	if r.Contains("a") || r.Len() != 0 || r.Prune(t0) != 0 {
		t.Fatal("zero value")
	}
	r.Add("a", t0)
	r.Add("b", t0.Add(time.Hour))
	r.Add("c", time.Time{})        // for ever
	r.Add("a", t0.Add(-time.Hour)) // earlier until does not shorten
	r.Add("b", time.Time{})        // for ever wins
	r.Add("c", t0)                 // and stays
	if r.Len() != 3 || !r.Contains("a") || r.Contains("d") {
		t.Fatal("Add/Contains")
	}
	if n := r.Prune(t0); n != 0 {
		t.Fatalf("pruned %d at until itself", n)
	}
	if n := r.Prune(t0.Add(time.Second)); n != 1 || r.Contains("a") {
		t.Fatalf("pruned %d, a still there: %v", n, r.Contains("a"))
	}
	if n := r.Prune(t0.Add(1000 * time.Hour)); n != 0 || r.Len() != 2 {
		t.Fatalf("for-ever entries pruned: %d", n)
	}
	if !r.Remove("b") || r.Remove("b") {
		t.Fatal("Remove")
	}
}

func TestVerifierPruneAllowsSkew(t *testing.T) {
	k := newKit(t)
	k.v.Skew = 2 * time.Minute
	c := testClaims()
	code := k.issue(t, c)
	k.v.Revoked.Add(c.PassID, c.Expiry)
	now := c.Expiry.Add(time.Minute) // past exp but within skew: still accepted if not revoked
	if n := k.v.Prune(now); n != 0 {
		t.Fatalf("pruned %d entries still needed within the skew", n)
	}
	_, err := k.v.Verify(code, now)
	wantReason(t, err, ReasonRevoked)
	if n := k.v.Prune(c.Expiry.Add(3 * time.Minute)); n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	if (&Verifier{}).Prune(now) != 0 {
		t.Fatal("nil list")
	}
}

func TestParseRevocations(t *testing.T) {
	r, err := ParseRevocations(strings.NewReader(`# revoked by the office
a1b2c3d4e5f60718 2025-03-09T00:00:00+08:00

  visitor-0042
`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 || !r.Contains("a1b2c3d4e5f60718") || !r.Contains("visitor-0042") {
		t.Fatalf("parsed %d entries", r.Len())
	}
	if n := r.Prune(time.Date(2025, 3, 9, 0, 0, 1, 0, time.FixedZone("CST", 8*3600))); n != 1 {
		t.Fatalf("until not parsed: pruned %d", n)
	}
	for in, want := range map[string]string{
		"a b c\n":                      "line 1: 3 fields",
		"ok\nbad/id\n":                 "line 2: pass id",
		"x 2025-13-01\n":               "line 1: until",
		"x yesterday\n":                "line 1: until",
		strings.Repeat("y", 65) + "\n": "at most 64",
	} {
		if _, err := ParseRevocations(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
}
