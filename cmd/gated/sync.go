package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"campusgate/gate"
	"campusgate/gate/journal"
	"campusgate/gate/pass"
	"campusgate/sync/gatelink"
	"campusgate/sync/pki"
	"campusgate/sync/wire"
)

// version is gated's build, reported in the status message.
var version = "dev"

// notifyingStore is the journal as the flow sees it: every append is
// counted and, with [sync], wakes the link, so an entry leaves the box as
// soon as it is durable. It is timed before the link is woken: the ack may
// come back before the kick returns.
type notifyingStore struct {
	*journal.Journal
	m    *gateMetrics
	last *appendState
	kick func() // nil without [sync]
}

func (s notifyingStore) Append(e *journal.Entry) error {
	err := s.Journal.Append(e)
	s.last.set(err)
	if err != nil {
		s.m.deviceError("journal")
		return err
	}
	s.m.appendedEntry(e)
	if s.kick != nil {
		s.kick()
	}
	return nil
}

// appendState is the outcome of the journal's last append, for the health the
// console and telemetry show: a full journal still reads, so only a failed
// append tells, and the next one that succeeds clears it.
type appendState struct{ err atomic.Pointer[error] }

func (a *appendState) set(err error) {
	if err == nil {
		a.err.Store(nil)
		return
	}
	a.err.Store(&err)
}

func (a *appendState) get() error {
	if p := a.err.Load(); p != nil {
		return *p
	}
	return nil
}

// counters counts the flow's decisions for telemetry.
type counters struct {
	mu sync.Mutex
	c  wire.Counters
}

func (c *counters) watch(ctx context.Context, flow *gate.Flow) {
	events, cancel := flow.Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			c.mu.Lock()
			switch {
			case ev.State == gate.StateReferred:
				c.c.Referred++
			case ev.Decision == "admit":
				c.c.Admitted++
			case ev.Decision == "deny":
				c.c.Denied++
				if ev.Reason == gate.ReasonFever {
					c.c.Fevers++
				}
			}
			c.mu.Unlock()
		}
	}
}

func (c *counters) get() wire.Counters { c.mu.Lock(); defer c.mu.Unlock(); return c.c }

// newLink builds the gate's link to the school server from [sync].
func (d *daemon) newLink(j *journal.Journal, v *pass.Verifier, localKeys map[string]bool, hw *hardware, cnt *counters) (*gatelink.Link, error) {
	sc := d.cfg.Sync
	password := sc.Password
	if sc.PasswordFile != "" {
		p, err := firstLine(sc.PasswordFile)
		if err != nil {
			return nil, errConfig{fmt.Errorf("sync.password_file: %w", err)}
		}
		password = p
	}
	tlsCfg, err := clientTLS(sc.CAFile, sc.CertFile, sc.KeyFile)
	if err != nil {
		return nil, errConfig{err}
	}
	user := sc.Username
	if user == "" {
		user = d.cfg.GateID
	}
	dial, err := gatelink.PahoDialer(gatelink.PahoOpts{Broker: sc.Broker, ClientID: d.cfg.GateID, Username: user, Password: password,
		TLS: tlsCfg, KeepAlive: sc.KeepAlive.Duration})
	if err != nil {
		return nil, errConfig{err}
	}
	health := hw.health(j, &d.appends)
	start := time.Now()
	boot := gate.BootID()
	var cmds *wire.CmdVerifier
	if sc.CommandKey != "" {
		pub, kid, err := pass.LoadPublicKey(sc.CommandKey)
		if err != nil {
			return nil, errConfig{fmt.Errorf("sync.command_key: %w", err)}
		}
		cmds = &wire.CmdVerifier{Keys: map[string]ed25519.PublicKey{kid: pub}, School: d.cfg.SchoolID, Gate: d.cfg.GateID,
			Started: start, Skew: time.Minute, Nonces: j}
	}
	return gatelink.New(gatelink.Opts{
		School: d.cfg.SchoolID, Gate: d.cfg.GateID, Dial: dial, Store: j, Version: version,
		Batch: sc.Batch, Window: sc.Window, AckTimeout: sc.AckTimeout.Duration, TelemetryEvery: sc.TelemetryEvery.Duration,
		Silence:   sc.KeepAlive.Duration * 3 / 2,
		AckedSeqs: d.metrics.acked,
		Logger:    d.log,
		Handlers: gatelink.Handlers{
			Keys:        func(k wire.Keys) error { return applyKeys(j, v, localKeys, k) },
			Revocations: func(r wire.Revocations) error { return applyRevocations(j, v, r) },
			Config: func(c wire.Config) error {
				// Each document is the school's whole say, over this box's own
				// file: checked, kept in the journal (so it holds after a
				// restart), and in force from the next person on.
				next, err := d.fileCfg.Overlay(c.TOML)
				if err != nil {
					return fmt.Errorf("config version %d: %w", c.Version, err)
				}
				if err := j.PutConfig(c.Version, []byte(c.TOML)); err != nil {
					return err
				}
				if err := d.flow.Reconfigure(next); err != nil {
					return err
				}
				d.log.Info("config from the school in force from the next person", "version", c.Version,
					"threshold_c", next.Temperature.ThresholdC)
				return nil
			},
			Command: func(c wire.Cmd) error { return d.command(cmds, c) },
			Telemetry: func() wire.Telemetry {
				return wire.Telemetry{Devices: health(), Counters: cnt.get(), ClockSynced: gate.ClockSynced(),
					UptimeS: int64(time.Since(start).Seconds()), Boot: boot, MonoNS: int64(gate.Uptime())}
			},
		},
	})
}

