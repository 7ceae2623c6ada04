package journal

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// utf8BOM makes Excel read the CSV as UTF-8 (Chinese names) instead of the
// system code page.
const utf8BOM = "\ufeff"

var csvHeader = []string{
	"gate_id", "epoch", "seq", "time", "clock_synced", "kind", "person_id", "name",
	"role", "credential", "assurance", "health", "body_c", "readings", "decision",
	"reason", "guard_id", "guard_reason",
}

// Export writes the entries with from <= Time < to (zero: unbounded) as
// "csv" (UTF-8 with BOM, for Excel; names from the current roster; cells a
// spreadsheet would run as formulas are quoted with a leading ') or "jsonl"
// (one stored Entry per line).
func (j *Journal) Export(w io.Writer, format string, from, to time.Time) error {
	bw := bufio.NewWriter(w)
	var write func(Entry) error
	switch format {
	case "jsonl":
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(e Entry) error { return enc.Encode(&e) }
	case "csv":
		if _, err := bw.WriteString(utf8BOM); err != nil {
			return fmt.Errorf("journal: export: %w", err)
		}
		cw := csv.NewWriter(bw)
		if err := cw.Write(csvHeader); err != nil {
			return fmt.Errorf("journal: export: %w", err)
		}
		names := map[string]string{}
		write = func(e Entry) error {
			name, ok := names[e.PersonID]
			if !ok && e.PersonID != "" {
				p, _, err := j.Person(e.PersonID)
				if err != nil {
					return err
				}
				name = p.Name
				names[e.PersonID] = name
			}
			var gid, greason string
			if e.Guard != nil {
				gid, greason = e.Guard.ID, e.Guard.Reason
			}
			body := ""
			if len(e.Readings) > 0 || e.BodyC != 0 {
				body = strconv.FormatFloat(e.BodyC, 'f', 2, 64)
			}
			rec := []string{
				cell(e.GateID), e.Epoch, strconv.FormatUint(e.Seq, 10), e.Time.Format(time.RFC3339Nano),
				strconv.FormatBool(e.ClockSynced), cell(e.Kind), cell(e.PersonID), cell(name),
				cell(e.Role), cell(e.Credential), cell(e.Assurance), cell(e.Health), body,
				strconv.Itoa(len(e.Readings)), cell(e.Decision), cell(e.Reason), cell(gid), cell(greason),
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
			cw.Flush()
			return cw.Error()
		}
	default:
		return fmt.Errorf("journal: export: format %q: want csv or jsonl", format)
	}
	if err := j.Entries(from, to, write); err != nil {
		return fmt.Errorf("journal: export %s: %w", format, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("journal: export %s: %w", format, err)
	}
	return nil
}

// cell defuses spreadsheet formula injection: guards type free text.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Compact writes a compacted copy of the journal to dst, which must not exist.
// The copy keeps the epoch, bucket sequences and every record.
func (j *Journal) Compact(dst string) error {
	if j.isClosed() {
		return fmt.Errorf("journal: compact %s: %w", j.path, ErrClosed)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("journal: compact %s to %s: destination exists", j.path, dst)
	}
	out, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: j.opts.Timeout})
	if err != nil {
		return fmt.Errorf("journal: compact: open %s: %w", dst, err)
	}
	err = bolt.Compact(out, j.db, 1<<20)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return fmt.Errorf("journal: compact %s to %s: %w", j.path, dst, err)
	}
	return nil
}

// Check runs bbolt's consistency check and returns every problem found,
// joined.
func (j *Journal) Check() error {
	var errs []error
	err := j.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return j.wrap("check", err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("journal: check %s: %w", j.path, errors.Join(errs...))
	}
	return nil
}
