package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"campusgate/device/board"
	"campusgate/device/mlx90614"
	"campusgate/device/mlx90614/mlx90614sim"
	"campusgate/device/mlx90632"
	"campusgate/device/mlx90632/mlx90632sim"
	"campusgate/gate"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// thermometer is what hw temp and the simulated gate need of either chip.
type thermometer interface {
	// Measure returns one object and one ambient reading.
	Measure(ctx context.Context) (object, ambient physic.Temperature, err error)
	String() string
	Halt() error
}

// newThermometer starts the named chip's driver on b (addr 0 = the chip's default).
func newThermometer(b i2c.Bus, chip string, addr uint16) (thermometer, error) {
	switch chip {
	case "mlx90614":
		o := mlx90614.DefaultOpts
		if addr != 0 {
			o.Addr = addr
		}
		d, err := mlx90614.New(b, &o)
		if err != nil {
			return nil, err
		}
		return d, nil
	case "mlx90632":
		o := mlx90632.DefaultOpts
		if addr != 0 {
			o.Addr = addr
		}
		return mlx90632.New(b, &o)
	}
	return nil, fmt.Errorf("unknown chip %q (mlx90614 or mlx90632)", chip)
}

// simulatedBus returns an emulated chip of the named kind holding a forehead at obj.
func simulatedBus(chip string, obj physic.Temperature) (i2c.Bus, error) {
	switch chip {
	case "mlx90614":
		c := mlx90614sim.New(mlx90614.DefaultAddr)
		c.SetObject(obj)
		return c, nil
	case "mlx90632":
		c := mlx90632sim.New(mlx90632.DefaultAddr)
		c.SetObject(obj)
		return c, nil
	}
	return nil, fmt.Errorf("unknown chip %q (mlx90614 or mlx90632)", chip)
}

// probeThermometers says which of our chips answer at their default addresses.
func probeThermometers(b i2c.Bus) []string {
	var found []string
	for _, chip := range []string{"mlx90614", "mlx90632"} {
		t, err := newThermometer(b, chip, 0)
		if err != nil {
			found = append(found, fmt.Sprintf("%s: not found (%v)", chip, err))
			continue
		}
		found = append(found, fmt.Sprintf("%s: answers", t))
	}
	return found
}

func hwTemp(ctx context.Context, e *env, args []string) error {
	fset := e.flags("hw temp")
	chip := fset.String("chip", "mlx90614", "sensor: mlx90614 or mlx90632")
	busName := fset.String("bus", "", "I²C bus name or number (default: the first)")
	addrStr := fset.String("addr", "", "I²C address, e.g. 0x5a (default: the chip's)")
	n := fset.Int("n", 10, "number of readings")
	interval := fset.Duration("interval", 200*time.Millisecond, "pause between readings")
	simulate := fset.Bool("simulate", false, "use an emulated chip holding 36.6 °C")
	if err := parse(fset, args); err != nil {
		return err
	}
	var addr uint16
	if *addrStr != "" {
		v, err := strconv.ParseUint(*addrStr, 0, 7)
		if err != nil {
			fmt.Fprintf(e.errw, "gatectl hw temp: bad -addr %q: want a 7-bit address like 0x5a\n", *addrStr)
			return errUsage
		}
		addr = uint16(v)
	}
	if *n < 1 {
		fmt.Fprintln(e.errw, "gatectl hw temp: -n must be at least 1")
		return errUsage
	}

	var bus i2c.Bus
	if *simulate {
		b, err := simulatedBus(*chip, physic.ZeroCelsius+36600*physic.MilliKelvin)
		if err != nil {
			return err
		}
		bus = b
	} else {
		b, err := board.OpenBus(*busName)
		if err != nil {
			return err
		}
		defer b.Close()
		bus = b
	}
	t, err := newThermometer(bus, *chip, addr)
	if err != nil {
		return board.Explain(fmt.Errorf("%w (check the wiring, the address with i2cdetect, and pull-ups on SDA/SCL)", err))
	}
	defer t.Halt()
	fmt.Fprintf(e.out, "%s on %s\n", t, bus)

	var (
		errs             int
		minT, maxT, sumT = math.Inf(1), math.Inf(-1), 0.0
		minD, maxD, sumD time.Duration
		ok               int
	)
	for i := 1; i <= *n; i++ {
		start := time.Now()
		obj, amb, err := t.Measure(ctx)
		took := time.Since(start)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			errs++
			fmt.Fprintf(e.out, "#%-3d error after %v: %v\n", i, took.Round(time.Microsecond), err)
		} else {
			ok++
			c := gate.Celsius(obj)
			fmt.Fprintf(e.out, "#%-3d object %6.2f °C  ambient %6.2f °C  read %v\n", i, c, gate.Celsius(amb), took.Round(time.Microsecond))
			minT, maxT, sumT = math.Min(minT, c), math.Max(maxT, c), sumT+c
			if ok == 1 || took < minD {
				minD = took
			}
			maxD = max(maxD, took)
			sumD += took
		}
		if i < *n {
			select {
			case <-ctx.Done():
			case <-time.After(*interval):
			}
		}
	}
	fmt.Fprintf(e.out, "%d readings, %d errors\n", ok, errs)
	if ok > 0 {
		fmt.Fprintf(e.out, "object min/avg/max %.2f/%.2f/%.2f °C; read time min/avg/max %v/%v/%v\n",
			minT, sumT/float64(ok), maxT, minD.Round(time.Microsecond), (sumD / time.Duration(ok)).Round(time.Microsecond), maxD.Round(time.Microsecond))
	}
	if ok == 0 {
		return fmt.Errorf("no valid reading from %s", t)
	}
	return nil
}
