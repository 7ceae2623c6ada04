package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"campusgate/device/indicator"
	"campusgate/device/scanner"
	"campusgate/gate"
	"campusgate/gate/journal"

	"periph.io/x/conn/v3/physic"
)

// unpluggedTherm answers nothing until it is plugged in.
type unpluggedTherm struct {
	mu      sync.Mutex
	plugged bool
	n       int
}

func (u *unpluggedTherm) Measure(context.Context) (physic.Temperature, physic.Temperature, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.plugged {
		return 0, 0, errors.New("mlx90614: read Tobj1: i2c: NACK")
	}
	u.n++
	return gate.FromCelsius(24) + physic.Temperature(u.n%5)*20*physic.MilliKelvin, gate.FromCelsius(24), nil
}

type idleScanner struct{}

func (idleScanner) Next(ctx context.Context) (scanner.Code, error) {
	<-ctx.Done()
	return scanner.Code{}, ctx.Err()
}

type darkLights struct{}

func (darkLights) Show(indicator.Signal) error { return nil }

// The telemetry's devices (and the console's) carry the gate's judgement of
// the sensor over time: not responding while it is gone, ok once it is back.
func TestHealthShowsSensorFault(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), &journal.Opts{GateID: "north-1", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	therm := &unpluggedTherm{}
	h := &hardware{therm: &watchedTherm{Thermometer: therm, failed: func() {}}}
	h.devices = gate.Devices{Thermometer: h.therm, SensorName: "mlx90614", Scanner: idleScanner{}, Gate: noGate{}, Lights: darkLights{}}
	cfg := gate.DefaultConfig()
	cfg.GateID, cfg.Journal = "north-1", "unused"
	cfg.Temperature.Sensor.ProbeInterval = gate.Duration{Duration: 5 * time.Millisecond}
	flow, err := gate.New(cfg, h.devices, j, &gate.Opts{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h.flow.Store(flow)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = flow.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	health := h.health(j, &appendState{})
	wait := func(prefix string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.HasPrefix(health()["sensor"], prefix) {
			if time.Now().After(deadline) {
				t.Fatalf("devices %v, want sensor %q…", health(), prefix)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("测温传感器无响应 sensor not responding: ")
	therm.mu.Lock()
	therm.plugged = true
	therm.mu.Unlock()
	wait("ok")
}
