package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"campusgate/device/indicator"
	"campusgate/device/scanner"
	"campusgate/device/simbox"

	"periph.io/x/conn/v3/physic"
)

type simPerson struct{ id, name, role string }

var simPeople = []simPerson{
	{"P20260101", "王小明", "学生 pupil"},
	{"P20260102", "李华", "学生 pupil"},
	{"P20260215", "张梓涵", "学生 pupil"},
	{"T0042", "陈老师", "教职工 staff"},
	{"V7f3a", "刘先生", "访客 visitor"},
}

func sim(ctx context.Context, e *env, args []string) error {
	fset := e.flags("sim")
	n := fset.Int("people", 0, "people to let through, then stop (0: until Ctrl-C)")
	interval := fset.Duration("interval", 1500*time.Millisecond, "time between people")
	feverRate := fset.Float64("fever-rate", 0.15, "share of people with a fever")
	seed := fset.Uint64("seed", 0, "random seed (0: from the clock)")
	sensor := fset.String("sensor", "mlx90614", "emulated sensor: mlx90614 or mlx90632")
	if err := parse(fset, args); err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	b, err := simbox.New(&simbox.Opts{Sensor: *sensor, Quiet: true, Logger: e.log})
	if err != nil {
		return fmt.Errorf("simulated gate box: %w", err)
	}
	defer b.Close()

	fmt.Fprintln(e.out, "模拟闸机 simulated gate box — emulated chips, real drivers")
	fmt.Fprintf(e.out, "  thermometer: %s\n  scanner: %s on %s\n  relay: %s\n  lights: %s\n",
		b.Thermometer, b.Scanner, b.ScannerPath(), b.Relay, b.Lights)
	fmt.Fprintln(e.out, "按 Ctrl-C 停止 · Ctrl-C to stop")

	for i := 0; *n == 0 || i < *n; i++ {
		p := simPeople[rng.IntN(len(simPeople))]
		skin := 36.0 + rng.Float64()*0.8
		if rng.Float64() < *feverRate {
			skin = 37.5 + rng.Float64()*1.2
		}
		if err := simPersonAt(ctx, e, b, p, skin); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
	return nil
}

// simPersonAt walks one person through the devices: scan, forehead, sensor, light and relay.
func simPersonAt(ctx context.Context, e *env, b *simbox.Box, p simPerson, skin float64) error {
	_ = b.Lights.Show(indicator.Ready)
	if err := b.Scan("CG1:" + p.id); err != nil {
		return fmt.Errorf("emulated scan: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	code, err := b.Scanner.Next(sctx)
	cancel()
	if err != nil {
		var fe *scanner.FrameError
		if errors.As(err, &fe) {
			fmt.Fprintf(e.out, "扫码失败 bad scan: %v\n", err)
			return nil
		}
		return fmt.Errorf("scanner: %w", err)
	}
	b.SetForehead(physic.ZeroCelsius + physic.Temperature(skin*1e3)*physic.MilliKelvin)
	defer b.Leave()
	obj, amb, err := b.Thermometer.Measure(ctx)
	if err != nil {
		_ = b.Lights.Show(indicator.Fault)
		fmt.Fprintf(e.out, "测温失败 sensor error: %v\n", err)
		return nil
	}
	line := fmt.Sprintf("%s %s %-8s 码 %-16q %s %.2f °C (环境 ambient %.2f)",
		time.Now().Format("15:04:05"), p.role, p.name, code.Text, b.SensorName, celsius(obj), celsius(amb))
	if celsius(obj) >= 37.3 {
		_ = b.Lights.Show(indicator.Stop)
		fmt.Fprintf(e.out, "%s → 体温异常 STOP\n", line)
		return nil
	}
	if err := b.Relay.Open(0); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	_ = b.Lights.Show(indicator.Pass)
	fmt.Fprintf(e.out, "%s → 通过 PASS (relay pulsed)\n", line)
	return nil
}
