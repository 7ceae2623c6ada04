package main

import (
	"campusgate/cmd/internal/demo"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"campusgate/gate"
	"campusgate/gate/console"
	"campusgate/gate/journal"
	"campusgate/gate/pass"
)

// seedDemo gives a simulated gate a school key (kept beside the journal), the
// demo roster with today's morning reports, and prints sample passes, so a
// newcomer can present someone at once.
func seedDemo(j *journal.Journal, v *pass.Verifier, out io.Writer, cfg gate.Config, demoKey string) error {
	keyPath := demoKey
	if keyPath == "" {
		keyPath = filepath.Join(filepath.Dir(cfg.Journal), "demo-school.key")
	}
	priv, kid, err := pass.LoadOrCreatePrivateKey(keyPath, "")
	if err != nil {
		return fmt.Errorf("demo school key: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if err := v.Keys.Add(kid, pub); err != nil {
		return err
	}
	people := demo.People(time.Now())
	ver, err := j.RosterVersion()
	if err != nil {
		return err
	}
	// A gate that syncs keeps the school's roster once it has one: seeding a
	// newer version over it would make the gate refuse the school's next
	// roster (same version or older) and the console's changes with it.
	// Standalone, the demo roster is seeded again for today's morning reports.
	if cfg.Sync.Broker == "" || ver == 0 {
		if err := j.ReplaceRoster(ver+1, people); err != nil {
			return err
		}
	}
	iss, err := pass.NewIssuer(priv, kid)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "模拟学校 demo school: sample passes (valid 24 h) · present one with:")
	fmt.Fprintf(out, "  curl -s -X POST http://%s/api/sim/present -H 'Content-Type: application/json' -d '{\"code\": \"<code>\", \"temperature_c\": 36.6}'\n", cfg.Console.Listen)
	for _, p := range people {
		health := pass.HealthGreen
		code, err := iss.Issue(pass.Claims{Issuer: cfg.SchoolID, Subject: p.ID, Role: pass.Role(p.Role), Health: health, Expiry: time.Now().Add(24 * time.Hour)})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-10s %-4s %-7s %s\n", p.ID, p.Name, p.Role, code)
	}
	if cfg.Identity.AllowPlainIDs {
		fmt.Fprintln(out, "  plain campus card ids are allowed too (low assurance): C0101, C0102, C0215, C9042")
	}
	return nil
}

// demoLoop presents a random demo person every interval, the way a morning at
// the gate looks: mostly normal temperatures, now and then a fever or a parent.
func demoLoop(ctx context.Context, p console.Presenter, every time.Duration, out io.Writer) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	cards := []string{"C0101", "C0102", "C0215", "M0101"}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		card := cards[rng.IntN(len(cards))]
		temp := 36.2 + rng.Float64()*0.8
		if rng.IntN(8) == 0 {
			temp = 37.6 + rng.Float64()*1.0
		}
		ev, err := p.Present(ctx, card, temp)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(out, "demo: %v\n", err)
			}
			continue
		}
		name := card
		if ev.Person != nil && ev.Person.Name != "" {
			name = ev.Person.Name
		}
		fmt.Fprintf(out, "%s %-6s %-5s %.1f °C → %-6s %s · %s\n", time.Now().Format("15:04:05"), card, name, temp, ev.Decision, ev.Message.ZH, ev.Message.EN)
	}
}
