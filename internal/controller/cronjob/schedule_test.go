package cronjob

import (
	"errors"
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no zone data: %v", err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	inNY := func(s string) time.Time { return utc(s).In(ny) }
	cases := []struct {
		name, spec string
		from       time.Time
		want       []string // successive RFC3339 times
	}{
		{"every minute", "* * * * *", utc("2026-03-01T10:00:30Z"), []string{"2026-03-01T10:01:00Z", "2026-03-01T10:02:00Z"}},
		{"on the minute is after", "* * * * *", utc("2026-03-01T10:00:00Z"), []string{"2026-03-01T10:01:00Z"}},
		{"steps", "*/15 * * * *", utc("2026-03-01T10:07:00Z"), []string{"2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z", "2026-03-01T10:45:00Z", "2026-03-01T11:00:00Z"}},
		{"start with step", "5/20 * * * *", utc("2026-03-01T10:06:00Z"), []string{"2026-03-01T10:25:00Z", "2026-03-01T10:45:00Z", "2026-03-01T11:05:00Z"}},
		{"lists and ranges", "0,30 9-10 * * *", utc("2026-03-01T09:10:00Z"), []string{"2026-03-01T09:30:00Z", "2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z", "2026-03-02T09:00:00Z"}},
		{"range with step", "0 8-18/4 * * *", utc("2026-03-01T09:00:00Z"), []string{"2026-03-01T12:00:00Z", "2026-03-01T16:00:00Z", "2026-03-02T08:00:00Z"}},
		{"weekday names", "0 9 * * mon-fri", utc("2026-03-06T10:00:00Z"), []string{"2026-03-09T09:00:00Z", "2026-03-10T09:00:00Z"}}, // 6 March 2026 is a Friday
		{"month names", "0 0 1 JAN,jul ?", utc("2026-03-01T00:00:00Z"), []string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"day of month or day of week", "0 0 13 * 5", utc("2026-02-01T00:00:00Z"), []string{"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"}},
		{"day of week with star month day", "0 0 * * 5", utc("2026-02-12T00:00:00Z"), []string{"2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"}},
		{"leap day", "0 0 29 2 *", utc("2026-01-01T00:00:00Z"), []string{"2028-02-29T00:00:00Z"}},
		{"never", "0 0 30 2 *", utc("2026-01-01T00:00:00Z"), []string{""}},
		{"hourly", "@hourly", utc("2026-03-01T10:59:59Z"), []string{"2026-03-01T11:00:00Z"}},
		{"daily", "@daily", utc("2026-03-01T10:00:00Z"), []string{"2026-03-02T00:00:00Z"}},
		{"midnight", "@midnight", utc("2026-03-01T10:00:00Z"), []string{"2026-03-02T00:00:00Z"}},
		{"weekly", "@weekly", utc("2026-03-01T10:00:00Z"), []string{"2026-03-08T00:00:00Z"}},
		{"monthly", "@monthly", utc("2026-03-01T10:00:00Z"), []string{"2026-04-01T00:00:00Z"}},
		{"yearly", "@yearly", utc("2026-03-01T10:00:00Z"), []string{"2027-01-01T00:00:00Z"}},
		{"annually", "@Annually", utc("2026-03-01T10:00:00Z"), []string{"2027-01-01T00:00:00Z"}},
		// 8 March 2026: New York skips from 02:00 EST to 03:00 EDT.
		{"spring forward skips the missing time", "30 2 * * *", inNY("2026-03-07T05:00:00Z"),
			[]string{"2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z"}},
		{"spring forward hourly", "0 * * * *", inNY("2026-03-08T06:30:00Z"), // 01:30 EST
			[]string{"2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}}, // 03:00 EDT, 04:00 EDT
		{"daily in a zone", "0 9 * * *", inNY("2026-03-07T15:00:00Z"), []string{"2026-03-08T13:00:00Z", "2026-03-09T13:00:00Z"}},
		// 1 November 2026: 02:00 EDT falls back to 01:00 EST.
		{"fall back runs the repeated hour twice", "30 1 * * *", inNY("2026-11-01T04:00:00Z"),
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}},
		{"fall back half-hourly", "*/30 * * * *", inNY("2026-11-01T05:10:00Z"), // 01:10 EDT
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z"}},
		{"fall back daily at two", "0 2 * * *", inNY("2026-11-01T04:00:00Z"),
			[]string{"2026-11-01T07:00:00Z", "2026-11-02T07:00:00Z"}},
		{"plus sign in a step", "*/+20 * * * *", utc("2026-03-01T10:01:00Z"), []string{"2026-03-01T10:20:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSchedule(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			from := tc.from
			for i, w := range tc.want {
				got := s.Next(from)
				if w == "" {
					if !got.IsZero() {
						t.Fatalf("Next #%d = %v, want none", i, got)
					}
					return
				}
				if want := utc(w); !got.Equal(want) {
					t.Fatalf("Next #%d after %v = %v, want %v", i, from, got.UTC(), want)
				}
				if got.Location() != from.Location() {
					t.Errorf("location %v, want %v", got.Location(), from.Location())
				}
				from = got
			}
		})
	}
}

func TestParseScheduleInvalid(t *testing.T) {
	for _, spec := range []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 7", "*/0 * * * *", "*/-1 * * * *", "5-1 * * * *", "a * * * *",
		"-1 * * * *", "+1 * * * *", "1,,2 * * * *", "1- * * * *", "* * * foo *", "@every 5m",
		"@reboot", "TZ=UTC * * * * *", "CRON_TZ=Europe/Berlin 0 0 * * *", "*/x * * * *", "1-2-3 * * * *",
	} {
		if _, err := ParseSchedule(spec); err == nil || !errors.Is(err, ErrInvalidSchedule) {
			t.Errorf("ParseSchedule(%q) = %v, want an invalid-schedule error", spec, err)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	// Zones with odd offsets and daylight-saving rules.
	var zones []*time.Location
	for _, name := range []string{"UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Europe/Dublin", "America/Sao_Paulo"} {
		if loc, err := time.LoadLocation(name); err == nil {
			zones = append(zones, loc)
		}
	}
	for i, s := range []string{"* * * * *", "*/5 1-3 1,15 jan-jun mon", "0 0 30 2 *", "@weekly", "5/7 */3 ? * SUN-sat", "0 0 13 * 5", "30 2 * * *"} {
		f.Add(s, int64(1767225600), uint8(i))
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64, zone uint8) {
		s, err := ParseSchedule(spec)
		if err != nil {
			return
		}
		from := time.Unix(unix%(1<<34), 0).In(zones[int(zone)%len(zones)])
		for range 3 {
			next := s.Next(from)
			if next.IsZero() {
				return
			}
			if !next.After(from) {
				t.Fatalf("Next(%v) = %v, not after", from, next)
			}
			from = next
		}
	})
}
