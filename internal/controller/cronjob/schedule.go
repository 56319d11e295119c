package cronjob

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidSchedule is wrapped by every error ParseSchedule returns.
var ErrInvalidSchedule = errors.New("invalid schedule")

// Schedule is a parsed five-field cron expression. Each field is a bit
// set of the values it allows.
type Schedule struct {
	minute, hour, dom, month, dow uint64
	// Day of month and day of week combine with OR when both are
	// restricted, and with AND (so the other one decides) when either is
	// "*" or "?".
	domAny, dowAny bool
}

type field struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var (
	minuteField = field{name: "minute", min: 0, max: 59}
	hourField   = field{name: "hour", min: 0, max: 23}
	domField    = field{name: "day of month", min: 1, max: 31}
	monthField  = field{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	dowField    = field{name: "day of week", min: 0, max: 6, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// ParseSchedule parses a standard cron expression: minute, hour, day of
// month, month and day of week, each a list of "*", "?", values, ranges
// and steps, with month and weekday names; or one of the @-macros. Time
// zone prefixes are refused: the CronJob's spec.timeZone says the zone.
func ParseSchedule(spec string) (*Schedule, error) {
	s := strings.TrimSpace(spec)
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("%w %q: CRON_TZ and TZ are not supported, use spec.timeZone", ErrInvalidSchedule, spec)
	}
	if strings.HasPrefix(s, "@") {
		m, ok := macros[strings.ToLower(s)]
		if !ok {
			return nil, fmt.Errorf("%w %q: unknown descriptor", ErrInvalidSchedule, spec)
		}
		s = m
	}
	parts := strings.Fields(s)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%w %q: expected 5 fields, found %d", ErrInvalidSchedule, spec, len(parts))
	}
	var sch Schedule
	var err error
	for i, dst := range []struct {
		f   field
		set *uint64
		any *bool
	}{
		{minuteField, &sch.minute, nil},
		{hourField, &sch.hour, nil},
		{domField, &sch.dom, &sch.domAny},
		{monthField, &sch.month, nil},
		{dowField, &sch.dow, &sch.dowAny},
	} {
		var any bool
		*dst.set, any, err = dst.f.parse(parts[i])
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidSchedule, spec, err)
		}
		if dst.any != nil {
			*dst.any = any
		}
	}
	return &sch, nil
}

// parse returns the values expr allows, and whether it is an unrestricted
// "*" or "?" (with no step).
func (f field) parse(expr string) (bits uint64, any bool, err error) {
	for item := range strings.SplitSeq(expr, ",") {
		b, a, err := f.parseItem(item)
		if err != nil {
			return 0, false, err
		}
		bits |= b
		any = any || a
	}
	return bits, any, nil
}

func (f field) parseItem(item string) (uint64, bool, error) {
	rng, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		if err != nil || n <= 0 {
			return 0, false, fmt.Errorf("invalid step %q in %s field", stepText, f.name)
		}
		step = n
	}
	var lo, hi int
	any := false
	if rng == "*" || rng == "?" {
		lo, hi, any = f.min, f.max, step == 1
	} else {
		a, b, isRange := strings.Cut(rng, "-")
		var err error
		if lo, err = f.value(a); err != nil {
			return 0, false, err
		}
		hi = lo
		switch {
		case isRange:
			if hi, err = f.value(b); err != nil {
				return 0, false, err
			}
			if lo > hi {
				return 0, false, fmt.Errorf("range %s in %s field runs backwards", rng, f.name)
			}
		case hasStep:
			// "5/15" means from 5 to the end in steps of 15.
			hi = f.max
		}
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << uint(v)
	}
	return bits, any, nil
}

func (f field) value(s string) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("invalid %s value %q", f.name, s)
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid %s value %q", f.name, s)
	}
	if v < f.min || v > f.max {
		return 0, fmt.Errorf("%s value %d out of range [%d, %d]", f.name, v, f.min, f.max)
	}
	return v, nil
}

// searchYears bounds how far Next looks: a valid expression that matches
// nothing (30 February) has no next time.
const searchYears = 5

// Next returns the first time after t that the schedule matches, in t's
// location, or the zero time when there is none within five years.
//
// Wall-clock times skipped when clocks go forward do not run; times in
// an hour repeated when clocks go back run in both occurrences, as with
// the cron library Kubernetes uses.
func (s *Schedule) Next(t time.Time) time.Time {
	loc := t.Location()
	// Start at the next whole minute of the wall clock, counted in
	// absolute time: a wall-clock step could land in the first of two
	// repeated hours, before t.
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	limit := t.Year() + searchYears
	// Each step moves forward by at least a minute of absolute time;
	// the bound is a guard against a zone table that would make it not.
	for steps := 0; steps < 1<<20; steps++ {
		if t.Year() > limit {
			return time.Time{}
		}
		var next time.Time
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			next = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !s.dayMatches(t):
			next = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case s.hour&(1<<uint(t.Hour())) == 0:
			next = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case s.minute&(1<<uint(t.Minute())) == 0:
			// Minutes step in absolute time, so that a wall-clock hour
			// repeated when clocks go back is walked through twice.
			next = t.Add(time.Minute)
		default:
			return t
		}
		if !next.After(t) {
			// A zone transition mapped the wall-clock step backwards;
			// move on by absolute time instead.
			next = t.Add(time.Minute)
		}
		t = next
	}
	return time.Time{}
}

func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domAny || s.dowAny {
		return dom && dow
	}
	return dom || dow
}
