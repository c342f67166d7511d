package importer

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// expand applies Python's "%" operator with a mapping, which is how
// supervisord expands %(name)s, %(process_num)02d and friends. Values are
// strings or ints; like Python, a numeric conversion of a string is an
// error, and so is a "%" that starts no valid conversion ("%%" is a "%").
// Errors never repeat s: it may be an environment line holding a secret,
// and the caller names the option and its line.
func expand(s string, vars map[string]any) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			return "", errors.New("incomplete format: the value ends with %")
		}
		if s[i] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if s[i] != '(' {
			return "", errors.New("a % must start %(name)s (write %% for a literal %)")
		}
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return "", errors.New("unterminated %(name")
		}
		name := s[i+1 : i+end]
		i += end + 1
		// flags, width, precision, conversion
		j := i
		for j < len(s) && strings.IndexByte("-+ #0", s[j]) >= 0 {
			j++
		}
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j < len(s) && s[j] == '.' {
			j++
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
		}
		if j >= len(s) {
			return "", errors.New("incomplete format")
		}
		spec, verb := s[i:j], s[j]
		i = j + 1
		if len(spec) > 8 {
			return "", errors.New("format width too large")
		}
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("%%(%s) cannot be expanded (available: %s)", name, strings.Join(varNames(vars), ", "))
		}
		out, err := convert(v, spec, verb)
		if err != nil {
			return "", fmt.Errorf("%%(%s): %v", name, err)
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

func convert(v any, spec string, verb byte) (string, error) {
	switch verb {
	case 's', 'r', 'a':
		var str string
		switch v := v.(type) {
		case string:
			str = v
			if verb != 's' {
				str = "'" + v + "'"
			}
		case int:
			str = strconv.Itoa(v)
		}
		// Python ignores numeric-only flags for %s; only "-" and width
		// and precision matter.
		return fmt.Sprintf("%"+strings.NewReplacer("0", "", "+", "", " ", "", "#", "").Replace(flagsOnly(spec))+widthPrec(spec)+"s", str), nil
	case 'd', 'i', 'u', 'x', 'X', 'o':
		n, ok := v.(int)
		if !ok {
			return "", fmt.Errorf("%%%c needs a number, not a string", verb)
		}
		goVerb := verb
		if verb == 'i' || verb == 'u' {
			goVerb = 'd'
		}
		return fmt.Sprintf("%"+spec+string(goVerb), n), nil
	}
	return "", fmt.Errorf("unsupported format character %q", verb)
}

func flagsOnly(spec string) string {
	i := 0
	for i < len(spec) && strings.IndexByte("-+ #0", spec[i]) >= 0 {
		i++
	}
	return spec[:i]
}

func widthPrec(spec string) string { return spec[len(flagsOnly(spec)):] }

func varNames(vars map[string]any) []string {
	out := make([]string, 0, len(vars))
	for k := range vars {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
