package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// minPIN is the shortest guard PIN accepted: with five tries a minute per
// client (the console's lockout), six digits take years to guess.
const minPIN = 6

// pinHash reads a guard PIN from stdin and prints its bcrypt hash for
// console.pin_hash in gated's config. The PIN is never a flag: flags end up in
// shell history and in ps.
func pinHash(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("gatectl pin", flag.ContinueOnError)
	fs.SetOutput(e.errw)
	fs.Usage = func() {
		fmt.Fprint(e.errw, "gatectl pin < file-with-the-PIN\n\nReads the guard console PIN (at least 6 characters) from the first line of stdin\nand prints its bcrypt hash for console.pin_hash in gated.toml.\n")
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	line, err := bufio.NewReader(e.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the PIN from stdin: %w", err)
	}
	pin := strings.TrimRight(line, "\r\n")
	switch {
	case utf8.RuneCountInString(pin) < minPIN:
		return fmt.Errorf("the PIN must have at least %d characters (got %d)", minPIN, utf8.RuneCountInString(pin))
	case len(pin) > 72:
		return errors.New("the PIN must be at most 72 bytes (bcrypt's limit)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pin), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("bcrypt: %w", err)
	}
	fmt.Fprintf(e.out, "%s\n", h)
	return nil
}
