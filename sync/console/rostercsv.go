package console

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"campusgate/sync/store"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Roster files: what a school's office exports from its spreadsheet.
const (
	maxRosterBytes  = 8 << 20
	maxRosterPeople = 20_000
)

// LineError is one thing wrong with one line of a roster file. Line counts
// from 1 and includes the header, as a spreadsheet numbers its rows.
type LineError struct {
	Line   int    `json:"line"`
	Column string `json:"column,omitempty"`
	Code   string `json:"code"` // a key of the message catalogue (roster.err.*)
	Value  string `json:"value,omitempty"`
}

// rosterColumns: each column's accepted headers, English and Chinese.
var rosterColumns = []struct {
	name     string
	headers  []string
	required bool
}{
	{"id", []string{"id", "person_id", "学号", "工号", "编号", "学号/工号"}, true},
	{"name", []string{"name", "姓名"}, true},
	{"role", []string{"role", "角色", "身份"}, true},
	{"grade", []string{"grade", "年级"}, false},
	{"class", []string{"class", "班级"}, false},
	{"card_id", []string{"card_id", "card", "卡号", "校园卡号"}, false},
	{"guardian_phone", []string{"guardian_phone", "phone", "监护人电话", "家长电话", "联系电话"}, false},
}

var rosterRoles = map[string]string{
	"pupil": "pupil", "学生": "pupil",
	"staff": "staff", "教职工": "staff", "教师": "staff", "老师": "staff", "teacher": "staff",
	"parent": "parent", "家长": "parent",
}

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)
	cardPattern  = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	phonePattern = regexp.MustCompile(`^\+?[0-9][0-9 -]{5,18}[0-9]$`)
)

// ParseRoster reads a roster file: CSV with a header row naming its columns
// (in English or Chinese, any order), in UTF-8 (with or without the BOM Excel
// writes) or GB18030 (what Excel on a Chinese Windows saves as "CSV"). It
// returns the people, or every error it found, line by line: a file with
// any error is refused whole.
func ParseRoster(r io.Reader) ([]store.Person, []LineError) {
	raw, err := io.ReadAll(io.LimitReader(r, maxRosterBytes+1))
	if err != nil {
		return nil, []LineError{{Code: "roster.err.read", Value: err.Error()}}
	}
	if len(raw) > maxRosterBytes {
		return nil, []LineError{{Code: "roster.err.too_big", Value: fmt.Sprint(maxRosterBytes >> 20)}}
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(raw) {
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(raw)
		if err != nil || !utf8.Valid(dec) {
			return nil, []LineError{{Code: "roster.err.encoding"}}
		}
		raw = dec
	}
	cr := csv.NewReader(bytes.NewReader(raw))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, []LineError{{Line: 1, Code: "roster.err.empty"}}
	}
	if err != nil {
		return nil, []LineError{{Line: 1, Code: "roster.err.csv", Value: csvProblem(err)}}
	}
	col := map[string]int{}
	var errs []LineError
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		found := false
		for _, c := range rosterColumns {
			for _, name := range c.headers {
				if h == name {
					if _, dup := col[c.name]; dup {
						errs = append(errs, LineError{Line: 1, Column: c.name, Code: "roster.err.dup_column", Value: header[i]})
					}
					col[c.name], found = i, true
				}
			}
		}
		if !found && h != "" {
			errs = append(errs, LineError{Line: 1, Code: "roster.err.unknown_column", Value: header[i]})
		}
	}
	for _, c := range rosterColumns {
		if _, ok := col[c.name]; c.required && !ok {
			errs = append(errs, LineError{Line: 1, Column: c.name, Code: "roster.err.missing_column", Value: c.headers[0] + " / " + firstChinese(c.headers)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var people []store.Person
	ids, cards := map[string]int{}, map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			errs = append(errs, LineError{Line: line, Code: "roster.err.csv", Value: csvProblem(err)})
			if len(errs) >= 200 {
				break
			}
			continue
		}
		if blank(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(people) >= maxRosterPeople {
			errs = append(errs, LineError{Line: line, Code: "roster.err.too_many", Value: fmt.Sprint(maxRosterPeople)})
			break
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		p := store.Person{ID: get("id"), Name: get("name"), Grade: get("grade"), Class: get("class"),
			CardID: get("card_id"), GuardianPhone: get("guardian_phone")}
		role := get("role")
		p.Role = rosterRoles[strings.ToLower(role)]
		errs = checkPerson(p, role, line, ids, cards, errs)
		if len(errs) >= 200 { // enough to fix before trying again
			break
		}
		people = append(people, p)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return people, nil
}

// checkPerson appends to errs what is wrong with p, found at line: the
// checks a roster's every person passes, from the console's CSV import and
// from campusd's -roster file alike. role is the role as written; ids and
// cards are the ids and card numbers seen so far, by line.
func checkPerson(p store.Person, role string, line int, ids, cards map[string]int, errs []LineError) []LineError {
	bad := func(column, code, value string) {
		errs = append(errs, LineError{Line: line, Column: column, Code: code, Value: value})
	}
	switch {
	case p.ID == "":
		bad("id", "roster.err.required", "")
	case !idPattern.MatchString(p.ID):
		bad("id", "roster.err.id", p.ID)
	case ids[p.ID] > 0:
		bad("id", "roster.err.dup_id", fmt.Sprintf("%s (%d)", p.ID, ids[p.ID]))
	default:
		ids[p.ID] = line
	}
	switch {
	case p.Name == "":
		bad("name", "roster.err.required", "")
	case !plainText(p.Name, 64):
		bad("name", "roster.err.text", p.Name)
	}
	if p.Role == "" {
		bad("role", "roster.err.role", role)
	}
	for _, f := range []struct{ col, v string }{{"grade", p.Grade}, {"class", p.Class}} {
		if f.v != "" && !plainText(f.v, 32) {
			bad(f.col, "roster.err.text", f.v)
		}
	}
	if p.Role == "pupil" && (p.Grade == "" || p.Class == "") {
		bad("class", "roster.err.pupil_class", "")
	}
	if p.CardID != "" {
		switch {
		case !cardPattern.MatchString(p.CardID):
			bad("card_id", "roster.err.card", p.CardID)
		case cards[p.CardID] > 0:
			bad("card_id", "roster.err.dup_card", fmt.Sprintf("%s (%d)", p.CardID, cards[p.CardID]))
		default:
			cards[p.CardID] = line
		}
	}
	if p.GuardianPhone != "" && !phonePattern.MatchString(p.GuardianPhone) {
		bad("guardian_phone", "roster.err.phone", p.GuardianPhone)
	}
	return errs
}

// CheckPeople checks a roster that did not come from CSV (campusd's -roster
// JSON file) as the CSV import checks its rows: Line is the person's place in
// the list, from 1, and roles must be written as the store has them (pupil,
// staff, ...).
func CheckPeople(people []store.Person) []LineError {
	var errs []LineError
	ids, cards := map[string]int{}, map[string]int{}
	canonical := map[string]bool{}
	for _, r := range rosterRoles {
		canonical[r] = true
	}
	for i, p := range people {
		role := p.Role
		if !canonical[p.Role] {
			p.Role = ""
		}
		errs = checkPerson(p, role, i+1, ids, cards, errs)
	}
	return errs
}

func firstChinese(names []string) string {
	for _, n := range names {
		if !isASCII(n) {
			return n
		}
	}
	return names[0]
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// plainText is at most max runes of printable text, no control characters.
func plainText(s string, max int) bool {
	if utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
