package config

import (
	"regexp"
	"strconv"
	"unicode/utf8"
)

// quoted finds what the TOML library's messages quote: mostly the input it
// met (`expected value but found "hunter2" instead` for a word written
// without its quotes, the start of a string before a bad escape, a
// malformed number), and a few fixed spellings of its own.
var quoted = regexp.MustCompile(`'[^']*'|"(?:[^"\\]|\\.)*"`)

// keptQuotes are the library's own spellings of more than one character.
var keptQuotes = map[string]bool{
	`'"""'`: true, `'""""""'`: true, `"'''"`: true, `"''''''"`: true,
	`'\x'`: true, `'\u'`: true, `'\U'`: true,
}

// withoutQuotes replaces every quotation of more than one character in a
// library message with "…": a password written without its quotes, or with
// a bad escape in it, must not be echoed to a terminal or a CI log.
func withoutQuotes(msg string) string {
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		inner := q[1 : len(q)-1]
		if u, err := strconv.Unquote(q); err == nil { // "..." or a rune such as '\n'
			inner = u
		}
		// One character, or an escape of one ('\q'), gives nothing away.
		n := utf8.RuneCountInString(inner)
		if n <= 1 || n == 2 && inner[0] == '\\' || keptQuotes[q] {
			return q
		}
		return "…"
	})
}
