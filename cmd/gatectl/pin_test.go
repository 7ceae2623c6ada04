package main

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPinHash(t *testing.T) {
	code, out, errs := gatectlIn(t, "246810\n", "pin")
	if code != 0 {
		t.Fatalf("pin: %d %s", code, errs)
	}
	hash := strings.TrimSpace(out)
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("246810")) != nil {
		t.Fatalf("%q is not a bcrypt hash of the PIN", hash)
	}
	if code, _, errs := gatectlIn(t, "1234\n", "pin"); code != 1 || !strings.Contains(errs, "at least 6") {
		t.Fatalf("short PIN: %d %s", code, errs)
	}
	if code, _, _ := gatectlIn(t, "246810\n", "pin", "246810"); code != 2 {
		t.Fatal("a PIN as an argument was accepted")
	}
}
