package top

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Styles: attributes only, so they mean the same on any terminal and
// colour scheme. Each wraps text that Clean has made safe.
var (
	styleBar      = ansi.NewStyle().Reverse(true)
	styleHead     = ansi.NewStyle().Bold()
	styleSelected = ansi.NewStyle().Reverse(true)
	styleBad      = ansi.NewStyle().Bold().ForegroundColor(ansi.Red)
	styleGood     = ansi.NewStyle().ForegroundColor(ansi.Green)
	styleBusy     = ansi.NewStyle().ForegroundColor(ansi.Yellow)
	styleDim      = ansi.NewStyle().Faint()
)

// layout is how many lines each part of the screen gets: a header, the
// column titles, the list, the pane (its title and its lines) and the
// footer.
type layout struct{ list, pane int }

func (m *Model) layout() layout {
	h := max(m.height, 4)
	pane := 0
	if h >= 14 {
		pane = max(5, h/3)
	}
	return layout{list: max(1, h-3-pane), pane: pane}
}

// Columns of the list, in cells; NAME and NOTE take what is left.
var columns = []struct {
	title string
	width int
	right bool
}{
	{"STATE", 8, false}, {"PID", 7, true}, {"UPTIME", 7, true}, {"RESTARTS", 8, true},
	{"CPU%", 6, true}, {"MEM", 7, true}, {"HEALTH", 7, false},
}

// cell is text (cleaned) cut or padded to exactly width cells.
func cell(text string, width int, right bool) string {
	if width <= 0 {
		return ""
	}
	s := Clean(text)
	if ansi.StringWidth(s) > width {
		s = ansi.Truncate(s, width, "…")
	}
	pad := strings.Repeat(" ", max(0, width-ansi.StringWidth(s)))
	if right {
		return pad + s
	}
	return s + pad
}

// View draws the screen. Nothing that came from outside reaches it but
// through cell (which cleans) or Clean.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "tend top"
	return v
}

func (m *Model) render() string {
	w := max(m.width, 20)
	lay := m.layout()
	lines := make([]string, 0, m.height)
	lines = append(lines, styleBar.Styled(cell(m.headline(), w, false)))

	list := m.t.view()
	nameW := 4
	for _, r := range list {
		nameW = max(nameW, r.width)
	}
	fixed := 0
	for _, c := range columns {
		fixed += c.width + 1
	}
	nameW = min(nameW, max(8, w-fixed-1))
	noteW := w - nameW - 1 - fixed

	if m.mode == modeHelp {
		// The help takes the list's lines and the pane's.
		lines = append(lines, styleHead.Styled(cell("keys", w, false)))
		help := helpLines()
		for i := range lay.list + lay.pane {
			s := ""
			if i < len(help) {
				s = help[i]
			}
			lines = append(lines, cell(s, w, false))
		}
		return strings.Join(append(lines, m.footer(w)), "\n")
	}
	head := cell("NAME", nameW, false)
	for _, c := range columns {
		head += " " + cell(c.title, c.width, c.right)
	}
	head += " " + cell("NOTE", noteW, false)
	lines = append(lines, styleHead.Styled(cell(head, w, false)))
	for i := range lay.list {
		j := m.offset + i
		if j >= len(list) {
			lines = append(lines, "")
			continue
		}
		// Cut to the width: on a narrow terminal the fixed columns
		// alone are wider.
		lines = append(lines, ansi.Truncate(m.rowLine(list[j], j == m.cursor, nameW, noteW), w, ""))
	}
	if lay.pane > 0 {
		lines = append(lines, m.pane(w, lay.pane)...)
	}
	lines = append(lines, m.footer(w))
	return strings.Join(lines, "\n")
}

// headline says, most important first (a narrow terminal cuts the end):
// the time, whether the view is cut off from the daemon, the counts, the
// order, the filter and the last seq.
func (m *Model) headline() string {
	c := m.t.counts()
	s := " tend top  " + m.now.Format("15:04:05")
	switch {
	case m.streamErr != nil:
		s += "  events: " + m.streamErr.Error() + " (reconnecting)"
	case m.statusErr != nil:
		s += "  status: " + m.statusErr.Error()
	}
	s += fmt.Sprintf("  %d workers: %d running, %d starting, %d stopping, %d stopped, %d killed",
		len(m.t.rows), c["Running"], c["Starting"], c["Stopping"], c["Stopped"], c["Killed"])
	order := "▼"
	if m.t.sortBy == ByName {
		order = "▲"
	}
	if m.t.desc {
		order = map[string]string{"▲": "▼", "▼": "▲"}[order]
	}
	s += "  sort: " + m.t.sortBy.String() + " " + order
	if m.filter != "" {
		s += fmt.Sprintf("  filter: %s (%d shown)", m.filter, len(m.t.view()))
	}
	return s + "  seq " + fmt.Sprint(m.t.seq)
}

