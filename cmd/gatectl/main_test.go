package main

import (
	"os"
	"testing"

	"campusgate/cmd/internal/bintest"
)

func TestMain(m *testing.M) { os.Exit(bintest.Main(m)) }
