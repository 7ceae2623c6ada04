package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/gate"
	"campusgate/gate/journal"

	"golang.org/x/crypto/bcrypt"
)

type fakeFlow struct {
	mu      sync.Mutex
	actions []gate.GuardAction
	subs    []chan gate.Event
	err     error
}

func (f *fakeFlow) Subscribe() (<-chan gate.Event, func()) {
	c := make(chan gate.Event, 4)
	c <- f.Current()
	f.mu.Lock()
	f.subs = append(f.subs, c)
	f.mu.Unlock()
	return c, func() {}
}

func (f *fakeFlow) publish(ev gate.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		c <- ev
	}
}

func (f *fakeFlow) Current() gate.Event {
	return gate.Event{State: gate.StateReady, Message: gate.StateReady.Message()}
}

func (f *fakeFlow) Guard(_ context.Context, a gate.GuardAction) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.err
}

type fakeRecent struct{}

func (fakeRecent) Last(int) ([]journal.Entry, error) {
	return []journal.Entry{{PersonID: "P20260101", Decision: "admit", Reason: "ok", BodyC: 36.6, Time: time.Now()}}, nil
}
func (fakeRecent) Backlog() (int, error) { return 3, nil }
func (fakeRecent) Person(id string) (journal.Person, bool, error) {
	if id == "P20260101" {
		return journal.Person{ID: id, Name: "王小明", Class: "1-2"}, true, nil
	}
	return journal.Person{}, false, nil
}

func newServer(t *testing.T) (*Server, *fakeFlow) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("2468"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFlow{}
	return New(f, fakeRecent{}, Opts{GateID: "north-1", PINHash: string(hash),
		Health: func() map[string]string { return map[string]string{"sensor": "ok"} }}), f
}

func do(s *Server, method, path, remote, body string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestPageFromLoopback(t *testing.T) {
	s, _ := newServer(t)
	w := do(s, "GET", "/", "127.0.0.1:5000", "", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "门卫控制台") || !strings.Contains(w.Body.String(), "P20260101") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = do(s, "GET", "/api/status", "127.0.0.1:5000", "", nil)
	var st statusView
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Backlog != 3 || st.Health["sensor"] != "ok" {
		t.Fatalf("status %s %v", w.Body, err)
	}
	if len(st.Recent) != 1 || st.Recent[0].Name != "王小明" || st.Recent[0].ReasonText.ZH != "正常" {
		t.Fatalf("recent rows lack the roster name or the reason in words: %+v", st.Recent)
	}
}

func TestLANNeedsPIN(t *testing.T) {
	s, f := newServer(t)
	if w := do(s, "GET", "/", "192.168.1.20:5000", "", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("no PIN from the LAN: %d", w.Code)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.168.1.20:5000"
	r.SetBasicAuth("guard7", "1357")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong PIN: %d", w.Code)
	}
	r = httptest.NewRequest("POST", "/api/guard", strings.NewReader(`{"kind":"admit","guard_id":"spoofed","reason":"体温复测正常"}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "192.168.1.20:5000"
	r.SetBasicAuth("guard7", "2468")
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("right PIN: %d %s", w.Code, w.Body)
	}
	if f.actions[0].GuardID != "guard7" {
		t.Errorf("the action is recorded as %q, want the authenticated guard", f.actions[0].GuardID)
	}
}

func TestGuardRequests(t *testing.T) {
	s, f := newServer(t)
	if w := do(s, "POST", "/api/guard", "127.0.0.1:1", `{"kind":"admit","guard_id":"g1","reason":"ok"}`,
		map[string]string{"Sec-Fetch-Site": "cross-site"}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", w.Code)
	}
	if w := do(s, "POST", "/api/guard", "127.0.0.1:1", `{"kind":"admit", "bogus": 1}`, nil); w.Code != http.StatusBadRequest {
		t.Errorf("unknown field: %d", w.Code)
	}
	if w := do(s, "POST", "/api/guard", "127.0.0.1:1", `{not json`, nil); w.Code != http.StatusBadRequest {
		t.Errorf("bad JSON: %d", w.Code)
	}
	f.err = gate.ErrNobodyReferred
	if w := do(s, "POST", "/api/guard", "127.0.0.1:1", `{"kind":"admit","guard_id":"g1","reason":"ok"}`, nil); w.Code != http.StatusConflict {
		t.Errorf("nobody referred: %d", w.Code)
	}
	if w := do(s, "POST", "/api/sim/present", "127.0.0.1:1", `{"code":"x"}`, nil); w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed {
		t.Errorf("sim endpoint outside simulation: %d", w.Code)
	}
}

func TestEventsStream(t *testing.T) {
	s, f := newServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.publish(gate.Event{State: gate.StateDenied, Reason: gate.ReasonFever, Message: gate.ReasonFever.Message()})
	}()
	sc := bufio.NewScanner(resp.Body)
	var got []gate.Event
	for sc.Scan() && len(got) < 2 {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev gate.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
	}
	if len(got) != 2 || got[0].State != gate.StateReady || got[1].Reason != gate.ReasonFever {
		t.Fatalf("events %+v", got)
	}
}

func TestPINLockout(t *testing.T) {
	now := time.Date(2026, 9, 1, 7, 30, 0, 0, time.UTC)
	hash, _ := bcrypt.GenerateFromPassword([]byte("246810"), bcrypt.MinCost)
	s := New(&fakeFlow{}, fakeRecent{}, Opts{GateID: "north-1", PINHash: string(hash), Now: func() time.Time { return now }})
	try := func(ip, pin string) int {
		r := httptest.NewRequest("GET", "/api/status", nil)
		r.RemoteAddr = ip + ":5000"
		r.SetBasicAuth("guard7", pin)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		return w.Code
	}
	for i := range maxFails - 1 {
		if c := try("192.168.1.20", fmt.Sprint(100000+i)); c != http.StatusUnauthorized {
			t.Fatalf("wrong PIN %d: %d", i, c)
		}
	}
	if c := try("192.168.1.20", "999999"); c != http.StatusTooManyRequests {
		t.Fatalf("wrong PIN %d: %d, want 429", maxFails, c)
	}
	if c := try("192.168.1.20", "246810"); c != http.StatusTooManyRequests {
		t.Fatalf("the right PIN during the lockout: %d, want 429", c)
	}
	if c := try("192.168.1.21", "246810"); c != http.StatusOK {
		t.Fatalf("another client is not locked out: %d", c)
	}
	now = now.Add(lockout + time.Second)
	if c := try("192.168.1.20", "246810"); c != http.StatusOK {
		t.Fatalf("after the lockout: %d", c)
	}
	// Remembered, then forgotten after goodFor; a changed PIN is never taken from the cache.
	if c := try("192.168.1.20", "246811"); c != http.StatusUnauthorized {
		t.Fatalf("wrong PIN after a good one: %d", c)
	}
	now = now.Add(goodFor + time.Second)
	if c := try("192.168.1.20", "246810"); c != http.StatusOK {
		t.Fatalf("good PIN after the cache expired: %d", c)
	}
}
