//go:build tend_mutant_nolock

package supervisor

import (
	"runtime"
	"sync"
)

// mutantUnlockedGap drops the one lock between judging an event and
// recording it: check-then-act.
func mutantUnlockedGap(mu *sync.Mutex) {
	mu.Unlock()
	runtime.Gosched()
	mu.Lock()
}
