// Package demo is the simulated school that gated -simulate and gatectl sim
// use: its people, with today's morning reports.
package demo

import (
	"time"

	"campusgate/gate/journal"
)

// People is the demo school's roster; pupils but 李华 (P20260102) have a
// green morning report for the day of now (李华's family has not reported yet:
// where the school asks for the report, the gate stops or flags him).
func People(now time.Time) []journal.Person {
	today := now.Format(time.DateOnly)
	people := []journal.Person{
		{ID: "P20260101", Name: "王小明", Role: "pupil", Grade: "1", Class: "1-2", CardID: "C0101"},
		{ID: "P20260102", Name: "李华", Role: "pupil", Grade: "1", Class: "1-2", CardID: "C0102"},
		{ID: "P20260215", Name: "张梓涵", Role: "pupil", Grade: "2", Class: "2-1", CardID: "C0215"},
		{ID: "T0042", Name: "陈老师", Role: "staff", CardID: "C9042"},
		{ID: "M0101", Name: "王妈妈", Role: "parent"},
	}
	for i := range people {
		if people[i].Role == "pupil" && people[i].ID != "P20260102" {
			people[i].Health, people[i].HealthDate = "green", today
		}
	}
	return people
}
