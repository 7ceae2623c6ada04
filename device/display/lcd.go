package display

import (
	"fmt"
	"sync"

	"campusgate/device/charlcd"

	"periph.io/x/conn/v3/i2c"
)

// LCD shows screens on a 16×2 HD44780: the kind and the temperature on the
// first row ("PASS 36.6C"), the reason on the second.
type LCD struct {
	mu  sync.Mutex // both rows of one Show before the next
	dev *charlcd.Dev
}

// NewLCD initialises the LCD's backpack at addr.
func NewLCD(bus i2c.Bus, addr uint16) (*LCD, error) {
	d, err := charlcd.New(bus, addr)
	if err != nil {
		return nil, fmt.Errorf("display: %w", err)
	}
	return &LCD{dev: d}, nil
}

// Show writes both rows; each is one I²C write, overwriting the old text.
func (l *LCD) Show(s Screen) error {
	first, second := s.lines(charlcd.Cols)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.dev.Print(0, first); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	if err := l.dev.Print(1, second); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	return nil
}

// Close blanks the LCD and turns off its backlight.
func (l *LCD) Close() error {
	if err := l.dev.Halt(); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	return nil
}
