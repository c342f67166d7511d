package daemon

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A SIGTERM ends the command line's context as well as reaching the
// daemon's own channel, and the daemon may see the context first: the log
// must still say the signal stopped it, not that a context ended. Here the
// context is the command line's, ended by a real SIGTERM to this process,
// and the daemon's channel has not got it yet.
func TestAStopBySignalSaysTheSignal(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not end the context")
	}
	if got := stopCause(ctx, make(chan os.Signal, 1)); !strings.Contains(got, "terminated") {
		t.Fatalf("stopped by SIGTERM, the log says %q", got)
	}
	// Both have it: the cause is the signal case's own.
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	if got := stopCause(ctx, sigs); got != "signal terminated" {
		t.Fatalf("with the signal on the daemon's channel the log says %q, want \"signal terminated\"", got)
	}
	// A context ended by its owner, not by a signal.
	plain, cancel := context.WithCancel(context.Background())
	cancel()
	if got := stopCause(plain, make(chan os.Signal, 1)); got != "context ended" {
		t.Fatalf("a cancelled context: %q", got)
	}
}
