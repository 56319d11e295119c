package benchserver

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Row is one line of a benchmark program's closing table.
type Row struct {
	Name     string
	Measured string
	Target   string
	// Pass is nil for an informational figure without a target.
	Pass *bool
	// Load is the machine's 1-minute load average when it was measured.
	Load float64
}

// Judged is a figure measured against a target.
func Judged(name, measured, target string, pass bool) Row {
	return Row{Name: name, Measured: measured, Target: target, Pass: &pass}
}

// Info is a figure without a target.
func Info(name, measured string) Row { return Row{Name: name, Measured: measured} }

// Errored is a scenario that failed.
func Errored(name string, err error) Row {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return Row{Name: name, Measured: "error: " + msg}
}

// PrintTable prints rows as the table every benchmark program ends with:
// scenario, measured, target, verdict (PASS, MISS, ERROR or -), load.
func PrintTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmeasured\ttarget\tverdict\tload")
	for _, r := range rows {
		verdict := "-"
		switch {
		case strings.HasPrefix(r.Measured, "error: "):
			verdict = "ERROR"
		case r.Pass == nil:
		case *r.Pass:
			verdict = "PASS"
		default:
			verdict = "MISS"
		}
		target := r.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\n", r.Name, r.Measured, target, verdict, r.Load)
	}
	tw.Flush()
}
