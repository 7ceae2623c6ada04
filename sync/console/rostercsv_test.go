package console

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestParseRosterGood(t *testing.T) {
	for name, text := range map[string]string{
		"english":      "id,name,role,grade,class,card_id,guardian_phone\nP1,王小明,pupil,1,1-2,C0101,13800000001\nT1,陈老师,staff,,,C9042,\n\nP2,\"Li, Hua\",pupil,1,1-2,,+86 138-0000-0002\n",
		"chinese":      "学号,姓名,身份,年级,班级,卡号,监护人电话\nP1,王小明,学生,1,1-2,C0101,13800000001\nT1,陈老师,老师,,,C9042,\nP2,\"Li, Hua\",学生,1,1-2,,+86 138-0000-0002\n",
		"bom and crlf": "\ufeffid,name,role,grade,class\r\nP1,王小明,pupil,1,1-2\r\nT1,陈老师,staff,,\r\nP2,\"Li, Hua\",pupil,1,1-2\r\n",
	} {
		people, errs := ParseRoster(strings.NewReader(text))
		if len(errs) > 0 || len(people) != 3 {
			t.Errorf("%s: %d people, errors %+v", name, len(people), errs)
			continue
		}
		if people[0].Name != "王小明" || people[0].Role != "pupil" || people[1].Role != "staff" || people[2].Name != "Li, Hua" {
			t.Errorf("%s: %+v", name, people)
		}
	}
	// What Excel on a Chinese Windows saves: GB18030.
	gbk, err := simplifiedchinese.GB18030.NewEncoder().String("学号,姓名,身份,年级,班级\nP1,王小明,学生,一年级,一年级二班\n")
	if err != nil {
		t.Fatal(err)
	}
	people, errs := ParseRoster(strings.NewReader(gbk))
	if len(errs) > 0 || len(people) != 1 || people[0].Name != "王小明" || people[0].Class != "一年级二班" {
		t.Fatalf("GB18030: %+v %+v", people, errs)
	}
}

func TestParseRosterErrors(t *testing.T) {
	text := strings.Join([]string{
		"id,name,role,grade,class,card_id,guardian_phone",
		"P1,王小明,pupil,1,1-2,C0101,13800000001", // 2: good
		"P1,李华,pupil,1,1-2,,",                  // 3: duplicate id
		",无名,pupil,1,1-2,,",                    // 4: no id
		"P 3,张三,pupil,1,1-2,,",                 // 5: bad id
		"P4,,pupil,1,1-2,,",                    // 6: no name
		"P5,赵六,wizard,,,,",                     // 7: unknown role
		"P6,钱七,pupil,,,,",                      // 8: pupil without class
		"P7,孙八,pupil,1,1-2,C0101,",             // 9: duplicate card
		"P8,周九,pupil,1,1-2,C-01!,",             // 10: bad card
		"P9,吴十,pupil,1,1-2,,call me",           // 11: bad phone
		"P10,\"unterminated,pupil,1,1-2,,",     // 12: broken CSV
	}, "\n")
	people, errs := ParseRoster(strings.NewReader(text))
	if people != nil {
		t.Fatalf("people from a broken file: %+v", people)
	}
	want := map[int]string{3: "roster.err.dup_id", 4: "roster.err.required", 5: "roster.err.id", 6: "roster.err.required",
		7: "roster.err.role", 8: "roster.err.pupil_class", 9: "roster.err.dup_card", 10: "roster.err.card", 11: "roster.err.phone", 12: "roster.err.csv"}
	got := map[int]string{}
	for _, e := range errs {
		got[e.Line] = e.Code
	}
	for line, code := range want {
		if got[line] != code {
			t.Errorf("line %d: got %q, want %q (all: %+v)", line, got[line], code, errs)
		}
	}
	if _, ok := got[2]; ok {
		t.Errorf("the good line 2 reported: %+v", errs)
	}
	for name, text := range map[string]string{
		"no header":      "",
		"missing column": "id,name\nP1,王小明\n",
		"unknown column": "id,name,role,shoe_size\nP1,王小明,pupil,42\n",
		"not text":       "\xff\xfe\x00\x01garbage\x80\x81",
	} {
		if people, errs := ParseRoster(strings.NewReader(text)); people != nil || len(errs) == 0 {
			t.Errorf("%s: accepted %+v", name, people)
		}
	}
	big := bytes.Repeat([]byte("x"), maxRosterBytes+10)
	if _, errs := ParseRoster(bytes.NewReader(big)); len(errs) != 1 || errs[0].Code != "roster.err.too_big" {
		t.Errorf("too big: %+v", errs)
	}
}

// FuzzParseRoster: any bytes give people or line errors, never a panic, and
// the people it returns are all valid.
func FuzzParseRoster(f *testing.F) {
	f.Add([]byte("id,name,role,grade,class,card_id,guardian_phone\nP1,王小明,pupil,1,1-2,C0101,13800000001\n"))
	f.Add([]byte("学号,姓名,身份\nT1,陈老师,老师\n"))
	f.Add([]byte("id,name,role\n\"P1,x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		people, errs := ParseRoster(bytes.NewReader(b))
		if people != nil && len(errs) > 0 {
			t.Fatal("both people and errors")
		}
		seen := map[string]bool{}
		for _, p := range people {
			if !idPattern.MatchString(p.ID) || p.Name == "" || p.Role == "" || seen[p.ID] {
				t.Fatalf("invalid person returned: %+v", p)
			}
			seen[p.ID] = true
		}
	})
}
