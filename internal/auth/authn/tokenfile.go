package authn

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/bosun-sh/bosun/internal/auth/user"
)

// StaticTokens authenticates the tokens of a --token-auth-file.
type StaticTokens struct {
	// Tokens are kept by their SHA-256, so a lookup's timing says nothing
	// about how close a guess came to a real token.
	users map[[sha256.Size]byte]user.Info
}

// LoadTokenFile reads the token file at path; see ParseTokenFile.
func LoadTokenFile(path string) (*StaticTokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	s, err := ParseTokenFile(f)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return s, nil
}

// ParseTokenFile reads Kubernetes' static token CSV: one
// `token,user,uid[,"group1,group2"]` record a line, the optional fourth
// column a comma-separated group list in quotes. Token, user and uid must
// not be empty and a token may appear once; errors name the line. (The
// kube-apiserver only warns about a repeated token and keeps the last;
// refusing the file means nobody logs in as the wrong user by accident.)
func ParseTokenFile(r io.Reader) (*StaticTokens, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	s := &StaticTokens{users: map[[sha256.Size]byte]user.Info{}}
	firstLine := make(map[[sha256.Size]byte]int)
	for rec := 0; ; rec++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return nil, err // a *csv.ParseError names its line
		}
		line, _ := cr.FieldPos(0)
		if rec == 0 {
			// Editors on some systems start a UTF-8 file with a byte order mark.
			fields[0] = strings.TrimPrefix(fields[0], "\uFEFF")
		}
		if len(fields) < 3 || len(fields) > 4 {
			return nil, fmt.Errorf("line %d: %d columns, want token,user,uid[,groups]", line, len(fields))
		}
		token, name, uid := fields[0], fields[1], fields[2]
		for i, what := range []string{"token", "user name", "uid"} {
			if fields[i] == "" {
				return nil, fmt.Errorf("line %d: empty %s", line, what)
			}
		}
		if strings.ContainsAny(token, " \t\r\n") {
			return nil, fmt.Errorf("line %d: token contains white space, which no Authorization header can carry", line)
		}
		var groups []string
		if len(fields) == 4 && strings.TrimSpace(fields[3]) != "" {
			for g := range strings.SplitSeq(fields[3], ",") {
				g = strings.TrimSpace(g)
				if g == "" {
					return nil, fmt.Errorf("line %d: empty group in %q", line, fields[3])
				}
				if !slices.Contains(groups, g) {
					groups = append(groups, g)
				}
			}
		}
		key := sha256.Sum256([]byte(token))
		if first, dup := firstLine[key]; dup {
			return nil, fmt.Errorf("line %d: token already given on line %d", line, first)
		}
		firstLine[key] = line
		s.users[key] = user.Info{Name: name, UID: uid, Groups: authenticated(groups)}
	}
}

// Len is how many tokens s holds.
func (s *StaticTokens) Len() int { return len(s.users) }

// AuthenticateToken has no opinion on a token it does not hold: static
// tokens share the bearer header with every other kind.
func (s *StaticTokens) AuthenticateToken(_ context.Context, token string) (*user.Info, bool, error) {
	u, ok := s.users[sha256.Sum256([]byte(token))]
	if !ok {
		return nil, false, nil
	}
	u.Groups = slices.Clone(u.Groups)
	return &u, true, nil
}

// Authenticate checks r's bearer token.
func (s *StaticTokens) Authenticate(r *http.Request) (*user.Info, bool, error) {
	return authenticateBearer(r, s)
}
