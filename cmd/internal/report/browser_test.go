package report

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// needBrowser skips a test unless Chromium is installed, and fails it when
// TEND_BROWSER_TESTS=1 asks for browser tests on a machine without one.
func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := chromiumPath(); err != nil {
		if os.Getenv("TEND_BROWSER_TESTS") == "1" {
			t.Fatalf("TEND_BROWSER_TESTS=1 but %v", err)
		}
		t.Skipf("no browser: %v", err)
	}
}

var (
	domLaneRE   = regexp.MustCompile(`<div class="(lane|daemon-lane)" data-worker="([^"]*)">(.*?)</div></div>`)
	domMarkerRE = regexp.MustCompile(`<div class="marker ([^"]*)"[^>]*data-seq="(\d+)"`)
	domRowRE    = regexp.MustCompile(`<tr data-seq="(\d+)"[^>]*>`)
)

func writeReport(t *testing.T, opts Options, extraJS string) string {
	t.Helper()
	out, _ := render1(t, knownLog(t), opts)
	if extraJS != "" {
		out = []byte(strings.Replace(string(out), "</body>", "<script>"+extraJS+"</script></body>", 1))
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportInChromium(t *testing.T) {
	needBrowser(t)
	path := writeReport(t, Options{}, "")
	dom, err := dumpDOM(context.Background(), "file://"+path)
	if err != nil {
		t.Fatal(err)
	}

	// Each lane holds its canvas of bands and, once the script ran, its
	// markers.
	got := map[string][]int{}
	var lanes []string
	for _, l := range domLaneRE.FindAllStringSubmatch(dom, -1) {
		if l[1] == "lane" {
			lanes = append(lanes, l[2])
		}
		if !strings.Contains(l[3], "<canvas") {
			t.Errorf("lane %q has no canvas: the bands were not drawn", l[2])
		}
		for _, m := range domMarkerRE.FindAllStringSubmatch(l[3], -1) {
			got[l[2]] = append(got[l[2]], int(atoi(t, m[2])))
		}
	}
	if !slices.Equal(lanes, []string{"api", "cron", "web"}) {
		t.Errorf("lanes in the DOM = %v", lanes)
	}
	for lane, want := range knownMarkers {
		sort.Ints(got[lane])
		if !slices.Equal(got[lane], want) {
			t.Errorf("rendered markers of %q = %v, want %v", lane, got[lane], want)
		}
	}
	if rows := domRowRE.FindAllStringSubmatch(dom, -1); len(rows) != 29 {
		t.Errorf("%d rows in the rendered table, want 29", len(rows))
	}
	if !strings.Contains(dom, `<span id="f-count">29 of 29 rows</span>`) {
		t.Error("the table's filter did not run")
	}
	if !regexp.MustCompile(`<div class="tick"[^>]*>`).MatchString(dom) {
		t.Error("no time axis ticks")
	}
	for _, cls := range []string{"c-failure", "c-health", "c-limit", "c-breaker", "c-operator", "c-kill", "c-exit", "c-daemon"} {
		if !strings.Contains(dom, `class="marker `+cls) {
			t.Errorf("no %s marker rendered", cls)
		}
	}
}

// The links between table and timeline: clicking a row highlights its
// marker; clicking a marker selects its row; filters hide rows.
func TestReportInChromiumLinks(t *testing.T) {
	needBrowser(t)
	js := `
document.querySelector('#events tr[data-seq="21"]').click();
setTimeout(function () {
  var out = document.createElement('div'); out.id = 'probe';
  var hl = document.querySelector('.marker.hl');
  out.dataset.hl = hl ? hl.dataset.seq : 'none';
  document.querySelector('.marker[data-seq="18"]').click();
  var sel = document.querySelector('#events tr.sel');
  out.dataset.sel = sel ? sel.dataset.seq : 'none';
  out.dataset.tip = document.getElementById('tip').hidden ? 'hidden' : document.getElementById('tip').textContent;
  var w = document.getElementById('f-worker'); w.value = 'web'; w.dispatchEvent(new Event('change'));
  out.dataset.count = document.getElementById('f-count').textContent;
  document.getElementById('zoom-in').click();
  setTimeout(function () {
    out.dataset.range = document.getElementById('range').textContent;
    document.body.appendChild(out);
  }, 300);
}, 300);`
	path := writeReport(t, Options{}, js)
	dom, err := dumpDOM(context.Background(), "file://"+path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<div id="probe" data-hl="([^"]*)" data-sel="([^"]*)" data-tip="([^"]*)" data-count="([^"]*)" data-range="([^"]*)">`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("probe did not run; DOM: %s", regexp.MustCompile(`<div id="probe"[^>]*>`).FindString(dom))
	}
	if m[1] != "21" {
		t.Errorf("after clicking row 21 the highlighted marker is %s", m[1])
	}
	if m[2] != "18" {
		t.Errorf("after clicking marker 18 the selected row is %s", m[2])
	}
	if !strings.Contains(m[3], "limit_violated") || !strings.Contains(m[3], "memory over limit") || !strings.Contains(m[3], "actor: limits") {
		t.Errorf("tooltip of marker 18 = %q", m[3])
	}
	if m[4] != "7 of 29 rows" {
		t.Errorf("worker filter web: %q, want 7 of 29 rows", m[4])
	}
	// The view is the 28-minute window plus 1% each side; zoomed in once it is half that.
	if !strings.Contains(m[5], "(14.3m)") {
		t.Errorf("range after zoom in = %q", m[5])
	}
}

func TestScreenshot(t *testing.T) {
	needBrowser(t)
	path := writeReport(t, Options{Title: "tend report: screenshot test"}, "")
	png := filepath.Join(t.TempDir(), "report.png")
	if err := Screenshot(path, png); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("not a PNG: %v", err)
	}
	if dst := os.Getenv("TEND_REPORT_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
