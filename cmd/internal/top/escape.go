package top

import (
	"strings"

	"github.com/tendhq/tend/cmd/internal/termsafe"
)

// clean makes s safe for one line of the screen under termsafe's rule (a
// control character, escape sequence, bidi override or byte that is not
// UTF-8 shows as an escape such as \x1b), with a tab as four spaces, so
// that the columns of a worker's output stay columns.
func clean(s string) string {
	return termsafe.Line(strings.ReplaceAll(s, "\t", "    "))
}