func (m *Model) rowLine(r *row, selected bool, nameW, noteW int) string {
	pid, up, cpu, mem := "-", "-", "-", "-"
	if r.PID != 0 {
		pid = fmt.Sprint(r.PID)
	}
	if live(r.State) && !r.Since.IsZero() {
		up = duration(m.now.Sub(r.Since))
	}
	if live(r.State) && r.RSSBytes > 0 {
		// Sampled (a live process group has resident memory): the daemon
		// samples the workers that have limits.
		cpu, mem = fmt.Sprintf("%.1f", r.CPUPercent), bytesIEC(r.RSSBytes)
	}
	health := r.Health
	if r.BreakerOpen {
		health = "breaker"
	}
	cells := []string{
		cell(r.Name, nameW, false),
		cell(r.State, columns[0].width, false),
		cell(pid, columns[1].width, true),
		cell(up, columns[2].width, true),
		cell(fmt.Sprint(r.Restarts), columns[3].width, true),
		cell(cpu, columns[4].width, true),
		cell(mem, columns[5].width, true),
		cell(health, columns[6].width, false),
		cell(r.Note(), noteW, false),
	}
	if selected {
		return styleSelected.Styled(strings.Join(cells, " "))
	}
	switch r.State {
	case "Running":
		cells[1] = styleGood.Styled(cells[1])
	case "Starting", "Stopping":
		cells[1] = styleBusy.Styled(cells[1])
	case "Killed":
		cells[1] = styleBad.Styled(cells[1])
	case "Stopped":
		cells[1] = styleDim.Styled(cells[1])
	}
	if health != "" {
		cells[7] = styleBad.Styled(cells[7])
	}
	return strings.Join(cells, " ")
}

// pane is the why of the selected worker, or the output the logs pane
// follows: a title line and n-1 lines.
func (m *Model) pane(w, n int) []string {
	var title string
	var body []string
	if m.logs != nil {
		which := "stdout"
		if m.logs.stderr {
			which = "stderr"
		}
		title = fmt.Sprintf(" logs %s (%s; e: switch, l or esc: close)", m.logs.name, which)
		body = m.logs.lines
		if m.logs.err != nil {
			body = append(body[:len(body):len(body)], "("+m.logs.err.Error()+")")
		}
		if len(body) > n-1 {
			body = body[len(body)-(n-1):] // the newest lines
		}
	} else {
		title = " why " + m.sel
		switch {
		case m.sel == "":
			body = []string{"no worker selected"}
		case m.why.name != m.sel:
			body = []string{"…"}
		case m.why.err != nil:
			body = []string{m.why.err.Error()}
		default:
			// Wrapped, not cut: the why is read, and its first line is long.
			for _, l := range m.why.lines {
				body = append(body, strings.Split(ansi.Wrap(Clean(l), w, ""), "\n")...)
			}
		}
	}
	out := make([]string, 0, n)
	out = append(out, styleBar.Styled(cell(title, w, false)))
	for i := range n - 1 {
		s := ""
		if i < len(body) {
			s = body[i]
		}
		out = append(out, cell(s, w, false))
	}
	return out
}

func (m *Model) footer(w int) string {
	switch m.mode {
	case modeFilter:
		return cell("/"+m.filter+"▏  (enter: keep, esc: clear)", w, false)
	case modeConfirm:
		return styleBad.Styled(cell(fmt.Sprintf("%s %s? y/N", m.confirm.verb, m.confirm.name), w, false))
	}
	if m.note != "" {
		if m.noteBad {
			return styleBad.Styled(cell(m.note, w, false))
		}
		return cell(m.note, w, false)
	}
	return styleDim.Styled(cell("s start  x stop  r restart  l logs  / filter  o sort  ? help  q quit", w, false))
}

func helpLines() []string {
	return []string{
		"  ↑ ↓ j k        select a worker (PgUp PgDn Home End g G: by page, to the ends)",
		"  s              start the selected worker",
		"  x              stop it (asks y/N)",
		"  r              restart it (asks y/N)",
		"  l              follow its output in the lower pane (l again or esc: back to why)",
		"  e              in the logs pane: switch between stdout and stderr",
		"  /              filter by name or state (enter keeps it, esc clears it)",
		"  o  O           sort by name, cpu, memory, restarts; reverse the order",
		"  esc            close the logs pane, clear the filter, or clear the message",
		"  ?              this help (any key closes it)",
		"  q  ctrl+c      quit",
		"",
		"  The lower pane shows `tend why` of the selected worker. Commands run as you:",
		"  the daemon records your uid as their actor, as for `tend restart`.",
		"  CPU% and MEM are the daemon's samples of the worker's process group; it",
		"  samples the workers that have [worker.NAME.limits] (\"-\": not sampled).",
	}
}

// duration is d in at most two units: 42s, 5m07s, 12h03m, 3d04h.
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// bytesIEC is n in binary units with three significant digits at most.
func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f := float64(n)
	for _, u := range []string{"K", "M", "G", "T", "P"} {
		f /= unit
		if f < unit || u == "P" {
			if f < 10 {
				return fmt.Sprintf("%.1f%s", f, u)
			}
			return fmt.Sprintf("%.0f%s", f, u)
		}
	}
	return ""
}
