package importer

import (
	"errors"
	"strings"
)

// splitCommand splits a command line the way supervisord does, with
// Python's shlex.split (POSIX mode, no comments): quotes group, a
// backslash escapes outside single quotes, and inside double quotes it
// escapes only '"' and '\'.
func splitCommand(s string) ([]string, error) {
	var out []string
	var tok strings.Builder
	inTok := false
	const (
		none = iota
		single
		double
	)
	state := none
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case single:
			if c == '\'' {
				state = none
			} else {
				tok.WriteByte(c)
			}
		case double:
			switch {
			case c == '"':
				state = none
			case c == '\\':
				if i+1 >= len(s) {
					return nil, errors.New("no escaped character after a backslash")
				}
				if n := s[i+1]; n == '"' || n == '\\' {
					tok.WriteByte(n)
				} else {
					tok.WriteByte('\\')
					tok.WriteByte(n)
				}
				i++
			default:
				tok.WriteByte(c)
			}
		default:
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				if inTok {
					out = append(out, tok.String())
					tok.Reset()
					inTok = false
				}
			case c == '\'':
				state, inTok = single, true
			case c == '"':
				state, inTok = double, true
			case c == '\\':
				if i+1 >= len(s) {
					return nil, errors.New("no escaped character after a backslash")
				}
				tok.WriteByte(s[i+1])
				i++
				inTok = true
			default:
				tok.WriteByte(c)
				inTok = true
			}
		}
	}
	if state != none {
		return nil, errors.New("no closing quotation")
	}
	if inTok {
		out = append(out, tok.String())
	}
	return out, nil
}

// envWordChars are the characters Python's non-POSIX shlex treats as part
// of a word, plus the ones supervisord adds for environment values.
func isEnvWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || strings.IndexByte("/.+-():", c) >= 0
}

// envTokens is Python's shlex.shlex(s) in its default non-POSIX mode, with
// supervisord's extra word characters: words, quoted strings (quotes kept)
// and single punctuation characters; "#" starts a comment to end of line.
func envTokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case isEnvWordChar(c):
			j := i + 1
			for j < len(s) && (isEnvWordChar(s[j]) || s[j] == '\'' || s[j] == '"') {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, errors.New("no closing quotation")
			}
			out = append(out, s[i:i+j+2])
			i += j + 2
		default:
			// One byte per token, as shlex reads one character; a
			// multi-byte character becomes several tokens, which breaks
			// the key=value pattern just as it does in supervisord.
			out = append(out, s[i:i+1])
			i++
		}
	}
	return out, nil
}

// envPair is one KEY=value of an environment setting, in source order.
type envPair struct{ key, value string }

// parseEnvironment is supervisord's dict_of_key_value_pairs: tokens come in
// fours (KEY, "=", value, separator); the separator is skipped without
// being checked, and quotes are stripped from both ends of the value.
func parseEnvironment(s string) ([]envPair, error) {
	toks, err := envTokens(s)
	if err != nil {
		return nil, err
	}
	var out []envPair
	seen := map[string]int{}
	for i := 0; i < len(toks); i += 4 {
		if i+3 > len(toks) || toks[i+1] != "=" {
			return nil, errors.New("unexpected end of KEY=value pairs (values with spaces, commas or '=' need quotes)")
		}
		kv := envPair{toks[i], strings.Trim(toks[i+2], `'"`)}
		if j, ok := seen[kv.key]; ok {
			out[j] = kv
			continue
		}
		seen[kv.key] = len(out)
		out = append(out, kv)
	}
	return out, nil
}
