package health

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// describe turns a probe error into the tail of a Detail sentence. A probe
// that ran out of time says so with the configured timeout, because the
// underlying error ("context deadline exceeded", "i/o timeout") does not tell
// the operator which limit was hit.
func describe(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %v", timeout)
	}
	return err.Error()
}