// applyKeys makes the school's key set the trusted one, keeping keys given
// with -keys on this box.
func applyKeys(j *journal.Journal, v *pass.Verifier, local map[string]bool, k wire.Keys) error {
	stored := map[string][]byte{}
	want := map[string]bool{}
	for _, key := range k.Keys {
		pem, err := pass.MarshalPublicKey(ed25519.PublicKey(key.Public), key.KID)
		if err != nil {
			return fmt.Errorf("key %s: %w", key.KID, err)
		}
		stored[key.KID] = pem
		want[key.KID] = true
	}
	if err := j.ReplaceKeys(stored); err != nil {
		return err
	}
	for _, key := range k.Keys {
		if err := v.Keys.Add(key.KID, key.Public); err != nil {
			return err
		}
	}
	for _, kid := range v.Keys.KeyIDs() {
		if !want[kid] && !local[kid] {
			v.Keys.Remove(kid)
		}
	}
	return nil
}

func applyRevocations(j *journal.Journal, v *pass.Verifier, r wire.Revocations) error {
	for _, p := range r.Passes {
		if err := j.Revoke(p.ID, p.Until); err != nil {
			return err
		}
		v.Revoked.Add(p.ID, p.Until)
	}
	return nil
}

func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return "", fmt.Errorf("%s is empty", path)
	}
	return strings.TrimSpace(sc.Text()), nil
}

func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" {
		return nil, nil
	}
	cfg, err := pki.ClientTLS(caFile, certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("sync.ca_file/cert_file/key_file: %w", err)
	}
	return cfg, nil
}

// command checks and runs a signed command from the school server; a refused
// one is reported back as an alert, so the school sees that (and why) it did
// not happen.
func (d *daemon) command(v *wire.CmdVerifier, c wire.Cmd) error {
	refuse := func(reason string, err error) error {
		if d.link != nil {
			d.link.CommandRefused(reason, err.Error())
		}
		return err
	}
	if v == nil {
		return refuse("not_configured", errors.New("this gate has no sync.command_key: commands are refused"))
	}
	claims, err := v.Verify(c.Signed, time.Now())
	if err != nil {
		reason, _ := wire.IsCmdRefusal(err)
		return refuse(reason, err)
	}
	switch claims.Kind {
	case wire.CmdOpen:
		if err := d.flow.RemoteOpen(claims.By, claims.Reason); err != nil {
			return refuse("not_done", err)
		}
	case wire.CmdResync:
		d.link.Resync()
		d.log.Info("re-sync asked by the school", "by", claims.By)
	}
	return nil
}
