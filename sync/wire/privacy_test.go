package wire

import (
	"reflect"
	"testing"
)

// TestDailyReportHasOnlyAggregates: what goes to the district is counts and
// flags, and the few fields that name the report itself; a new field of
// any other kind (a string, a list, a struct: room for names or ids) fails
// here until someone decides it is not personal data.
func TestDailyReportHasOnlyAggregates(t *testing.T) {
	named := map[string]bool{"V": true, "School": true, "Day": true, "Revision": true, "GeneratedAt": true}
	rt := reflect.TypeFor[DailyReport]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if named[f.Name] {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Int, reflect.Bool:
		default:
			t.Errorf("DailyReport.%s is a %s: the district gets aggregates only (counts and flags)", f.Name, f.Type)
		}
	}
}
