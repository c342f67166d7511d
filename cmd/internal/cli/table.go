package cli

import (
	"bytes"
	"io"
	"slices"
	"unicode/utf8"
)

// table lays rows of cells out in columns as text/tabwriter does with a
// minimum width of 0, a padding of 2 spaces and no flags, for rows that
// all have the same number of cells: each cell but the last of its row is
// padded with spaces to the width, in runes, of its column's widest cell
// plus 2; the last is written as it is. tabwriter keeps a record of every
// cell besides the text, about 2 MB for the 10,000 lines of a status,
// which a short-lived client pays for in page faults: a table keeps the
// text and where each cell ends.
type table struct {
	cols  int
	text  []byte
	ends  []int // where each cell ends in text, row after row
	width []int // each column's widest cell, in runes
}

func newTable(cols int) *table { return &table{cols: cols, width: make([]int, cols)} }

// grow makes room for rows more rows of about rowBytes bytes each.
func (t *table) grow(rows, rowBytes int) {
	t.text = append(make([]byte, 0, len(t.text)+rows*rowBytes), t.text...)
	t.ends = append(make([]int, 0, len(t.ends)+rows*t.cols), t.ends...)
}

// add appends to the cell being written.
func (t *table) add(b ...byte) { t.text = append(t.text, b...) }

// addString appends s to the cell being written.
func (t *table) addString(s string) { t.text = append(t.text, s...) }

// end ends the cell being written; the cols-th ends the row.
func (t *table) end() {
	// The last column is not padded: its width is not needed.
	if col := len(t.ends) % t.cols; col < t.cols-1 {
		start := 0 // where the cell began: where the one before ended
		if len(t.ends) > 0 {
			start = t.ends[len(t.ends)-1]
		}
		t.width[col] = max(t.width[col], utf8.RuneCount(t.text[start:]))
	}
	t.ends = append(t.ends, len(t.text))
}

// cell is a whole cell.
func (t *table) cell(s string) {
	t.addString(s)
	t.end()
}

// writeTo writes the rows, each ended by a newline.
func (t *table) writeTo(w io.Writer) error {
	const padding = 2
	spaces := bytes.Repeat([]byte{' '}, padding+slices.Max(t.width))
	var line []byte
	from := 0
	for i, end := range t.ends {
		c := t.text[from:end]
		line = append(line, c...)
		if col := i % t.cols; col < t.cols-1 {
			line = append(line, spaces[:t.width[col]+padding-utf8.RuneCount(c)]...)
		} else {
			line = append(line, '\n')
			if _, err := w.Write(line); err != nil {
				return err
			}
			line = line[:0]
		}
		from = end
	}
	return nil
}
