package dns

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/answers.txt from the server's answers")

// TestAnswers sends each query in testdata/answers.txt to a server holding
// clusterObjects and compares the rendered reply with the text below it.
// Cases are separated by blank lines; the first line of each is
// "QNAME QTYPE", the rest the expected reply.
func TestAnswers(t *testing.T) {
	const path = "testdata/answers.txt"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := fakeUpstream(t)
	_, addr := startServer(t, upstream)

	var out strings.Builder
	for i, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		query1, want, _ := strings.Cut(block, "\n")
		if strings.HasPrefix(query1, "#") {
			// A leading comment block documents the file.
			fmt.Fprintf(&out, "%s\n\n", block)
			continue
		}
		var qname, qtypeName string
		if _, err := fmt.Sscan(query1, &qname, &qtypeName); err != nil {
			t.Fatalf("case %d: bad query line %q: %v", i, query1, err)
		}
		qtype, ok := mdns.StringToType[qtypeName]
		if !ok {
			t.Fatalf("case %d: unknown type %q", i, qtypeName)
		}
		r, err := query(addr, qname, qtype)
		if err != nil {
			t.Fatalf("%s: %v", query1, err)
		}
		got := renderReply(r)
		fmt.Fprintf(&out, "%s\n%s\n\n", query1, got)
		if !*rewrite && got != want {
			t.Errorf("%s:\ngot:\n%s\nwant:\n%s", query1, got, want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// renderReply prints the parts of a reply a client acts on, with sections
// sorted so the order of map iteration does not show.
func renderReply(r *mdns.Msg) string {
	var b strings.Builder
	b.WriteString(mdns.RcodeToString[r.Rcode])
	if r.Authoritative {
		b.WriteString(" aa")
	}
	for _, sec := range []struct {
		name string
		rrs  []mdns.RR
	}{{"answer", r.Answer}, {"ns", r.Ns}, {"extra", r.Extra}} {
		var lines []string
		for _, rr := range sec.rrs {
			if rr.Header().Rrtype == mdns.TypeOPT {
				continue
			}
			lines = append(lines, sec.name+" "+strings.ReplaceAll(rr.String(), "\t", " "))
		}
		sort.Strings(lines)
		for _, l := range lines {
			b.WriteString("\n" + l)
		}
	}
	return b.String()
}
