package daemon

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor"
)

// command sends one POST /v1/command and returns its answer and how long
// the daemon took.
func command(t *testing.T, a *api, req client.CommandRequest) (client.CommandReply, time.Duration) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	t0 := time.Now()
	a.commands(w, httptest.NewRequest("POST", "/v1/command", bytes.NewReader(body)))
	took := time.Since(t0)
	var r client.CommandReply
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || len(r.Results) != len(req.Workers) {
		t.Fatalf("answer %d %q: %v", w.Code, w.Body.String(), err)
	}
	return r, took
}

// handStarted is a worker that starts by hand and counts as running
// startTimeout after its start.
func handStarted(name string, startTimeout time.Duration) *supervisor.WorkerSpec {
	sp := &supervisor.WorkerSpec{Name: name, Command: []string{"/bin/sleep", "1000"}, StartTimeout: startTimeout,
		StopSignal: syscall.SIGTERM, StopTimeout: time.Second, Policy: policy.Spec{Restart: policy.Never,
			BackoffInitial: time.Second, BackoffMax: time.Second, BreakerMax: 5, BreakerWindow: time.Minute}}
	sp.Hash = sp.SpecHash()
	return sp
}

// startsIn are workers that start by hand and count as running 0.7 s, 1.4 s,
// ... after their start: a command over them makes progress at that pace.
func startsIn(prefix string, n int) ([]*supervisor.WorkerSpec, []string) {
	var specs []*supervisor.WorkerSpec
	var names []string
	for i := 1; i <= n; i++ {
		sp := handStarted(prefix+strconv.Itoa(i), time.Duration(i)*700*time.Millisecond)
		specs, names = append(specs, sp), append(names, sp.Name)
	}
	return specs, names
}

// A command that names no timeout is waited for while its workers keep
// getting there (a window of a.stall without progress ends it); one that
// names a timeout is bounded by it, progress or not. Without the choice in
// api.run, the first wait ends at the stall window with two workers still
// starting, or the second outlasts its timeout.
func TestACommandWaitsWhileItProgressesUnlessTimed(t *testing.T) {
	progress, pNames := startsIn("p", 4)
	timed, tNames := startsIn("t", 4)
	a := apiOver(t, append(append(progress, timed...), handStarted("hung", time.Hour)))
	a.stall = 1500 * time.Millisecond

	r, took := command(t, a, client.CommandRequest{Verb: "start", Workers: pNames, Wait: true})
	for _, x := range r.Results {
		if !x.Reached {
			t.Errorf("no timeout: %s not reached after %v: %s", x.Worker, took, x.Reason)
		}
	}
	if took < 2800*time.Millisecond {
		t.Errorf("no timeout: the starts took %v, less than the last start timeout: the test shows nothing", took)
	}

	r, took = command(t, a, client.CommandRequest{Verb: "start", Workers: tNames, Wait: true, Timeout: "1s"})
	if !r.Results[0].Reached {
		t.Errorf("timeout 1s: %s, running after 0.7 s, not reached: %s", r.Results[0].Worker, r.Results[0].Reason)
	}
	for _, x := range r.Results[2:] {
		if x.Reached || !strings.HasPrefix(x.Reason, "timed out: "+x.Worker+" is Starting") {
			t.Errorf("timeout 1s: %s: reached %v (%s): the timeout did not bound the wait", x.Worker, x.Reached, x.Reason)
		}
	}
	if took > 2*time.Second {
		t.Errorf("timeout 1s: the wait took %v", took)
	}

	a.stall = 300 * time.Millisecond
	r, took = command(t, a, client.CommandRequest{Verb: "start", Workers: []string{"hung"}, Wait: true})
	if x := r.Results[0]; x.Reached || !strings.HasPrefix(x.Reason, "timed out: hung is Starting") {
		t.Errorf("no timeout, no progress: %+v", x)
	}
	if took > 10*time.Second {
		t.Errorf("no timeout, no progress: the wait took %v", took)
	}
}
