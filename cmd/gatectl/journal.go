package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"campusgate/gate/journal"
)

// journalCmd is "gatectl journal check|export|compact": maintenance of a gate's
// journal while gated is stopped (bbolt allows one process at a time).
func journalCmd(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.errw, "gatectl journal check|export|compact -journal FILE ...")
		return errUsage
	}
	fset := e.flags("journal " + args[0])
	path := fset.String("journal", "/var/lib/campusgate/journal.db", "journal file")
	format := fset.String("format", "csv", "export: csv (UTF-8 with BOM, opens in Excel) or jsonl")
	from := fset.String("from", "", "export: first day, YYYY-MM-DD (default: everything)")
	to := fset.String("to", "", "export: last day, YYYY-MM-DD")
	dst := fset.String("out", "", "compact: the new file (must not exist)")
	if err := parse(fset, args[1:]); err != nil {
		return err
	}
	if _, err := os.Stat(*path); err != nil {
		return fmt.Errorf("journal %s: %w", *path, err)
	}
	j, err := journal.Open(*path, nil)
	if err != nil {
		return err
	}
	defer j.Close()
	switch args[0] {
	case "check":
		if err := j.Check(); err != nil {
			return err
		}
		m, err := j.Meta()
		if err != nil {
			return err
		}
		n, _ := j.Backlog()
		fmt.Fprintf(e.out, "%s: consistent; gate %s, epoch %s, last seq %d, %d not yet acknowledged by the server\n", *path, m.GateID, m.Epoch, m.LastSeq, n)
		return nil
	case "export":
		start, end := time.Time{}, time.Now().Add(24*time.Hour)
		if *from != "" {
			if start, err = time.ParseInLocation(time.DateOnly, *from, time.Local); err != nil {
				return fmt.Errorf("-from: %w", err)
			}
		}
		if *to != "" {
			t, err := time.ParseInLocation(time.DateOnly, *to, time.Local)
			if err != nil {
				return fmt.Errorf("-to: %w", err)
			}
			end = t.Add(24 * time.Hour)
		}
		return j.Export(e.out, *format, start, end)
	case "compact":
		if *dst == "" {
			fmt.Fprintln(e.errw, "gatectl journal compact: -out FILE is required")
			return errUsage
		}
		if err := j.Compact(*dst); err != nil {
			return err
		}
		before, _ := os.Stat(*path)
		after, _ := os.Stat(*dst)
		fmt.Fprintf(e.out, "compacted %s (%d KiB) into %s (%d KiB); stop gated, move the new file in place, start gated\n",
			*path, before.Size()/1024, *dst, after.Size()/1024)
		return nil
	}
	fmt.Fprintf(e.errw, "gatectl journal: unknown command %q\n", args[0])
	return errUsage
}
